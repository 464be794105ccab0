"""Which image formats are read, which are written, and what an unreadable file looks like.

One table feeds the decoder (the only Pillow plugins that ever parse user bytes), the file pickers
(extensions), the output format "auto" and the user's error message.
"""
from __future__ import annotations

from dataclasses import dataclass

OUTPUT_FORMATS: tuple[str, ...] = ("png", "jpg", "webp")


@dataclass(frozen=True)
class ImageFormat:
    pillow: str  # Pillow's format id, as `Image.open(...).format` reports it
    label: str  # the name users know
    extensions: tuple[str, ...]
    # Weak formats have no magic number (TGA): tried only when the file name says so, so that
    # random bytes are never "decoded" as one.
    weak: bool = False
    opened_by: str | None = None  # set when another plugin opens it (MPO: the JPEG plugin)


READ_FORMATS: tuple[ImageFormat, ...] = (
    ImageFormat("PNG", "PNG", (".png", ".apng")),
    ImageFormat("JPEG", "JPEG", (".jpg", ".jpeg", ".jpe", ".jfif")),
    ImageFormat("MPO", "JPEG", (), opened_by="JPEG"),  # camera JPEGs with a multi-picture index: the first picture
    ImageFormat("WEBP", "WebP", (".webp",)),
    ImageFormat("BMP", "BMP", (".bmp", ".dib")),
    ImageFormat("TIFF", "TIFF", (".tif", ".tiff")),
    ImageFormat("GIF", "GIF", (".gif",)),
    ImageFormat("AVIF", "AVIF", (".avif",)),
    ImageFormat("PPM", "PPM/PGM/PBM/PFM", (".ppm", ".pgm", ".pbm", ".pnm", ".pfm")),
    ImageFormat("JPEG2000", "JPEG 2000", (".jp2", ".j2k", ".jpf", ".jpx", ".j2c")),
    ImageFormat("PSD", "PSD", (".psd",)),
    ImageFormat("ICO", "ICO", (".ico",)),
    ImageFormat("QOI", "QOI", (".qoi",)),
    ImageFormat("DDS", "DDS", (".dds",)),
    ImageFormat("TGA", "TGA", (".tga", ".icb", ".vda", ".vst"), weak=True),
)
BY_PILLOW_ID = {f.pillow: f for f in READ_FORMATS}
STRONG_PILLOW_IDS: tuple[str, ...] = tuple(f.pillow for f in READ_FORMATS if not f.weak and not f.opened_by)
ACCEPTED_EXTENSIONS: tuple[str, ...] = tuple(ext for f in READ_FORMATS for ext in f.extensions)
SUPPORTED_LABELS = ", ".join(dict.fromkeys(f.label for f in READ_FORMATS))
# Formats whose pixels are already lossy: the result may be written in the same lossy format.
LOSSY_KEEPS = {"JPEG": "jpg", "MPO": "jpg"}


def pillow_ids_for(name: str) -> tuple[str, ...]:
    """The Pillow plugins allowed for a file called `name`: every strong one, plus a weak one whose
    extension matches."""
    lower = name.lower()
    weak = tuple(f.pillow for f in READ_FORMATS if f.weak and lower.endswith(f.extensions))
    return STRONG_PILLOW_IDS + weak


def label_of(pillow_id: str) -> str:
    fmt = BY_PILLOW_ID.get(pillow_id)
    return fmt.label if fmt else pillow_id


def auto_output_format(pillow_id: str, *, has_alpha: bool, bit_depth: int, lossy_source: bool) -> str:
    """Output format "auto": the input's own format where it can be written without losing more
    than the input already lost (a JPEG stays JPEG, a lossy WebP stays WebP), else PNG, which keeps
    everything (alpha, 16 bits, lossless pixels)."""
    if bit_depth == 16:
        return "png"
    if pillow_id in LOSSY_KEEPS and not has_alpha:
        return LOSSY_KEEPS[pillow_id]
    if pillow_id == "WEBP" and lossy_source:
        return "webp"  # WebP keeps alpha too
    return "png"


# (magic bytes at offset, what it is, whether we read it) for the user's error message.
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "PNG"), (0, b"\xff\xd8\xff", "JPEG"), (0, b"GIF87a", "GIF"),
    (0, b"GIF89a", "GIF"), (0, b"BM", "BMP"), (0, b"II*\x00", "TIFF"), (0, b"MM\x00*", "TIFF"),
    (0, b"II+\x00", "TIFF"), (0, b"MM\x00+", "TIFF"), (0, b"8BPS", "PSD"), (0, b"qoif", "QOI"),
    (0, b"DDS ", "DDS"), (0, b"\x00\x00\x01\x00", "ICO"), (0, b"\xff\x4f\xff\x51", "JPEG 2000"),
    (0, b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"),
    (0, b"%PDF", "a PDF document"), (0, b"PK\x03\x04", "a ZIP archive"), (0, b"\x1f\x8b", "a gzip archive"),
    (0, b"Rar!", "a RAR archive"), (0, b"7z\xbc\xaf", "a 7-Zip archive"),
    (0, b"\x1a\x45\xdf\xa3", "a Matroska/WebM video"), (0, b"OggS", "an Ogg media file"),
    (0, b"ID3", "an MP3 audio file"), (0, b"fLaC", "a FLAC audio file"),
    (0, b"\xff\x0a", "a JPEG XL image"), (0, b"\x00\x00\x00\x0cJXL \r\n\x87\n", "a JPEG XL image"),
    (0, b"v/1\x01", "an OpenEXR image"), (0, b"#?RADIANCE", "a Radiance HDR image"),
    (0, b"\x7fELF", "a program"), (0, b"MZ", "a Windows program"),
)
_BRANDS = {b"avif": "AVIF", b"avis": "AVIF", b"heic": "a HEIC image", b"heix": "a HEIC image",
           b"mif1": "a HEIF image", b"heim": "a HEIC image", b"hevc": "a HEIC image", b"crx ": "a Canon raw photo",
           b"qt  ": "a QuickTime video"}
_RIFF = {b"WEBP": "WebP", b"AVI ": "an AVI video", b"WAVE": "a WAV audio file"}


def sniff(data: bytes) -> tuple[str | None, bool]:
    """(what `data` looks like, whether that is a format we read). (None, False) if unknown."""
    head = data[:64]
    if head[:4] == b"RIFF" and head[8:12] in _RIFF:
        what = _RIFF[head[8:12]]
        return what, what == "WebP"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        what = _BRANDS.get(brand, "an MP4/MOV video")
        return what, what == "AVIF"
    for offset, magic, what in _SIGNATURES:
        if head[offset:offset + len(magic)] == magic:
            return what, what in {f.label for f in READ_FORMATS}
    if head[:1] == b"P" and len(head) >= 3 and head[1:2] in b"123456fF" and head[2:3].isspace():
        return "PPM/PGM/PBM/PFM", True
    return _text_kind(data[:2048]), False


def _text_kind(head: bytes) -> str | None:
    try:
        text = head.decode("utf-8").lstrip("\ufeff \t\r\n").lower()
    except UnicodeDecodeError:
        return None
    if not text or any(ch < " " and ch not in "\t\r\n" for ch in text):
        return None
    if "<svg" in text[:1000]:
        return "an SVG drawing"
    if text.startswith(("<!doctype html", "<html")) or "<html" in text[:200]:
        return "an HTML page"
    if text.startswith("<?xml"):
        return "an XML document"
    if text.startswith(("{", "[")):
        return "JSON text"
    return "plain text"
