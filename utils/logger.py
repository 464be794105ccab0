"""Logging set-up: console plus a rotating file (10 MB x 5 by default)."""
from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
_HANDLER_TAG = "_realesrgan_ultimate"


def setup_logging(log_file: str | Path | None, log_level: str = "INFO", *,
                  max_bytes: int = 10 * 1024 * 1024, backup_count: int = 5,
                  console: bool = True) -> logging.Logger:
    """Configure the root logger once; calling again replaces our handlers, never duplicates them."""
    root = logging.getLogger()
    root.setLevel(getattr(logging, str(log_level).upper(), logging.INFO))
    for handler in [h for h in root.handlers if getattr(h, _HANDLER_TAG, False)]:
        root.removeHandler(handler)
        handler.close()
    formatter = logging.Formatter(FORMAT)
    handlers: list[logging.Handler] = []
    if console:
        handlers.append(logging.StreamHandler())
    if log_file:
        path = Path(log_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.handlers.RotatingFileHandler(
            path, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(formatter)
        setattr(handler, _HANDLER_TAG, True)
        root.addHandler(handler)
    # Third-party chatter drowns our own lines at INFO.
    for noisy in ("httpx", "urllib3", "PIL", "matplotlib", "numba"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return logging.getLogger("realesrgan_ultimate")


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)
