"""A generated corpus of the image files real archives hold, one class per way decoding went wrong
(issue #15), each file built here with Pillow, numpy, OpenCV or byte by byte, with the pixels a
correct decoder must give: Pillow's own decode where Pillow is right, the constructed array where
it is not (16-bit colour, planar TIFF). `tests/image_corpus_score.py` judges a decoder on it.
"""
from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

try:
    from tests.tiff_writer import tiff_bytes
except ImportError:  # run as a script from the tests folder
    from tiff_writer import tiff_bytes


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    kind: str  # the class of the issue it belongs to
    expect: str  # "ok", "damaged" (a format we read, broken) or "unsupported" (another format)
    truth: np.ndarray | None = None  # the pixels a correct decode gives (RGB(A) order)
    tolerance: int = 0  # largest difference from `truth` allowed, in the truth's units
    looks_like: str = ""  # for "unsupported": what the message must name

    @property
    def has_alpha(self) -> bool:
        return self.truth is not None and self.truth.ndim == 3 and self.truth.shape[2] in (2, 4)


def photo(height: int = 24, width: int = 32, *, deep: bool = False) -> np.ndarray:
    """A smooth synthetic picture (gradients and a disk): RGB uint8, or uint16 using all 16 bits."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    r = x / max(width - 1, 1)
    g = y / max(height - 1, 1)
    b = 0.5 + 0.4 * np.sin(x / 5.0) * np.cos(y / 7.0)
    disk = (x - width * 0.6) ** 2 + (y - height * 0.45) ** 2 < (min(height, width) * 0.3) ** 2
    rgb = np.dstack([np.where(disk, 0.9, r), np.where(disk, 0.8, g), np.where(disk, 0.1, b)])
    top = 65535 if deep else 255
    return np.rint(rgb * top).astype(np.uint16 if deep else np.uint8)


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def pillow_pixels(data: bytes, mode: str) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert(mode))


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, position = [], 8
    while position + 8 <= len(data):
        length = struct.unpack(">I", data[position:position + 4])[0]
        chunks.append((data[position + 4:position + 8], data[position + 8:position + 8 + length]))
        position += 12 + length
    return chunks


def png16(pixels: np.ndarray) -> bytes:
    """A 16-bit PNG (OpenCV writes them; Pillow cannot hold 16-bit colour)."""
    code = {3: cv2.COLOR_RGB2BGR, 4: cv2.COLOR_RGBA2BGRA}.get(pixels.shape[2] if pixels.ndim == 3 else 1)
    return cv2.imencode(".png", cv2.cvtColor(pixels, code) if code is not None else pixels)[1].tobytes()


def raw_png(pixels: np.ndarray, colour_type: int) -> bytes:
    """An 8- or 16-bit PNG written byte by byte (any layout: Pillow and OpenCV write only some)."""
    height, width = pixels.shape[:2]
    depth = 16 if pixels.dtype == np.uint16 else 8
    samples = pixels.astype(">u2" if depth == 16 else np.uint8).reshape(height, -1)
    rows = b"".join(b"\x00" + row.tobytes() for row in samples)
    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(rows))
            + png_chunk(b"IEND", b""))


def with_chunk_after_ihdr(png: bytes, kind: bytes, body: bytes) -> bytes:
    return png[:33] + png_chunk(kind, body) + png[33:]


def keyed(pixels: np.ndarray, key) -> np.ndarray:
    """`pixels` plus the alpha a colour key gives it."""
    top = 65535 if pixels.dtype == np.uint16 else 255
    match = (pixels == np.asarray(key, pixels.dtype))
    match = match.all(axis=2) if match.ndim == 3 else match
    return np.dstack([pixels, np.where(match, 0, top).astype(pixels.dtype)])


def gray2_png(values: np.ndarray, key: int) -> bytes:
    """A 2-bit gray PNG (values 0..3) with a tRNS key, written byte by byte (Pillow writes 8 bits)."""
    height, width = values.shape
    padded = np.zeros((height, -(-width // 4) * 4), np.uint8)
    padded[:, :width] = values
    packed = (padded[:, 0::4] << 6) | (padded[:, 1::4] << 4) | (padded[:, 2::4] << 2) | padded[:, 3::4]
    rows = b"".join(b"\x00" + row.tobytes() for row in packed)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 2, 0, 0, 0, 0))
            + png_chunk(b"tRNS", struct.pack(">H", key)) + png_chunk(b"IDAT", zlib.compress(rows))
            + png_chunk(b"IEND", b""))


def transparency_cases() -> list[Case]:
    rgb = photo()
    rgb[:6, :8] = (10, 20, 30)  # the keyed colour, present in the picture
    gray = rgb[..., 1].copy()
    gray[:6, :8] = 77
    bits = (gray > 128).astype(np.uint8) * 255
    deep = photo(deep=True)
    deep[:6, :8] = (1000, 2000, 3000)
    gray16 = deep[..., 0].copy()
    gray16[:6, :8] = 4321
    palette = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    levels = (photo()[..., 1] // 64).astype(np.uint8)  # 0..3
    rgb16_png = with_chunk_after_ihdr(png16(deep), b"tRNS", struct.pack(">HHH", 1000, 2000, 3000))
    return [
        Case("trns-1bit.png", encode(Image.fromarray(bits).convert("1"), "PNG", transparency=1), "tRNS on every mode",
             "ok", keyed(bits, 255)),
        Case("trns-gray2.png", gray2_png(levels, 1), "tRNS on every mode", "ok",
             np.dstack([levels * 85, np.where(levels == 1, 0, 255)]).astype(np.uint8)),
        Case("trns-gray8.png", encode(Image.fromarray(gray), "PNG", transparency=77), "tRNS on every mode", "ok",
             keyed(gray, 77)),
        Case("trns-rgb8.png", encode(Image.fromarray(rgb), "PNG", transparency=(10, 20, 30)), "tRNS on every mode",
             "ok", keyed(rgb, (10, 20, 30))),
        Case("trns-gray16.png", encode(Image.fromarray(gray16), "PNG", transparency=4321), "tRNS on every mode",
             "ok", keyed(gray16, 4321)),
        Case("trns-rgb16.png", rgb16_png, "tRNS on every mode", "ok", keyed(deep, (1000, 2000, 3000))),
        Case("trns-palette.png", encode(palette, "PNG", transparency=0), "tRNS on every mode", "ok",
             pillow_pixels(encode(palette, "PNG", transparency=0), "RGBA")),
    ]


def netpbm(magic: bytes, samples: np.ndarray, maxval: int) -> bytes:
    """A binary PGM (P5) or PPM (P6) with 16-bit samples up to `maxval`."""
    height, width = samples.shape[:2]
    return magic + b"\n%d %d\n%d\n" % (width, height, maxval) + samples.astype(">u2").tobytes()


def apng16(default: np.ndarray, frame: np.ndarray) -> bytes:
    """A 16-bit APNG whose default image is not part of the animation (fcTL after IDAT)."""
    base, other = png16(default), png16(frame)
    height, width = default.shape[:2]
    chunks = png_chunks(base)
    other_idat = b"".join(body for kind, body in png_chunks(other) if kind == b"IDAT")
    fctl = struct.pack(">IIIIIHHBB", 0, width, height, 0, 0, 1, 10, 0, 0)
    out = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", chunks[0][1]) + png_chunk(b"acTL", struct.pack(">II", 1, 0))
    out += b"".join(png_chunk(kind, body) for kind, body in chunks[1:] if kind == b"IDAT")
    out += png_chunk(b"fcTL", fctl) + png_chunk(b"fdAT", struct.pack(">I", 1) + other_idat) + png_chunk(b"IEND", b"")
    return out


def deep_tiff_cases() -> list[Case]:
    rgb = photo(deep=True)
    alpha = np.tile(np.linspace(0, 65535, rgb.shape[1]).astype(np.uint16), (rgb.shape[0], 1))
    alpha[:, -4:] = 65535
    rgba = np.dstack([rgb, alpha])
    premultiplied = rgba.copy()
    premultiplied[..., :3] = np.rint(rgb.astype(np.float64) * alpha[..., None] / 65535).astype(np.uint16)
    cmyk = np.dstack([65535 - rgb, np.full(rgb.shape[:2], 0, np.uint16)])
    cmyk_data = tiff_bytes(cmyk, photometric=5)
    twelve = np.rint((rgb >> 4) * (65535 / 4095)).astype(np.uint16)  # 12-bit samples at full 16-bit scale
    kind = "16-bit TIFF/PNG/PPM"
    return [
        Case("tiff16-rgb-strips.tif", tiff_bytes(rgb), kind, "ok", rgb),
        Case("tiff16-rgb-tiled-deflate.tif", tiff_bytes(rgb, tile_px=16, deflate=True), kind, "ok", rgb),
        Case("tiff16-rgb-planar-strips.tif", tiff_bytes(rgb, planar=True), kind, "ok", rgb),
        Case("tiff16-rgb-planar-tiled.tif", tiff_bytes(rgb, planar=True, tile_px=16, deflate=True), kind, "ok", rgb),
        Case("tiff16-rgba-planar.tif", tiff_bytes(rgba, planar=True, extra_samples=(2,)), kind, "ok", rgba),
        Case("tiff16-rgba-chunky.tif", tiff_bytes(rgba, extra_samples=(2,)), kind, "ok", rgba),
        # premultiplied: straight colour comes back, exact to the rounding of the stored values
        Case("tiff16-rgba-associated.tif", tiff_bytes(premultiplied, extra_samples=(1,)), kind, "ok", rgba,
             tolerance=65535),  # checked on premultiplied values by the test (see premultiplied_error)
        Case("tiff16-cmyk.tif", cmyk_data, kind, "ok", pillow_pixels(cmyk_data, "RGB"), tolerance=1),
        Case("apng16-default-image.png", apng16(rgb, 65535 - rgb), kind, "ok", rgb),
        Case("gray-alpha16.png", raw_png(rgba[..., [1, 3]], 4), kind, "ok", rgba[..., [1, 3]]),
        Case("tiff16-rgb-planar-big-endian.tif", tiff_bytes(rgb, planar=True, big_endian=True), kind, "ok", rgb),
        Case("tiff16-rgba-big-endian.tif", tiff_bytes(rgba, extra_samples=(2,), big_endian=True), kind, "ok", rgba),
        Case("picture16.ppm", netpbm(b"P6", rgb, 65535), kind, "ok", rgb),
        Case("picture12.pgm", netpbm(b"P5", rgb[..., 0] >> 4, 4095), kind, "ok", twelve[..., 0], tolerance=1),
        Case("picture12.ppm", netpbm(b"P6", rgb >> 4, 4095), kind, "ok", twelve, tolerance=1),
    ]


def truncated_cases() -> list[Case]:
    picture = Image.fromarray(photo(48, 64))
    exif = picture.getexif()
    exif[0x010F] = "Camera"
    png = encode(picture, "PNG", exif=exif.tobytes())  # eXIf before IDAT: read first, it must not hide the cut
    plain_png = encode(picture, "PNG")
    jpeg = encode(picture, "JPEG", quality=90)
    tiff = encode(picture, "TIFF")
    gif = encode(picture.convert("P"), "GIF")
    deflated = bytearray(encode(picture, "TIFF", compression="tiff_deflate"))  # decoded by libtiff
    deflated[len(deflated) // 3: len(deflated) // 3 + 40] = b"\xff" * 40
    kind = "truncated files"
    return [
        Case("truncated-exif.png", png[: len(png) * 3 // 4], kind, "damaged"),
        # no eXIf before the pixels: Pillow's getexif() then decodes the image itself
        Case("truncated.png", plain_png[: len(plain_png) * 3 // 4], kind, "damaged"),
        Case("truncated.jpg", jpeg[: len(jpeg) // 2], kind, "damaged"),
        Case("truncated.tif", tiff[: len(tiff) * 2 // 3], kind, "damaged"),
        Case("truncated.gif", gif[: len(gif) // 2], kind, "damaged"),
        Case("corrupt-deflate.tif", bytes(deflated), kind, "damaged"),
        Case("broken-header.bmp", b"BM" + b"\xff" * 60, kind, "damaged"),
        Case("signature-only.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, kind, "damaged"),
    ]


def small_cases() -> list[Case]:
    one = np.array([[[255, 0, 0]]], np.uint8)
    two_by_three = np.array([[[200, 120, 60], [190, 130, 70], [180, 140, 80]],
                             [[170, 150, 90], [160, 160, 100], [150, 170, 110]]], np.uint8)
    return [Case("tiny-1x1.png", encode(Image.fromarray(one), "PNG"), "1x1 and 2x3 images", "ok", one),
            Case("tiny-2x3.png", encode(Image.fromarray(two_by_three), "PNG"), "1x1 and 2x3 images", "ok",
                 two_by_three)]


def hidden_colour_rgba() -> np.ndarray:
    """A thin yellow ring (an outline) on full transparency whose hidden colour is vivid red."""
    y, x = np.mgrid[0:32, 0:32]
    radius = np.hypot(x - 15.5, y - 15.5)
    inside = (radius > 8) & (radius < 10.5)
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., :3] = (255, 0, 0)
    rgba[inside] = (255, 220, 0, 255)
    return rgba


def hidden_colour_cases() -> list[Case]:
    rgba = hidden_colour_rgba()
    return [Case("hidden-colour.png", encode(Image.fromarray(rgba), "PNG"), "hidden colour under alpha", "ok", rgba)]


def exif_cases() -> list[Case]:
    rgb = photo()
    text = {0x010F: "Canon", 0x0110: "EOS Test"}
    exif_ifd = {0x9003: "2020:01:02 03:04:05"}  # DateTimeOriginal
    jpeg = encode(Image.fromarray(rgb), "JPEG", quality=95)
    # an APP1 Exif segment whose first directory lies far outside it
    segment = b"Exif\x00\x00" + b"MM\x00*\xff\xff\xff\xff" + b"\x00" * 12
    broken_exif = jpeg[:2] + b"\xff\xe1" + struct.pack(">H", 2 + len(segment)) + segment + jpeg[2:]
    kind = "EXIF from TIFF/BigTIFF"
    return [
        Case("bigtiff-exif.tif", tiff_bytes(rgb, bigtiff=True, ifd0_text=text, exif_text=exif_ifd), kind, "ok", rgb),
        Case("tiff-exif.tif", tiff_bytes(rgb, ifd0_text=text, exif_text=exif_ifd), kind, "ok", rgb),
        Case("broken-exif.jpg", broken_exif, kind, "ok", pillow_pixels(jpeg, "RGB")),
    ]


def psd_bytes(rgb: np.ndarray) -> bytes:
    """A flat RGB Photoshop file (no layers): its composite is the image (PSD spec, raw data)."""
    height, width = rgb.shape[:2]
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, height, width, 8, 3)
    sections = struct.pack(">III", 0, 0, 0)  # colour mode data, image resources, layers: empty
    return header + sections + struct.pack(">H", 0) + np.ascontiguousarray(rgb.transpose(2, 0, 1)).tobytes()


def pfm_bytes(gray: np.ndarray) -> bytes:
    """A grayscale PFM (values 0..1, little-endian, rows bottom to top)."""
    height, width = gray.shape
    values = (gray.astype(np.float32) / 255.0)[::-1]
    return f"Pf\n{width} {height}\n-1.0\n".encode() + values.astype("<f4").tobytes()


def new_format_cases() -> list[Case]:
    rgb = photo()
    rgba = np.dstack([rgb, np.tile(np.linspace(40, 255, rgb.shape[1]).astype(np.uint8), (rgb.shape[0], 1))])
    image, image_a = Image.fromarray(rgb), Image.fromarray(rgba)
    gray = rgb[..., 1]
    kind = "newly accepted formats"
    avif = encode(image, "AVIF", quality=90)
    jp2 = encode(image, "JPEG2000", irreversible=False)
    pfm = pfm_bytes(gray)
    pfm_truth = np.rint(np.clip(gray.astype(np.float32) / 255.0, 0, 1) * 65535).astype(np.uint16)
    return [
        Case("picture.tga", encode(image, "TGA"), kind, "ok", rgb),
        Case("picture-rle-alpha.tga", encode(image_a, "TGA", compression="tga_rle"), kind, "ok", rgba),
        Case("picture.dds", encode(image_a, "DDS"), kind, "ok", rgba),
        Case("picture.avif", avif, kind, "ok", pillow_pixels(avif, "RGB")),
        Case("picture.ppm", encode(image, "PPM"), kind, "ok", rgb),
        Case("picture.pgm", encode(Image.fromarray(gray), "PPM"), kind, "ok", gray),
        Case("picture.pfm", pfm, kind, "ok", pfm_truth, tolerance=1),
        Case("picture.jp2", jp2, kind, "ok", rgb),
        Case("picture.psd", psd_bytes(rgb), kind, "ok", rgb),
        Case("picture.ico", encode(image_a.resize((32, 32)), "ICO", sizes=[(16, 16), (32, 32)]), kind, "ok",
             np.asarray(image_a.resize((32, 32)))),
        Case("picture.qoi", encode(image_a, "QOI"), kind, "ok", rgba),
    ]


def message_cases() -> list[Case]:
    kind = "messages for other formats"
    return [
        Case("drawing.png", b"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg'/>", kind, "unsupported",
             looks_like="SVG"),
        Case("document.jpg", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n", kind, "unsupported",
             looks_like="PDF"),
        Case("phone.jpg", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 32, kind, "unsupported",
             looks_like="HEIC"),
        Case("archive.png", b"PK\x03\x04" + b"\x00" * 40, kind, "unsupported", looks_like="ZIP"),
        Case("notes.png", b"just some notes\n" * 4, kind, "unsupported", looks_like="text"),
        Case("random.tga", np.random.default_rng(3).integers(0, 256, 600, dtype=np.uint8).tobytes(), kind,
             "unsupported"),
    ]


def build_corpus() -> list[Case]:
    return (transparency_cases() + deep_tiff_cases() + truncated_cases() + small_cases() + hidden_colour_cases()
            + exif_cases() + new_format_cases() + message_cases())
