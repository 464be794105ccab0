"""16-bit colour decoding: the layouts Pillow cannot hold (it has no 16-bit RGB mode).

Pillow stays the reference: every 16-bit result is checked against Pillow's own 8-bit decode of
the same file (its high byte must agree), and a result that does not agree is thrown away.
- PNG: OpenCV's libpng, fed only the chunks that define the default image (so an APNG gives its
  default image, as Pillow does, never its first animation frame).
- PPM (P6) with samples over 8 bits: OpenCV, rescaled from the file's maximum to 0..65535.
- TIFF, chunky (one plane): OpenCV's libtiff. TIFF, planar: each plane is handed to Pillow as a
  16-bit gray image (a directory appended to the file that points at that plane's strips or tiles),
  because both Pillow (8-bit RGB of the wrong bytes) and OpenCV (uninitialised memory) get planar
  16-bit wrong. Associated (premultiplied) alpha is undone here.
"""
from __future__ import annotations

import logging
import re
import struct

import cv2
import numpy as np
from PIL import Image

log = logging.getLogger(__name__)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The chunks that make up a PNG's default image; everything else (APNG frames, text, ICC, EXIF)
# stays out of OpenCV's way.
_PNG_PIXEL_CHUNKS = {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND", b"sBIT"}


def needs_deep_decode(data: bytes, im: Image.Image) -> bool:
    """A 16-bit file whose colour Pillow would cut to 8 bits (16-bit gray, `I;16`, it keeps)."""
    if im.format == "PNG" and len(data) >= 26:
        return data[24] == 16 and data[25] in (2, 4, 6)  # RGB, gray+alpha, RGBA
    if im.format == "PPM":
        return data[:2] == b"P6" and ppm_maxval(data) > 255
    if im.format == "TIFF":
        bits = im.tag_v2.get(258, (8,))
        bits = bits if isinstance(bits, tuple) else (bits,)
        photometric = im.tag_v2.get(262, 2)
        return max(bits) == 16 and photometric == 2 and len(bits) >= 3  # RGB(A); CMYK goes to Pillow
    return False


def decode_deep(data: bytes, im: Image.Image) -> np.ndarray | None:
    """The 16-bit pixels (RGB(A) order, gray+alpha as HxWx2), or None when OpenCV's result does not
    agree with Pillow (the caller then keeps Pillow's 8-bit decode). `im` is loaded. Raises
    ValueError for a planar file whose planes cannot be decoded (Pillow's own result is wrong)."""
    planar = im.format == "TIFF" and im.tag_v2.get(284, 1) == 2
    try:
        if im.format == "PNG":
            pixels = _opencv(_png_default_image(data))
            if pixels is not None and data[25] == 4:  # gray+alpha comes back as BGRA
                pixels = pixels[..., [0, 3]]
            key = im.info.get("transparency")
            if pixels is not None and data[25] == 2 and key is not None:  # tRNS: ours, whatever libpng did
                pixels = apply_colour_key(pixels, key)
        elif im.format == "PPM":
            pixels = _opencv(data)
            maxval = ppm_maxval(data)
            if pixels is not None and maxval != 65535:  # OpenCV keeps the file's units; 16-bit is 0..65535
                pixels = np.rint(pixels.astype(np.float64) * (65535 / maxval)).astype(np.uint16)
        elif planar:  # Pillow decodes each plane; its own planar 16-bit RGB is not a reference
            pixels = _tiff_planes(data, im)
        else:
            pixels = _opencv(data)
        if pixels is not None and im.format == "TIFF" and _associated_alpha(im):
            pixels = unpremultiply(pixels)
    except Exception as error:  # any decoder failure: see below
        log.debug("16-bit decode failed: %r", error)
        pixels = None
    if pixels is not None and (planar or agrees_with_pillow(pixels, im)):
        return pixels
    if planar:  # Pillow's own 8-bit decode of this layout is wrong: never hand it on
        raise ValueError("planar 16-bit TIFF that could not be decoded plane by plane")
    log.debug("16-bit decode of a %s disagrees with Pillow's; keeping 8 bits", im.format)
    return None


def agrees_with_pillow(pixels: np.ndarray, im: Image.Image) -> bool:
    """The high byte of each 16-bit sample equals Pillow's 8-bit sample (within 1, for rounding):
    colour always, alpha where Pillow's mode has one; where alpha was premultiplied, only opaque
    pixels are compared."""
    gray = pixels.ndim == 2 or pixels.shape[2] <= 2
    colour = pixels if pixels.ndim == 2 else pixels[..., :1 if gray else 3]
    reference = np.asarray(im.convert("L" if gray else "RGB"))
    checks = [(colour[..., 0] if colour.ndim == 3 and gray else colour, reference)]
    if im.mode in ("LA", "RGBA", "RGBa", "La") and pixels.ndim == 3 and pixels.shape[2] in (2, 4):
        checks.append((pixels[..., -1], np.asarray(im.getchannel("A"))))
    opaque = pixels[..., -1] >= 0xFF00 if im.format == "TIFF" and _associated_alpha(im) else None
    for sixteen, eight in checks:
        if sixteen.shape != eight.shape:
            return False
        diff = np.abs((sixteen >> 8).astype(np.int16) - eight.astype(np.int16))
        if opaque is not None:
            diff = diff[opaque]
        if diff.size and int(diff.max()) > 1:
            return False
    return True


def apply_colour_key(pixels: np.ndarray, key) -> np.ndarray:
    """A PNG colour key (tRNS of 16-bit gray/RGB, raw 16-bit values) as an alpha channel."""
    colour = pixels[..., :3] if pixels.ndim == 3 and pixels.shape[2] >= 3 else pixels
    if colour.ndim == 3 and (not isinstance(key, tuple) or len(key) != 3):
        return pixels
    match = colour == np.asarray(key, dtype=colour.dtype)
    match = match.all(axis=2) if match.ndim == 3 else match
    return np.dstack([colour, np.where(match, 0, 65535).astype(np.uint16)])


def unpremultiply(pixels: np.ndarray) -> np.ndarray:
    """RGBA with colour premultiplied by alpha -> straight RGBA (same dtype)."""
    top = 65535.0 if pixels.dtype == np.uint16 else 255.0
    alpha = pixels[..., 3:].astype(np.float64)
    colour = pixels[..., :3].astype(np.float64) * top / np.maximum(alpha, 1.0)
    colour = np.where(alpha > 0, colour, 0.0)
    out = pixels.copy()
    out[..., :3] = np.clip(np.rint(colour), 0, top).astype(pixels.dtype)
    return out


def ppm_maxval(data: bytes) -> int:
    """The maximum sample value of a binary PPM/PGM header (0 if it cannot be read)."""
    tokens = [t for t in re.findall(rb"#[^\n]*|\S+", data[:1024]) if not t.startswith(b"#")]
    try:
        return int(tokens[3])
    except (IndexError, ValueError):
        return 0


def _associated_alpha(im: Image.Image) -> bool:
    extra = im.tag_v2.get(338, ())
    extra = extra if isinstance(extra, tuple) else (extra,)
    return bool(extra) and extra[0] == 1


def _opencv(data: bytes) -> np.ndarray | None:
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.dtype != np.uint16:
        return None
    if pixels.ndim == 3 and pixels.shape[2] == 3:
        return cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        return cv2.cvtColor(pixels, cv2.COLOR_BGRA2RGBA)
    return pixels


def _png_default_image(data: bytes) -> bytes:
    out, position = [_PNG_SIGNATURE], 8
    while position + 8 <= len(data):
        length = struct.unpack(">I", data[position:position + 4])[0]
        kind = data[position + 4:position + 8]
        end = position + 12 + length
        if kind in _PNG_PIXEL_CHUNKS:
            out.append(data[position:end])
        if kind == b"IEND" or end > len(data):
            break
        position = end
    return b"".join(out)


def _tiff_planes(data: bytes, im: Image.Image) -> np.ndarray | None:
    """Planar 16-bit TIFF: each plane decoded by Pillow as a 16-bit gray image."""
    tags = im.tag_v2
    order = "<" if data[:2] == b"II" else ">"
    width, height = im.size
    samples = int(tags.get(277, 1))
    tiled = 322 in tags
    offsets_tag, counts_tag = (324, 325) if tiled else (273, 279)
    offsets, counts = tuple(tags[offsets_tag]), tuple(tags[counts_tag])
    if len(offsets) % samples or max(offsets, default=0) + max(counts, default=0) > 2**32 - 1:
        return None
    per_plane = len(offsets) // samples
    common = {256: (4, (width,)), 257: (4, (height,)), 258: (3, (16,)), 259: (3, (int(tags.get(259, 1)),)),
              262: (3, (1,)), 277: (3, (1,)), 284: (3, (1,)), 317: (3, (int(tags.get(317, 1)),))}
    if tiled:
        common.update({322: (4, (int(tags[322]),)), 323: (4, (int(tags[323]),))})
    else:
        common[278] = (4, (int(tags.get(278, height)),))
    planes = []
    for plane in range(samples):
        part = slice(plane * per_plane, (plane + 1) * per_plane)
        entries = dict(common)
        entries[offsets_tag] = (4, offsets[part])
        entries[counts_tag] = (4, counts[part])
        with Image.open(_with_directory(data, entries, order), formats=("TIFF",)) as gray:
            gray.load()
            if gray.mode not in ("I;16", "I;16B", "I;16L") or gray.size != im.size:
                return None
            planes.append(np.asarray(gray).astype(np.uint16))
    return np.dstack(planes)


def _with_directory(data: bytes, entries: dict[int, tuple[int, tuple[int, ...]]], order: str):
    """The file's bytes with a classic-TIFF header pointing at a new first directory (appended)."""
    import io
    at = len(data) + len(data) % 2
    head = 2 + 12 * len(entries) + 4
    table, extra = b"", b""
    for tag in sorted(entries):
        kind, values = entries[tag]
        code = "H" if kind == 3 else "I"
        raw = struct.pack(order + code * len(values), *values)
        if len(raw) <= 4:
            field = raw.ljust(4, b"\x00")
        else:
            field = struct.pack(order + "I", at + head + len(extra))
            extra += raw
        table += struct.pack(order + "HHI", tag, kind, len(values)) + field
    directory = struct.pack(order + "H", len(entries)) + table + struct.pack(order + "I", 0) + extra
    header = (b"II*\x00" if order == "<" else b"MM\x00*") + struct.pack(order + "I", at)
    return io.BytesIO(header + data[8:] + b"\x00" * (len(data) % 2) + directory)
