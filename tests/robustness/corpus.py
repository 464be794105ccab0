"""A generated corpus of hostile and unusual image files: (name, bytes, expectation).

Expectation "ok": the file must be processed; "refused": it must fail with one clear sentence.
"""
from __future__ import annotations

import io
import struct
import zlib
import zipfile

import numpy as np
from PIL import Image


def _png(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **options)
    return buffer.getvalue()


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_header(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + \
        _chunk(b"IEND", b"")


def build_corpus(photo: np.ndarray) -> list[tuple[str, bytes, str]]:
    """`photo` is a small RGB uint8 array (e.g. 24x32)."""
    rgb = Image.fromarray(photo)
    png, jpeg = _png(rgb), _encode(rgb, "JPEG", quality=90)
    deep = Image.fromarray((photo[..., 0].astype(np.uint16) * 257), "I;16")
    frames = [Image.fromarray(np.full((12, 12, 3), v, np.uint8)) for v in (30, 200)]
    exif = rgb.getexif()
    exif[0x0112] = 6
    palette = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    zip_buffer = io.BytesIO()
    with zipfile.ZipFile(zip_buffer, "w") as archive:
        archive.writestr("a.txt", "hello")
    corrupt_crc = bytearray(png)
    corrupt_crc[40] ^= 0xFF
    cases = [
        ("zero-byte.png", b"", "refused"),
        ("truncated.png", png[: len(png) // 2], "refused"),
        ("truncated.jpg", jpeg[: len(jpeg) // 3], "refused"),
        ("png-named.jpg", png, "ok"),
        ("jpeg-named.png", jpeg, "ok"),
        ("text.png", b"just some text, not an image\n" * 10, "refused"),
        ("page.png", b"<!doctype html><html><body><script>alert(1)</script></body></html>", "refused"),
        ("vector.png", b"<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'><rect/></svg>", "refused"),
        ("archive.png", zip_buffer.getvalue(), "refused"),
        ("polyglot-png-zip.png", png + zip_buffer.getvalue(), "ok"),  # a real PNG with a ZIP appended
        ("polyglot-html-gif.png", b"GIF89a/*<html><script>alert(1)</script>*/", "refused"),
        ("bomb.png", _png_header(100_000, 100_000), "refused"),
        ("over-limit.png", _png(Image.new("RGB", (3000, 3000))), "refused"),  # over the test's 4 MP limit
        ("one-pixel.png", _png(Image.new("RGB", (1, 1), (200, 10, 10))), "ok"),
        ("one-row.png", _png(Image.new("RGB", (40, 1), (10, 200, 10))), "ok"),
        ("one-column.png", _png(Image.new("RGB", (1, 40), (10, 10, 200))), "ok"),
        ("gray16.png", _png(deep), "ok"),
        ("cmyk.jpg", _encode(rgb.convert("CMYK"), "JPEG", quality=90), "ok"),
        ("palette-transparent.png", _png(palette, transparency=0), "ok"),
        ("animated.gif", _encode(frames[0], "GIF", save_all=True, append_images=frames[1:]), "ok"),
        ("animated.webp", _encode(frames[0], "WEBP", save_all=True, append_images=frames[1:]), "ok"),
        ("rotated-exif.jpg", _encode(rgb, "JPEG", exif=exif.tobytes()), "ok"),
        ("gray-alpha.png", _png(rgb.convert("LA")), "ok"),
        ("bitmap.bmp", _encode(rgb, "BMP"), "ok"),
        ("lzw.tiff", _encode(rgb, "TIFF", compression="tiff_lzw"), "ok"),
        ("alpha-lossless.webp", _encode(rgb.convert("RGBA"), "WEBP", lossless=True), "ok"),
        ("progressive.jpg", _encode(rgb, "JPEG", progressive=True), "ok"),
        ("corrupt-crc.png", bytes(corrupt_crc), "refused"),
        ("trailing-garbage.png", png + b"\x00garbage" * 50, "ok"),
        ("random.jpg", np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes(), "refused"),
        ("text.webp", b"RIFF\x10\x00\x00\x00WEBPnope", "refused"),
        ("truncated.gif", _encode(frames[0], "GIF")[:20], "refused"),
        ("one-bit.png", _png(rgb.convert("1")), "ok"),
        ("unicode-名前 ñ.png", png, "ok"),
        ("spaces and 'quotes'.png", png, "ok"),
        ("..dots..png", png, "ok"),
        ("pdf.png", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", "refused"),
        ("rgba16.png", None, "ok"),  # written with OpenCV below: Pillow cannot write 16-bit RGBA
        ("wide.png", _png(Image.new("RGB", (400, 2), (90, 90, 90))), "ok"),
        ("jpeg-no-eoi.jpg", jpeg[:-2], "refused"),  # no end marker: truncated, never half-decoded
        ("empty-idat.png", _png_header(8, 8), "refused"),
    ]
    out = []
    for name, data, expected in cases:
        if data is None:
            import cv2
            deep_rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)]).astype(np.uint16) * 257
            data = cv2.imencode(".png", deep_rgba)[1].tobytes()
        out.append((name, data, expected))
    return out
