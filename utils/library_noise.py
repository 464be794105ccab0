"""Keep image libraries' own chatter off the user's terminal and out of the UI: Pillow's Python
warnings (with their site-packages paths), OpenCV's `[ERROR]`/`[ WARN]` lines and the libtiff
messages Pillow's TIFF decoder prints ("ZIPDecode: Decoding error ...") go to our log at debug
level. Our messages say what happened in one sentence instead."""
from __future__ import annotations

import ctypes
import logging
import os
import threading
import warnings

log = logging.getLogger("utils.images.libraries")
_installed = threading.Lock()
_done = False


def quiet_image_libraries() -> None:
    """Install once per process (idempotent)."""
    global _done
    with _installed:
        if _done:
            return
        _done = True
        _quiet_opencv()
        _quiet_pillow_libtiff()
        previous = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if _from_image_library(category, filename):
                log.debug("%s: %s (%s:%s)", category.__name__, message, os.path.basename(filename), lineno)
                return
            previous(message, category, filename, lineno, file, line)

        warnings.showwarning = show


def _from_image_library(category: type, filename: str) -> bool:
    path = filename.replace("\\", "/")
    return "/PIL/" in path or "/cv2/" in path or category.__module__.startswith("PIL")


def _quiet_opencv() -> None:
    # OpenCV routes libtiff/libpng errors through its own logger; silent unless we debug.
    import cv2
    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    except AttributeError:  # builds without the logging utilities
        cv2.setLogLevel(0)


# libtiff's handler type: void (*)(const char *module, const char *fmt, va_list ap). The va_list is
# left alone (it cannot be formatted portably from Python): the log gets the module and the format.
_TIFF_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p)
_handlers: list = []  # keep the callbacks alive for the life of the process


def _libtiff_message(module: bytes | None, fmt: bytes | None, _args) -> None:
    try:
        log.debug("libtiff %s: %s", (module or b"").decode(errors="replace"), (fmt or b"").decode(errors="replace"))
    except Exception:  # noqa: BLE001 - never raise into C
        pass


def _quiet_pillow_libtiff() -> None:
    """Route the messages of the libtiff that Pillow's decoder links (its wheel bundles one, which
    prints to stderr by default) to the log."""
    from pathlib import Path

    import PIL
    from PIL import Image  # noqa: F401 - loads _imaging, and with it that libtiff
    candidates = sorted((Path(PIL.__file__).parent.parent / "pillow.libs").glob("libtiff*.so*"))
    for path in candidates:
        try:
            library = ctypes.CDLL(str(path))  # the copy already loaded: same handle, same handlers
            handler = _TIFF_HANDLER(_libtiff_message)
            for setter in (library.TIFFSetErrorHandler, library.TIFFSetWarningHandler):
                setter.restype = ctypes.c_void_p
                setter.argtypes = [_TIFF_HANDLER]
                setter(handler)
            _handlers.append(handler)
        except (OSError, AttributeError) as error:
            log.debug("libtiff messages not routed: %r", error)
