"""Warm-up: load the default model and run one tiny forward in a background thread at start-up.

A fresh server's first result otherwise pays, on the user's click, for what only the first job
needs: reading (or converting) the weights, building the network, and the device's first-call work
(oneDNN's primitive creation and memory pools on a CPU, CUDA's context and kernels on a GPU). The
warm-up does that while the page is already being served, through the same manager cache and the
same `run_batch` as a job, so the first job finds the model loaded and the device warmed.

It never holds up a job either: its forwards give way (`watched_forward`'s stop check, before each
layer) the moment a job's forward runs on the same network, so a job sent the instant the page
answers does not share the CPU with a warm-up it no longer needs.

It never blocks start-up and never fails it: a model whose weights are missing is skipped (the
server downloads only on an explicit request), and any other failure is logged and forgotten; the
first job then loads the model itself and reports the problem in its own sentence.
"""
from __future__ import annotations

import logging
import threading
import time

import numpy as np

from engine.models.manager import LoadedModel, ModelManager
from utils.errors import Cancelled

log = logging.getLogger(__name__)

WARM_UP_SIDE = 32  # input pixels; enough for the first-call work, a fraction of a second of compute
# The speed is measured on a bigger input: a forward's fixed costs (per layer, per call) make a
# 32 px input several times slower per pixel than an image that fills a tile (measured here:
# x4plus on 2 CPUs, 32 px about 7x and 128 px about 1.3x the seconds per pixel of 200 px).
MEASURE_SIDE = 128
THREAD_NAME = "model-warm-up"


def warm_up(manager: ModelManager, model_name: str, *, fp32: bool = False, side: int = WARM_UP_SIDE,
            measure_side: int = MEASURE_SIDE) -> LoadedModel | None:
    """Load `model_name` on the configured device into `manager`'s cache, run one `side`x`side`
    forward, then one `measure_side`x`measure_side` forward that records the model's speed; the
    loaded model, or None when its weights are not here (nothing is downloaded)."""
    if not manager.is_available(model_name):
        log.info("warm-up skipped: %s has no weights here", model_name)
        return None
    from engine.pixels.inference import run_batch  # the job's own path, autocast included
    started = time.perf_counter()
    model = manager.load_model(model_name, None, fp32)
    loaded = time.perf_counter()
    random = np.random.default_rng(0)

    def a_job_is_running() -> bool:  # another forward than this one on the network
        return model.running.count > 1
    try:
        run_batch(model, [random.integers(0, 256, (side, side, 3), dtype=np.uint8)], 255,
                  should_cancel=a_job_is_running, measure=False)  # the first-call work would skew the speed
        first = time.perf_counter()
        # warm now: records the model's speed (model.speed) for time estimates
        run_batch(model, [random.integers(0, 256, (measure_side, measure_side, 3), dtype=np.uint8)], 255,
                  should_cancel=a_job_is_running)
    except Cancelled:
        log.info("warm-up: %s loaded in %.2f s; its forward gave way to a job", model_name, loaded - started)
        return model
    log.info("warm-up: %s on %s as %s, loaded in %.2f s, first forward in %.2f s, then %.2f s per input "
             "megapixel", model_name, model.device, model.precision, loaded - started, first - loaded,
             model.speed.seconds_per_megapixel or 0.0)
    return model


def start_warm_up(manager: ModelManager, model_name: str, *, fp32: bool = False, side: int = WARM_UP_SIDE,
                  measure_side: int = MEASURE_SIDE) -> threading.Thread:
    """`warm_up` in a daemon thread, started and returned at once; its failures are logged only."""
    def run() -> None:
        try:
            warm_up(manager, model_name, fp32=fp32, side=side, measure_side=measure_side)
        except Exception as error:  # a warm-up must never take the server down
            log.warning("warm-up of %s failed (the first job will load it): %s", model_name, error)

    thread = threading.Thread(target=run, name=THREAD_NAME, daemon=True)
    thread.start()
    return thread
