"""Keep image libraries' own chatter off the user's terminal and out of the UI: Pillow's Python
warnings (with their site-packages paths) and OpenCV's `[ERROR]`/`[ WARN]` lines (libtiff, libpng)
go to our log at debug level. Our messages say what happened in one sentence instead."""
from __future__ import annotations

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
