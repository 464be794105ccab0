"""A small TIFF writer for tests: the layouts Pillow cannot write (16-bit RGB/RGBA/CMYK, planar,
tiled, associated alpha, BigTIFF, an EXIF sub-directory), built byte by byte from the TIFF 6.0 and
BigTIFF specifications so the decoder is checked against files it did not write itself."""
from __future__ import annotations

import struct
import zlib

import numpy as np

SHORT, LONG, ASCII, LONG8 = 3, 4, 2, 16
_SIZES = {SHORT: 2, LONG: 4, ASCII: 1, LONG8: 8}
_CODES = {SHORT: "H", LONG: "I", LONG8: "Q"}


def _value_bytes(kind: int, values, order: str) -> bytes:
    if kind == ASCII:
        return values.encode("ascii") + b"\x00"
    return struct.pack(order + _CODES[kind] * len(values), *values)


def _ifd(entries: dict[int, tuple[int, object]], at: int, big: bool, order: str = "<") -> bytes:
    """One directory written at file offset `at`, its out-of-line values right after it."""
    slot = 8 if big else 4
    entry_size, count_fmt, next_fmt = (20, order + "Q", order + "Q") if big else (12, order + "H", order + "I")
    head = struct.calcsize(count_fmt) + entry_size * len(entries) + struct.calcsize(next_fmt)
    table, extra = b"", b""
    for tag in sorted(entries):
        kind, values = entries[tag]
        raw = _value_bytes(kind, values, order)
        count = len(raw) // _SIZES[kind]
        if len(raw) <= slot:
            field = raw.ljust(slot, b"\x00")
        else:
            field = struct.pack(order + ("Q" if big else "I"), at + head + len(extra))
            extra += raw + (b"\x00" if len(raw) % 2 else b"")
        table += struct.pack(order + ("HHQ" if big else "HHI"), tag, kind, count) + field
    return struct.pack(count_fmt, len(entries)) + table + struct.pack(next_fmt, 0) + extra


def tiff_bytes(pixels: np.ndarray, *, photometric: int = 2, planar: bool = False, tile_px: int | None = None,
               extra_samples: tuple[int, ...] = (), bigtiff: bool = False, deflate: bool = False,
               ifd0_text: dict[int, str] | None = None, exif_text: dict[int, str] | None = None,
               big_endian: bool = False) -> bytes:
    """`pixels`: HxWxC uint8/uint16; a little-endian ("II") file unless `big_endian` ("MM").
    photometric 1 gray, 2 RGB, 5 CMYK;
    extra_samples (338): 1 associated (premultiplied) alpha, 2 unassociated."""
    pixels = pixels if pixels.ndim == 3 else pixels[..., None]
    order = ">" if big_endian else "<"
    height, width, channels = pixels.shape
    bits = pixels.dtype.itemsize * 8
    long_kind = LONG8 if bigtiff else LONG
    planes = [pixels[..., c:c + 1] for c in range(channels)] if planar else [pixels]
    blocks: list[bytes] = []
    if tile_px:
        for plane in planes:
            for y in range(0, height, tile_px):
                for x in range(0, width, tile_px):
                    block = np.zeros((tile_px, tile_px, plane.shape[2]), pixels.dtype)
                    part = plane[y:y + tile_px, x:x + tile_px]
                    block[:part.shape[0], :part.shape[1]] = part
                    blocks.append(block.astype(block.dtype.newbyteorder(order)).tobytes())
    else:
        rows = 3
        for plane in planes:
            for y in range(0, height, rows):
                blocks.append(np.ascontiguousarray(plane[y:y + rows]).astype(plane.dtype.newbyteorder(order)).tobytes())
    if deflate:
        blocks = [zlib.compress(b) for b in blocks]
    header_size = 16 if bigtiff else 8
    offsets, position = [], header_size
    for block in blocks:
        offsets.append(position)
        position += len(block) + (len(block) % 2)
    body = b"".join(b + (b"\x00" if len(b) % 2 else b"") for b in blocks)
    entries: dict[int, tuple[int, object]] = {
        256: (LONG, (width,)), 257: (LONG, (height,)), 258: (SHORT, (bits,) * channels),
        259: (SHORT, (8 if deflate else 1,)), 262: (SHORT, (photometric,)), 277: (SHORT, (channels,)),
        284: (SHORT, (2 if planar else 1,)),
    }
    if tile_px:
        entries.update({322: (LONG, (tile_px,)), 323: (LONG, (tile_px,)), 324: (long_kind, tuple(offsets)),
                        325: (long_kind, tuple(len(b) for b in blocks))})
    else:
        entries.update({273: (long_kind, tuple(offsets)), 278: (LONG, (3,)),
                        279: (long_kind, tuple(len(b) for b in blocks))})
    if extra_samples:
        entries[338] = (SHORT, extra_samples)
    for tag, text in (ifd0_text or {}).items():
        entries[tag] = (ASCII, text)
    tail = b""
    if exif_text:
        exif = _ifd({tag: (ASCII, text) for tag, text in exif_text.items()}, position, bigtiff, order)
        entries[34665] = (long_kind, (position,))
        tail, position = exif + (b"\x00" if len(exif) % 2 else b""), position + len(exif) + len(exif) % 2
    main = _ifd(entries, position, bigtiff, order)
    mark = b"MM" if big_endian else b"II"
    header = (mark + struct.pack(order + "HHHQ", 43, 8, 0, position) if bigtiff
              else mark + struct.pack(order + "HI", 42, position))
    return header + body + tail + main
