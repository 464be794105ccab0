"""Resume: a finished item is known by its input's content and the settings that made it, never by
its name (two users' `photo.png` are different photos).

Each batch's output folder keeps a manifest, one JSON line per finished item: the input's name and
SHA256, the settings key, the result's path and the result's SHA256. The history (per owner) answers
the same question across folders. The name is matched too, so two identical files in one batch
still get a result each; the result's SHA256 is checked, so a result overwritten since (by another
image of the same name) is never handed back.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from utils.files import file_sha256

log = logging.getLogger(__name__)

MANIFEST_NAME = ".realesrgan-done.jsonl"
# Settings that change where a result goes or which device makes it, not what it looks like.
NOT_IN_KEY = frozenset({"name_template", "suffix", "overwrite", "device", "tile", "auto_tile", "tile_pad"})


def settings_key(settings: dict[str, Any]) -> str:
    """A short stable digest of the settings that decide a result's pixels and format (whole numbers
    and floats alike: outscale 4 and 4.0 are one setting)."""
    kept = {k: float(v) if isinstance(v, int) and not isinstance(v, bool) else v
            for k, v in settings.items() if k not in NOT_IN_KEY}
    text = json.dumps(kept, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def find_in_manifest(folder: Path, input_name: str, input_sha256: str, key: str) -> Path | None:
    """The newest result under `folder` made from this input with these settings, if it is still there."""
    manifest = Path(folder) / MANIFEST_NAME
    try:
        lines = manifest.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    for line in reversed(lines):
        try:
            entry = json.loads(line)
            if (entry["sha256"], entry["key"], entry["input"]) != (input_sha256, key, input_name):
                continue
            candidate = (Path(folder) / entry["output"]).resolve()
            made = entry["result_sha256"]
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by a crash, written by hand, or by an older version
        if candidate.is_relative_to(Path(folder).resolve()) and file_sha256(candidate) == made:
            return candidate
    return None


def add_to_manifest(folder: Path, input_name: str, input_sha256: str, key: str, output: Path) -> None:
    """Append one line (a single short write, so concurrent writers never interleave within it)."""
    folder = Path(folder)
    try:
        relative = Path(output).resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        return
    line = json.dumps({"input": input_name, "sha256": input_sha256, "key": key, "output": relative,
                       "result_sha256": file_sha256(output)}) + "\n"
    try:
        descriptor = os.open(folder / MANIFEST_NAME, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            os.write(descriptor, line.encode("utf-8"))
        finally:
            os.close(descriptor)
    except OSError as error:  # resume is a convenience: failing to note an item must not fail it
        log.warning("could not note %s in the resume manifest of %s: %s", output, folder, error)
