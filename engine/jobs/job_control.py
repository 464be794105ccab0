"""When a running job must stop: the user cancelled, the client went away, or it ran too long.

A `JobControl` is the `should_cancel` callable the engine checks between tiles, frames and items,
and inside every forward pass before each layer with weights (engine/models/forward_watch.py), so
a stop takes effect within a layer, not after a whole tile. It answers True for a cancel (the
engine then raises `Cancelled`) and raises a `UserError` of its own for the other two, so the user
and the history read why the job stopped. Being called hundreds of times a second, it stays cheap:
a flag, the client check and a clock reading (micro-seconds).
"""
from __future__ import annotations

import time
from collections.abc import Callable

from utils.errors import Cancelled, UserError


class TimeLimitExceeded(UserError):
    """The job ran past the server's per-job time limit."""


class ClientGone(Cancelled):
    """The browser tab or API client that asked for the job went away (an image or video then
    leaves nothing; a batch keeps the items it finished)."""


class JobControl:
    def __init__(self, *, cancelled: Callable[[], bool] | None = None, client_gone: Callable[[], bool] | None = None,
                 time_limit_s: float | None = None, clock: Callable[[], float] = time.monotonic):
        """`time_limit_s`: seconds from now; None or 0 for no limit."""
        self.cancelled = cancelled
        self.client_gone = client_gone
        self.time_limit_s = time_limit_s or None
        self.clock = clock
        self.deadline = clock() + time_limit_s if time_limit_s else None

    def __call__(self) -> bool:
        if self.cancelled is not None and self.cancelled():
            return True
        if self.client_gone is not None and self.client_gone():
            raise ClientGone("The client disconnected, so the job was stopped.")
        if self.deadline is not None and self.clock() > self.deadline:
            seconds = float(self.time_limit_s)  # type: ignore[arg-type]
            limit = f"{seconds / 60:g}-minute" if seconds >= 60 else f"{seconds:g}-second"
            raise TimeLimitExceeded(f"The job ran past this server's {limit} limit and was stopped; use a smaller "
                                    "image or outscale, a lighter model, or ask the administrator to raise "
                                    "REALESRGAN_JOB_TIME_LIMIT_S.")
        return False
