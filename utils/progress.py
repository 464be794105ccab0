"""Elapsed time, throughput and time left for any long job (tiles, frames, items)."""
from __future__ import annotations

import time
from collections.abc import Callable

ProgressFn = Callable[[int, int, str], None]


def format_seconds(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class ProgressEstimate:
    """Wraps an `on_progress(done, total, note)` callback, adding elapsed, rate and time left to
    the note. The rate is measured from the first report, so start-up costs do not skew it."""

    def __init__(self, report: ProgressFn, unit: str = "tiles", clock: Callable[[], float] = time.monotonic):
        self.report, self.unit, self.clock = report, unit, clock
        self.started = clock()
        self.first: tuple[float, int] | None = None

    def __call__(self, done: int, total: int, note: str) -> None:
        now = self.clock()
        if self.first is None or done < self.first[1]:
            self.first = (now, done)
        self.report(done, total, f"{note} · {self.describe(now, done, total)}")

    def describe(self, now: float, done: int, total: int) -> str:
        elapsed = now - self.started
        parts = [f"{format_seconds(elapsed)} elapsed"]
        first_time, first_done = self.first or (now, done)
        if done > first_done and now > first_time:
            rate = (done - first_done) / (now - first_time)
            parts.append(f"{rate:.2f} {self.unit}/s" if rate >= 0.1 else f"{1 / rate:.1f} s per {self.unit[:-1]}")
            if total > done:
                parts.append(f"about {format_seconds((total - done) / rate)} left")
        return ", ".join(parts)
