"""Elapsed time, throughput and time left for any long job (tiles, frames, items)."""
from __future__ import annotations

import time
from collections.abc import Callable

ProgressFn = Callable[[int, int, str], None]
# How far a time-based bar may go before the work is reported done: it never shows a finished job
# that is still running (the measured speed is a forecast).
EXPECTED_CAP = 0.95
ESTIMATING = "estimating…"


class ProgressNote(str):
    """A progress note that may carry `expected_s`: the seconds the whole stage (all `total` units
    of the report) should take at a speed measured before (e.g. the model's, from its warm-up and
    earlier jobs); None when nothing was measured yet. It is a str, so every `on_progress(done,
    total, note)` callback takes it as it always did; `ProgressEstimate` reads the expectation."""
    expected_s: float | None

    def __new__(cls, text: str, expected_s: float | None = None) -> "ProgressNote":
        note = super().__new__(cls, text)
        note.expected_s = expected_s if expected_s is None or expected_s > 0 else None
        return note


def with_prefix(prefix: str, note: str) -> str:
    """`note` behind "prefix: ", keeping a `ProgressNote`'s expectation."""
    if not prefix:
        return note
    text = f"{prefix}: {note}"
    return ProgressNote(text, note.expected_s) if isinstance(note, ProgressNote) else text


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
    the note. The rate is measured from the first report, so start-up costs do not skew it.

    Until a unit has finished there is no rate. Then a note that carries an expectation
    (`ProgressNote.expected_s`, e.g. an image that fits one tile, at the model's measured speed)
    gives the time left and a bar that advances by elapsed / expected (below `EXPECTED_CAP` until
    the work reports done; `done` is then passed on as a fraction of units); without one the note
    says "estimating…". The engine repeats its last report while a unit runs, so both move."""

    def __init__(self, report: ProgressFn, unit: str = "tiles", clock: Callable[[], float] = time.monotonic):
        self.report, self.unit, self.clock = report, unit, clock
        self.started = clock()
        self.first: tuple[float, int] | None = None
        self.expecting: tuple[float, float, int] | None = None  # (since, expected seconds, total)
        self.last_done = 0

    def __call__(self, done: int, total: int, note: str) -> None:
        now = self.clock()
        if self.first is None or done < self.first[1]:
            self.first = (now, done)
        expected_s = getattr(note, "expected_s", None)
        if expected_s is None:
            self.expecting = None
        elif self.expecting is None or self.expecting[1:] != (expected_s, total) or done < self.last_done:
            self.expecting = (now, expected_s, total)  # a new stage: its clock starts now
        self.last_done = done
        shown = self.expected_progress(now, done, total)
        self.report(done if shown is None else shown, total, f"{note} · {self.describe(now, done, total)}")

    def has_rate(self, now: float, done: int) -> bool:
        first_time, first_done = self.first or (now, done)
        return done > first_done and now > first_time

    def expected_progress(self, now: float, done: int, total: int) -> float | None:
        """Units done by the clock against the expectation (a fraction of `total`), or None when a
        measured rate or no expectation applies."""
        if self.expecting is None or self.has_rate(now, done) or done >= total:
            return None
        since, expected_s, _ = self.expecting
        return max(done, total * min((now - since) / expected_s, EXPECTED_CAP))

    def rate(self, now: float, done: int) -> float | None:
        """Units per second since the first report; None before a unit has finished."""
        if not self.has_rate(now, done):
            return None
        first_time, first_done = self.first
        return (done - first_done) / (now - first_time)

    def seconds_left(self, now: float, done: int, total: int) -> float | None:
        """At the measured rate, else by the note's expectation; 0 when all is done, None when
        neither is known yet."""
        if total > 0 and done >= total:
            return 0.0
        rate = self.rate(now, done)
        if rate is not None:
            return (total - done) / rate
        if self.expecting is not None and total > done:
            since, expected_s, _ = self.expecting
            return max(0.0, expected_s - (now - since))
        return None

    def describe(self, now: float, done: int, total: int) -> str:
        parts = [f"{format_seconds(now - self.started)} elapsed"]
        rate, left = self.rate(now, done), self.seconds_left(now, done, total)
        if rate is not None:
            parts.append(f"{rate:.2f} {self.unit}/s" if rate >= 0.1 else f"{1 / rate:.1f} s per {self.unit[:-1]}")
        if total > done:
            if left is None:
                parts.append(ESTIMATING)
            elif rate is None and left < 1:
                parts.append("almost done")
            else:
                parts.append(f"about {format_seconds(left)} left")
        return ", ".join(parts)


class TileReport:
    """The tile progress of one `upscale_pixels` call: a report before the first tile and after
    each, and while a tile's forward runs (called before every layer) the last report again, at most
    every `HEARTBEAT_S`, so a time estimate moves even in a single long tile. Every note carries the
    expected seconds of all the tiles at the model's measured speed (None: not measured yet)."""
    HEARTBEAT_S = 0.5

    def __init__(self, on_progress: ProgressFn | None, total: int, expected_s: float | None,
                 clock: Callable[[], float] = time.monotonic):
        self.on_progress, self.total, self.expected_s, self.clock = on_progress, total, expected_s, clock
        self.done, self.last = 0, clock()

    def start(self) -> None:
        self.send(0)

    def tile_done(self, done: int, _count: int = 0) -> None:
        self.send(done)

    def heartbeat(self, _layer: int) -> None:
        if self.on_progress is not None and self.clock() - self.last >= self.HEARTBEAT_S:
            self.send(self.done)

    def send(self, done: int) -> None:
        self.done, self.last = done, self.clock()
        if self.on_progress is not None:
            running = min(done + 1, self.total)  # the tile being worked on, or the last one when all are done
            self.on_progress(done, self.total, ProgressNote(f"tile {running}/{self.total}", self.expected_s))
