"""Image decoding and encoding: bit depth, alpha, EXIF orientation, ICC; atomic saves.

Pixels travel as numpy arrays in RGB(A) order, HxW (gray), HxWx2 (gray+alpha), HxWx3 or HxWx4,
dtype uint8 or uint16. Bit depth is decided from the dtype, never from the pixel values.
Pillow decodes every format we read (`image_formats`); 16-bit colour, which Pillow cannot hold,
goes through `image_deep` and is checked against Pillow's decode.
"""
from __future__ import annotations

import io
import logging
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from PIL import Image

from utils.errors import InvalidInput
from utils.files import write_bytes_atomic
from utils.image_deep import decode_deep, needs_deep_decode
from utils.image_formats import (ACCEPTED_EXTENSIONS, OUTPUT_FORMATS, STRONG_PILLOW_IDS, SUPPORTED_LABELS,
                                 label_of, pillow_ids_for, sniff)
from utils.image_metadata import read_exif
from utils.library_noise import quiet_image_libraries

log = logging.getLogger(__name__)
quiet_image_libraries()

__all__ = ["ACCEPTED_EXTENSIONS", "OUTPUT_FORMATS", "PILLOW_FORMATS", "DecodedImage", "decode_image", "encode_image",
           "pillow_to_array", "read_exif", "read_image", "resize", "save_image"]

OutputFormat = Literal["png", "jpg", "webp"]
# Only these decoders ever see an upload; Pillow's other plugins never parse user bytes.
PILLOW_FORMATS = STRONG_PILLOW_IDS
ANIMATED_FORMATS = ("GIF", "PNG", "WEBP", "AVIF")
WEBP_MAX_SIDE = 16383


@dataclass(frozen=True)
class DecodedImage:
    pixels: np.ndarray
    format: str  # "PNG", "JPEG", ...
    icc_profile: bytes | None = None
    frames: int = 1  # >1: an animation; its first frame is used
    exif: bytes | None = None  # camera EXIF only, orientation reset to normal since it has been applied
    lossy: bool = False  # the file stored its pixels lossily (JPEG, lossy WebP)

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    @property
    def width(self) -> int:
        return self.pixels.shape[1]

    @property
    def channels(self) -> int:
        return 1 if self.pixels.ndim == 2 else self.pixels.shape[2]

    @property
    def has_alpha(self) -> bool:
        return self.channels in (2, 4)

    @property
    def bit_depth(self) -> int:
        return 16 if self.pixels.dtype == np.uint16 else 8


def read_image(path: str | Path, *, max_bytes: int | None = None, max_pixels: int | None = None) -> DecodedImage:
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise InvalidInput(f"{path.name}: file not found; check the path.") from None
    except OSError as error:
        raise InvalidInput(f"{path.name}: cannot be read ({error.strerror}).") from None
    if path.is_dir():
        raise InvalidInput(f"{path.name} is a folder, not an image file.")
    if max_bytes is not None and size > max_bytes:
        raise InvalidInput(f"{path.name} is {size / 2**20:.1f} MB, over the {max_bytes / 2**20:.0f} MB limit; "
                           "use a smaller file or raise REALESRGAN_MAX_IMAGE_SIZE_MB.")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InvalidInput(f"{path.name}: cannot be read ({error.strerror}).") from None
    return decode_image(data, name=path.name, max_pixels=max_pixels)


def decode_image(data: bytes, *, name: str = "image", max_pixels: int | None = None) -> DecodedImage:
    """Decode any format in `image_formats.READ_FORMATS` (animations: the default/first frame; ICO:
    its largest icon, Pillow's default), completely, before anything else reads the file; EXIF
    orientation applied."""
    if not data:
        raise InvalidInput(f"{name} is empty (0 bytes); choose an image file.")
    limit = max_pixels or Image.MAX_IMAGE_PIXELS
    try:
        im = Image.open(io.BytesIO(data), formats=pillow_ids_for(name))
    except Image.DecompressionBombError:
        raise InvalidInput(f"{name} declares too many pixels to decode safely; use a smaller image.") from None
    except Exception as error:
        log.debug("%s not opened: %r", name, error)
        raise InvalidInput(unreadable_message(data, name)) from None
    with im:
        width, height = im.size
        if width < 1 or height < 1:
            raise InvalidInput(f"{name} has no pixels ({width}x{height}).")
        if max_pixels is not None and width * height > max_pixels:
            raise InvalidInput(f"{name} is {width}x{height} ({width * height / 1e6:.1f} MP), over the "
                               f"{max_pixels / 1e6:.1f} MP limit; downscale it or raise REALESRGAN_MAX_IMAGE_PIXELS.")
        if limit and width * height > limit:
            raise InvalidInput(f"{name} declares too many pixels to decode safely; use a smaller image.")
        fmt = im.format or "?"
        if fmt == "PNG" and len(data) > 25 and data[25] == 0 and data[24] in (2, 4) and \
                isinstance(im.info.get("transparency"), int):
            # 2/4-bit gray: Pillow widens the pixels to 0..255 but leaves the tRNS key in file units
            im.info["transparency"] = im.info["transparency"] * 255 // (2 ** data[24] - 1)
        frames = getattr(im, "n_frames", 1) if fmt in ANIMATED_FORMATS else 1
        try:
            im.load()  # the whole decode first: a decode error always refuses the file
            pixels = decode_deep(data, im) if needs_deep_decode(data, im) else None
            if pixels is None:
                pixels = pillow_to_array(im)
        except InvalidInput:
            raise
        except Exception as error:
            log.debug("decode of %s failed: %r", name, error)
            raise InvalidInput(f"{name} is damaged or truncated and cannot be decoded ({label_of(fmt)}); "
                               "re-export or re-download it.") from None
        icc = im.info.get("icc_profile") or None
        orientation, exif = read_exif(im)
    pixels = apply_orientation(pixels, orientation)
    return DecodedImage(np.ascontiguousarray(pixels), fmt, icc, frames, exif, lossy=is_lossy(data, fmt))


def unreadable_message(data: bytes, name: str) -> str:
    """Why Pillow could not open `data`: a broken file of a format we read, or another format."""
    looks_like, readable = sniff(data)
    if readable:
        return (f"{name} looks like {looks_like} but is damaged or truncated and cannot be decoded; "
                "re-export or re-download it.")
    what = f"it looks like {looks_like}" if looks_like else "its content is not an image we recognise"
    return f"{name} is not an image we can read: not a supported image format ({what}); use {SUPPORTED_LABELS}."


def is_lossy(data: bytes, fmt: str) -> bool:
    """Whether the file's pixels were stored lossily (JPEG, lossy WebP): "auto" may keep them so."""
    if fmt in ("JPEG", "MPO"):
        return True
    if fmt == "WEBP":
        return b"VP8 " in data[12:4096] and b"VP8L" not in data[12:4096]
    return False


def pillow_to_array(im: Image.Image) -> np.ndarray:
    """Pixels of a Pillow image: gray (HxW), gray+alpha, RGB or RGBA; uint8, or uint16 for 16-bit
    gray. A colour key (`transparency` of 1-bit, L, I;16 and RGB images: PNG's tRNS) becomes alpha."""
    im.load()
    mode = im.mode
    key = im.info.get("transparency")
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or key is not None
        return np.asarray(im.convert("RGBA" if has_alpha else "RGB"))
    if mode in ("1", "L"):
        gray = np.asarray(im.convert("L"))
        if isinstance(key, int):
            return np.dstack([gray, _key_alpha(gray, 255 if (mode == "1" and key) else key, 255)])
        return gray
    if mode.startswith("I;16"):
        gray = np.asarray(im).astype(np.uint16)
        if isinstance(key, int):
            return np.dstack([gray, _key_alpha(gray, key, 65535)])
        return gray
    if mode == "I":  # 16-bit PGM (Pillow scales it to 0..65535), 32-bit integer TIFF: clipped
        return np.clip(np.asarray(im), 0, 65535).astype(np.uint16)
    if mode == "F":  # floating point (PFM, float TIFF): 0..1 is the full range
        return to_uint16(np.asarray(im))
    if mode == "LA":
        return np.asarray(im)
    if mode == "La":
        return np.asarray(im.convert("LA"))
    if mode in ("RGBA", "RGBa"):
        return np.asarray(im.convert("RGBA"))
    if mode == "RGB" and isinstance(key, tuple) and len(key) == 3:
        rgb = np.asarray(im)
        return np.dstack([rgb, _key_alpha(rgb, key, 255)])
    # CMYK (Pillow already undoes Adobe's inverted CMYK JPEGs), YCbCr, LAB, HSV, RGBX: to RGB.
    return np.asarray(im.convert("RGB"))


def _key_alpha(pixels: np.ndarray, key, top: int) -> np.ndarray:
    """Alpha from a colour key: 0 where a pixel equals `key` exactly, `top` elsewhere."""
    match = pixels == np.asarray(key, dtype=pixels.dtype)
    if match.ndim == 3:
        match = match.all(axis=2)
    return np.where(match, 0, top).astype(pixels.dtype)


def to_uint16(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    top = values.max() if values.size else 0
    if top <= 1.0:
        values = values * 65535
    return np.clip(np.rint(values), 0, 65535).astype(np.uint16)


def apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Rotate/flip pixels so that EXIF `orientation` (1..8) becomes 1 (normal)."""
    ops = {
        2: lambda p: p[:, ::-1],
        3: lambda p: p[::-1, ::-1],
        4: lambda p: p[::-1],
        5: lambda p: np.swapaxes(p, 0, 1),
        6: lambda p: np.rot90(p, k=-1),
        7: lambda p: np.swapaxes(p, 0, 1)[::-1, ::-1],
        8: lambda p: np.rot90(p, k=1),
    }
    op = ops.get(int(orientation) if orientation else 1)
    return pixels if op is None else op(pixels)


def max_value(pixels: np.ndarray) -> int:
    return 65535 if pixels.dtype == np.uint16 else 255


def to_8bit(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint8:
        return pixels
    return np.rint(pixels.astype(np.float32) / 257.0).astype(np.uint8)


def to_rgb8(pixels: np.ndarray) -> np.ndarray:
    """8-bit RGB from any layout: gray widened to 3 channels, alpha dropped."""
    pixels = to_8bit(np.asarray(pixels))
    if pixels.ndim == 2:
        return np.repeat(pixels[..., None], 3, axis=2)
    if pixels.shape[2] in (1, 2):
        return np.repeat(pixels[..., :1], 3, axis=2)
    return np.ascontiguousarray(pixels[..., :3])


def flatten_alpha(pixels: np.ndarray, background: int = 255) -> np.ndarray:
    """Composite gray+alpha or RGBA on a plain background (for formats without alpha)."""
    if pixels.ndim == 2 or pixels.shape[2] in (1, 3):
        return pixels
    top = max_value(pixels)
    color, alpha = pixels[..., :-1].astype(np.float32), pixels[..., -1:].astype(np.float32) / top
    out = color * alpha + background / 255 * top * (1 - alpha)
    out = np.rint(out).astype(pixels.dtype)
    return out[..., 0] if out.shape[2] == 1 else out


def encode_image(pixels: np.ndarray, fmt: OutputFormat, *, quality: int = 95,
                 icc_profile: bytes | None = None, exif: bytes | None = None) -> bytes:
    """Encode to PNG (8 or 16 bit, any channel layout), JPEG or WebP (8 bit; alpha kept in WebP),
    carrying the ICC profile and EXIF block when given."""
    fmt = fmt.lower()  # type: ignore[assignment]
    if fmt == "jpeg":
        fmt = "jpg"
    if fmt not in OUTPUT_FORMATS:
        raise InvalidInput(f"Output format {fmt!r} is not supported; use png, jpg or webp.")
    if fmt == "png":
        return _encode_png(pixels, icc_profile, exif)
    if fmt == "webp" and max(pixels.shape[:2]) > WEBP_MAX_SIDE:
        raise InvalidInput(f"WebP cannot hold an image of {pixels.shape[1]}x{pixels.shape[0]} "
                           f"(at most {WEBP_MAX_SIDE} px a side); choose png or a smaller outscale.")
    pixels = to_8bit(pixels)
    if fmt == "jpg":
        pixels = flatten_alpha(pixels)
    if pixels.ndim == 3 and pixels.shape[2] == 2:  # webp has no gray+alpha: widen to RGBA
        gray, alpha = pixels[..., 0], pixels[..., 1]
        pixels = np.dstack([gray, gray, gray, alpha])
    mode = "L" if pixels.ndim == 2 else {3: "RGB", 4: "RGBA"}[pixels.shape[2]]
    buffer = io.BytesIO()
    options = {"quality": int(quality)}
    if icc_profile:
        options["icc_profile"] = icc_profile
    if exif:
        options["exif"] = exif
    if fmt == "jpg":
        Image.fromarray(pixels, mode).save(buffer, "JPEG", subsampling=0 if quality >= 90 else 2, **options)
    else:
        Image.fromarray(pixels, mode).save(buffer, "WEBP", method=4, **options)
    return buffer.getvalue()


def _encode_png(pixels: np.ndarray, icc_profile: bytes | None, exif: bytes | None = None) -> bytes:
    if pixels.ndim == 3 and pixels.shape[2] == 2:
        if pixels.dtype == np.uint8 and not icc_profile and not exif:
            buffer = io.BytesIO()
            Image.fromarray(pixels, "LA").save(buffer, "PNG", compress_level=6)
            return buffer.getvalue()
        gray, alpha = pixels[..., 0], pixels[..., 1]
        pixels = np.dstack([gray, gray, gray, alpha])
    if pixels.ndim == 3:
        code = cv2.COLOR_RGB2BGR if pixels.shape[2] == 3 else cv2.COLOR_RGBA2BGRA
        pixels = cv2.cvtColor(pixels, code)
    ok, encoded = cv2.imencode(".png", pixels, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise InvalidInput("The result could not be encoded as PNG.")
    chunks = []
    if icc_profile:
        chunks.append((b"iCCP", b"icc\x00\x00" + zlib.compress(icc_profile)))
    if exif:
        chunks.append((b"eXIf", exif[6:] if exif.startswith(b"Exif\x00\x00") else exif))
    return _png_with_chunks(encoded.tobytes(), chunks)


def _png_with_chunks(png: bytes, chunks: list[tuple[bytes, bytes]]) -> bytes:
    """Insert chunks right after IHDR (OpenCV writes neither iCCP nor eXIf)."""
    ihdr_end = 8 + 4 + 4 + 13 + 4
    extra = b"".join(struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
                     for kind, body in chunks)
    return png[:ihdr_end] + extra + png[ihdr_end:]


def save_image(path: str | Path, pixels: np.ndarray, fmt: OutputFormat, *, quality: int = 95,
               icc_profile: bytes | None = None, exif: bytes | None = None) -> Path:
    """Encode, then write atomically: the final name only ever holds a complete file."""
    return write_bytes_atomic(path, encode_image(pixels, fmt, quality=quality, icc_profile=icc_profile, exif=exif))


def resize(pixels: np.ndarray, width: int, height: int) -> np.ndarray:
    """High-quality resize: Lanczos up, area down; keeps dtype and channel layout."""
    h, w = pixels.shape[:2]
    if (w, h) == (width, height):
        return pixels
    interpolation = cv2.INTER_AREA if width * height < w * h else cv2.INTER_LANCZOS4
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    if channels <= 4:
        out = cv2.resize(pixels, (width, height), interpolation=interpolation)
    else:
        out = np.dstack([cv2.resize(pixels[..., c], (width, height), interpolation=interpolation)
                         for c in range(channels)])
    if pixels.ndim == 3 and out.ndim == 2:
        out = out[..., None]
    return out


def to_pil_preview(pixels: np.ndarray, max_side: int = 2048) -> Image.Image:
    """An 8-bit PIL image for display, downscaled so its longer side is at most `max_side`."""
    h, w = pixels.shape[:2]
    factor = min(1.0, max_side / max(h, w))
    if factor < 1.0:
        pixels = resize(pixels, max(1, round(w * factor)), max(1, round(h * factor)))
    pixels = to_8bit(pixels)
    if pixels.ndim == 3 and pixels.shape[2] == 2:
        pixels = np.dstack([pixels[..., 0]] * 3 + [pixels[..., 1]])
    return Image.fromarray(pixels)
