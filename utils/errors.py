"""One error type per thing a user can fix. The message is the sentence the user reads.

The UI turns a `UserError` into `gr.Error`, the CLI into one stderr line and exit 1; tracebacks
go to the log only.
"""
from __future__ import annotations

import logging

from utils.files import OutputWriteError


class UserError(Exception):
    """Base: `str(error)` is one clear sentence saying what happened and what to do."""


class InvalidInput(UserError):
    """The input file or value cannot be processed (bad file, too large, unknown model, ...)."""


class WeightsMissing(UserError):
    """Weights are not on disk and cannot be obtained (downloads disabled or failed). `model` and
    `filename` let a front end say it its own way (the web UI points to its System tab)."""

    def __init__(self, message: str, *, model: str | None = None, filename: str | None = None):
        super().__init__(message)
        self.model, self.filename = model, filename


class ChecksumMismatch(UserError):
    """A weights file does not match its known SHA256."""


class DownloadFailed(UserError):
    """A download was interrupted or refused."""


class ModelUnsupported(UserError):
    """A weights file is not an image-to-image model we can run."""


class OutOfMemory(UserError):
    """The device ran out of memory even with the smallest tile."""


class Cancelled(UserError):
    """The user cancelled the job; nothing was written."""


class OutputError(UserError):
    """The output could not be written (disk full, read-only folder, no permission)."""


def describe_error(error: BaseException) -> str:
    """The one sentence a user reads for any failure (tracebacks go to the log)."""
    if isinstance(error, (UserError, OutputWriteError)):
        return str(error)
    if isinstance(error, MemoryError):
        return "The computer ran out of memory; use a smaller image, outscale or tile size."
    logging.getLogger(__name__).exception("unexpected error", exc_info=error)
    return f"Unexpected error ({type(error).__name__}); see the log file for details."
