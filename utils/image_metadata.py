"""Camera metadata worth carrying into a result: the EXIF IFD and GPS, plus the few descriptive
tags of the main directory (make, model, date, author...), with the orientation reset to normal
(it has been applied to the pixels). Never a TIFF's structure tags (ImageWidth, StripOffsets,
BitsPerSample...), which would describe a file that no longer exists; never a BigTIFF header."""
from __future__ import annotations

import logging

from PIL import Image

log = logging.getLogger(__name__)

ORIENTATION = 0x0112
EXIF_IFD, GPS_IFD = 0x8769, 0x8825
# Descriptive tags of IFD0 (TIFF 6.0 / EXIF 2.3): who, what and when, nothing about the layout.
DESCRIPTIVE_IFD0 = (
    0x010E,  # ImageDescription
    0x010F,  # Make
    0x0110,  # Model
    0x0131,  # Software
    0x0132,  # DateTime
    0x013B,  # Artist
    0x8298,  # Copyright
)
# Inside the EXIF IFD: pointers and sizes of the old file.
DROPPED_EXIF_TAGS = {
    0xA005,  # InteroperabilityIFD pointer
    0xA002, 0xA003,  # PixelXDimension, PixelYDimension: the old size
}


def read_exif(im: Image.Image) -> tuple[int, bytes | None]:
    """(orientation 1..8, the camera EXIF with orientation 1, or None). Call after `im.load()`:
    a broken EXIF block costs the metadata, never the image."""
    try:
        source = im.getexif()
    except Exception as error:
        log.debug("EXIF unreadable: %r", error)
        return 1, None
    orientation = _orientation(source)
    try:
        return orientation, camera_exif(source)
    except Exception as error:
        log.debug("EXIF not copied: %r", error)
        return orientation, None


def camera_exif(source: Image.Exif) -> bytes | None:
    """A fresh EXIF block holding only the camera data of `source`, or None if there is none."""
    out = Image.Exif()
    for tag in DESCRIPTIVE_IFD0:
        value = source.get(tag)
        if isinstance(value, str) and value.strip("\x00 "):
            out[tag] = value
    for pointer in (EXIF_IFD, GPS_IFD):
        values = {tag: value for tag, value in _sub_ifd(source, pointer).items()
                  if tag not in DROPPED_EXIF_TAGS and not isinstance(value, dict)}
        if values:
            out.get_ifd(pointer).update(values)
    if not len(out) and not any(out.get_ifd(p) for p in (EXIF_IFD, GPS_IFD)):
        return None
    out[ORIENTATION] = 1
    block = out.tobytes()
    Image.Exif().load(block)  # what we write must parse
    return block


def _sub_ifd(source: Image.Exif, pointer: int) -> dict:
    try:
        return dict(source.get_ifd(pointer))
    except Exception as error:
        log.debug("EXIF sub-directory %#x unreadable: %r", pointer, error)
        return {}


def _orientation(source: Image.Exif) -> int:
    try:
        value = int(source.get(ORIENTATION, 1) or 1)
    except (TypeError, ValueError):
        return 1
    return value if 1 <= value <= 8 else 1
