"""Input validation. Each `validate_*` returns (is_valid, error_message); the message is empty when
valid and otherwise one sentence for the user."""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from PIL import Image

from utils.errors import InvalidInput
from utils.image_formats import ACCEPTED_EXTENSIONS
from utils.images import decode_image

# Every still-image format Pillow decodes safely (utils.image_formats.READ_FORMATS; the README's
# format table); decoding, not the extension, decides.
IMAGE_EXTENSIONS = ACCEPTED_EXTENSIONS
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".webm", ".avi", ".m4v")
VALID_SCALES = (2, 3, 4)
MAX_TILE_PX = 4096
Result = tuple[bool, str]
WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                    *(f"LPT{i}" for i in range(1, 10))}


def _limit(config: Any, name: str, default: int | None) -> int | None:
    return getattr(config, name, default) if config is not None else default


def validate_image_file(path: str | Path, config: Any = None) -> Result:
    """Exists, not too big in bytes or pixels, an accepted format, and decodes completely."""
    path = Path(path)
    if not path.is_file():
        return False, f"{path.name}: file not found."
    max_mb = _limit(config, "MAX_IMAGE_SIZE_MB", 100)
    size = path.stat().st_size
    if max_mb and size > max_mb * 1024 * 1024:
        return False, f"{path.name} is {size / 2**20:.1f} MB, over the {max_mb} MB limit."
    try:
        decode_image(path.read_bytes(), name=path.name, max_pixels=_limit(config, "MAX_IMAGE_PIXELS", None))
    except InvalidInput as error:
        return False, str(error)
    except OSError as error:
        return False, f"{path.name}: cannot be read ({error.strerror})."
    return True, ""


def validate_pil_image(image: Any, max_pixels: int | None = None) -> Result:
    if image is None:
        return False, "No image was given; upload an image first."
    if not isinstance(image, Image.Image):
        return False, f"Expected an image, got {type(image).__name__}."
    width, height = image.size
    if width < 1 or height < 1:
        return False, f"The image has no pixels ({width}x{height})."
    if max_pixels and width * height > max_pixels:
        return False, f"The image is {width}x{height}, over the {max_pixels / 1e6:.1f} MP limit."
    return True, ""


def validate_video_file(path: str | Path, config: Any = None, *, max_bytes: int | None = None) -> Result:
    """Cheap checks (exists, size, extension, container signature); decoding is probed elsewhere.
    The size limit is `max_bytes` when given, else the seed's `config.MAX_VIDEO_SIZE_MB`."""
    path = Path(path)
    if not path.is_file():
        return False, f"{path.name}: file not found."
    if path.suffix.lower() not in VIDEO_EXTENSIONS:
        return False, f"{path.name}: not a supported video type; use {', '.join(VIDEO_EXTENSIONS)}."
    size = path.stat().st_size
    if size == 0:
        return False, f"{path.name} is empty (0 bytes)."
    max_mb = max_bytes / 2**20 if max_bytes is not None else _limit(config, "MAX_VIDEO_SIZE_MB", 1000)
    if max_mb and size > max_mb * 1024 * 1024:
        return False, f"{path.name} is {size / 2**20:.0f} MB, over the {max_mb:g} MB limit."
    with path.open("rb") as handle:
        head = handle.read(64)
    known = (head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide") or head.startswith(b"\x1a\x45\xdf\xa3")
             or head.startswith(b"RIFF"))
    if not known:
        return False, f"{path.name} does not look like a video file (unknown container)."
    return True, ""


def validate_model_name(name: str, models: Iterable[str]) -> Result:
    names = list(models)
    if name in names:
        return True, ""
    return False, f"Unknown model {name!r}; choose one of: {', '.join(names)}."


def validate_scale(scale: Any) -> Result:
    """The model scales of the seed: 2, 3 or 4 (outscale accepts any value in [1, 8] elsewhere)."""
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or scale not in VALID_SCALES:
        return False, f"Scale {scale!r} is not supported; use 2, 3 or 4."
    return True, ""


def validate_tile_size(tile: Any) -> Result:
    """0 (automatic / no tiling) or 32..4096 pixels."""
    if isinstance(tile, bool) or not isinstance(tile, int):
        return False, f"Tile size {tile!r} must be a whole number."
    if tile == 0 or 32 <= tile <= MAX_TILE_PX:
        return True, ""
    return False, f"Tile size {tile} is out of range; use 0 (automatic) or 32 to {MAX_TILE_PX}."


def sanitize_filename(filename: str, default: str = "image", max_length: int = 120) -> str:
    """A safe single path component: no directories, `..`, NUL, control or reserved names."""
    name = unicodedata.normalize("NFC", str(filename)).replace("\x00", "")
    name = re.split(r"[\\/]", name)[-1]  # drop any directory part, POSIX or Windows
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"|?*')
    name = name.strip().strip(".").strip()
    if not name or set(name) <= {"."}:
        name = default
    if name.partition(".")[0].upper() in WINDOWS_RESERVED:
        name = f"_{name}"
    if len(name) > max_length:
        base, ext = (name.rsplit(".", 1) + [""])[:2] if "." in name else (name, "")
        keep = max_length - (len(ext) + 1 if ext else 0)
        name = base[:keep] + (f".{ext}" if ext else "")
    return name
