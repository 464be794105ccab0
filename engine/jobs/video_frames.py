"""Frames through the model: decoded picture -> RGB array (8-bit, or 16-bit for deep sources) ->
upscaled -> encoder picture with the source's colour matrix and range. Three threads overlap:
the reader decodes while the model runs and the writer encodes, joined by small bounded queues."""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import av
import numpy as np
from av.video.reformatter import Interpolation

from engine.jobs.video_format import AVCOL_RANGE_JPEG, PicturePlan
from utils.errors import Cancelled

ACCURATE = Interpolation.BILINEAR | Interpolation.ACCURATE_RND
QUEUE_POLL_S = 0.2


def to_rgb(frame: av.VideoFrame, plan: PicturePlan) -> np.ndarray:
    """The decoded frame as full-range RGB (uint8, or uint16 for deep sources), converted with the
    source's own matrix and range."""
    rgb = frame.reformat(format=plan.rgb_format, src_colorspace=plan.sws_matrix, src_color_range=plan.color_range,
                         dst_color_range=AVCOL_RANGE_JPEG, interpolation=ACCURATE)
    return rgb.to_ndarray()


def from_rgb(pixels: np.ndarray, plan: PicturePlan, pts: int | None, time_base) -> av.VideoFrame:
    """An encoder frame in `plan.pix_fmt`, tagged with the plan's matrix, range, primaries, transfer."""
    fmt = "rgb48le" if pixels.dtype == np.uint16 else "rgb24"
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format=fmt)
    out = frame.reformat(format=plan.pix_fmt, src_color_range=AVCOL_RANGE_JPEG, dst_colorspace=plan.sws_matrix,
                         dst_color_range=plan.color_range, interpolation=ACCURATE)
    out.colorspace, out.color_range = plan.matrix, plan.color_range
    out.color_primaries, out.color_trc = plan.color_primaries, plan.color_trc
    out.pts, out.time_base = pts, time_base
    return out


@dataclass
class StageClock:
    """Busy seconds per stage (each stage runs in its own thread, so they overlap)."""
    decode: float = 0.0
    upscale: float = 0.0
    encode: float = 0.0


@dataclass
class FrameItem:
    pixels: np.ndarray
    pts: int | None
    time_base: object


@dataclass
class Pipeline:
    """Runs `read()` (yields FrameItems) in a reader thread, the model in the calling thread and
    `write(item)` in a writer thread. Any stage's error stops the others and is raised here."""
    read: Callable[[], Iterator[FrameItem]]
    upscale: Callable[[list[FrameItem]], list[FrameItem]]
    write: Callable[[FrameItem], None]
    batch_size: int = 1
    should_cancel: Callable[[], bool] | None = None
    on_frame: Callable[[int], None] | None = None
    clock: StageClock = field(default_factory=StageClock)
    frames: int = 0

    def run(self) -> int:
        depth = 2 * self.batch_size + 2
        decoded: queue.Queue = queue.Queue(depth)
        upscaled: queue.Queue = queue.Queue(depth)
        stop = threading.Event()
        errors: list[BaseException] = []
        end = object()

        def put(q: queue.Queue, item) -> bool:
            while not stop.is_set():
                try:
                    q.put(item, timeout=QUEUE_POLL_S)
                    return True
                except queue.Full:
                    continue
            return False

        def get(q: queue.Queue):
            while True:
                try:
                    return q.get(timeout=QUEUE_POLL_S)
                except queue.Empty:
                    if stop.is_set():
                        return end

        def reader() -> None:
            try:
                for item in self.read():
                    if not put(decoded, item):
                        return
            except BaseException as error:  # handed to the calling thread
                errors.append(error)
                stop.set()
            finally:
                put(decoded, end)

        def writer() -> None:
            try:
                while (item := get(upscaled)) is not end:
                    started = time.perf_counter()
                    self.write(item)
                    self.clock.encode += time.perf_counter() - started
                    self.frames += 1
            except BaseException as error:
                errors.append(error)
                stop.set()

        threads = [threading.Thread(target=reader, name="video-read", daemon=True),
                   threading.Thread(target=writer, name="video-write", daemon=True)]
        for thread in threads:
            thread.start()
        try:
            done = False
            upscaled_count = 0
            while not done and not stop.is_set():
                batch: list[FrameItem] = []
                while len(batch) < self.batch_size:
                    item = get(decoded)
                    if item is end:
                        done = True
                        break
                    batch.append(item)
                if self.should_cancel and self.should_cancel():
                    raise Cancelled("Cancelled; nothing was written.")
                if batch:
                    started = time.perf_counter()
                    results = self.upscale(batch)
                    self.clock.upscale += time.perf_counter() - started
                    upscaled_count += len(results)
                    if self.on_frame:  # from this thread: UI progress objects are not thread-safe
                        self.on_frame(upscaled_count)
                    for result in results:
                        if not put(upscaled, result):
                            break
            put(upscaled, end)
            threads[1].join()
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        if errors:
            raise errors[0]
        return self.frames
