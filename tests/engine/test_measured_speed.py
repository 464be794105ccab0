"""A model's measured speed (seconds per input megapixel, per model, device and precision) and the
time estimate it gives an image that fits one tile, before that tile finishes."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from engine.models.manager import MeasuredSpeed, ModelManager
from engine.models.warm_up import warm_up
from engine.pixels.upscale import UpscaleOptions, upscale_pixels
from utils.progress import ProgressEstimate, ProgressNote, TileReport

from tests.clock import ManualClock

MODEL = "realesr-animevideov3"


def test_speed_is_per_megapixel_and_recent_big_runs_count_most():
    speed = MeasuredSpeed()
    assert speed.seconds_per_megapixel is None and speed.expected_seconds(10**6) is None
    speed.record(3.0, 1_000_000)  # 3 s per megapixel
    assert speed.seconds_per_megapixel == pytest.approx(3.0)
    assert speed.expected_seconds(250_000) == pytest.approx(0.75)
    speed.record(2.0, 1_000_000)  # the machine got faster: the new run weighs twice the old one
    assert speed.seconds_per_megapixel == pytest.approx((3.0 * 0.5 + 2.0) / (0.5 + 1.0))
    speed.record(0.5, 10_000)  # a small edge tile at 50 s/MP hardly moves it
    assert speed.seconds_per_megapixel < 3.0
    speed.record(0.0, 10_000)  # nothing measured: ignored
    speed.record(1.0, 0)
    assert speed.seconds_per_megapixel < 3.0


def test_the_manager_keeps_one_speed_per_model_device_and_precision(tmp_path, weights_dir):
    manager = ModelManager(weights_dir=weights_dir, allow_downloads=False)
    model = manager.load_model(MODEL)
    assert model.speed is manager.speed_of(MODEL, model.device, model.precision)
    assert manager.speed_of(MODEL, model.device, "fp32" if model.precision != "fp32" else "bf16") is not model.speed
    model.speed.record(1.0, 10**6)
    manager.unload_model(MODEL)
    assert manager.load_model(MODEL).speed.seconds_per_megapixel is not None  # kept over an unload


def test_the_warm_up_measures_the_speed(weights_dir):
    manager = ModelManager(weights_dir=weights_dir, allow_downloads=False)
    model = warm_up(manager, MODEL, measure_side=48)
    assert model is not None and model.speed.seconds_per_megapixel > 0


def test_every_finished_forward_records_the_speed(weights_dir, chelsea):
    manager = ModelManager(weights_dir=weights_dir, allow_downloads=False)
    model = manager.load_model(MODEL)
    assert model.speed.seconds_per_megapixel is None
    upscale_pixels(model, chelsea[:40, :40], UpscaleOptions(outscale=4, tile_px=0))
    assert model.speed.seconds_per_megapixel > 0


def test_a_one_tile_image_is_told_its_time_from_the_recorded_speed(anime_video_model, chelsea):
    model = dataclasses.replace(anime_video_model, speed=MeasuredSpeed())  # the same network, a known speed
    model.speed.record(2.0, 1_000_000)  # 2 s per input megapixel
    notes = []
    upscale_pixels(model, np.ascontiguousarray(chelsea[:48, :48]), UpscaleOptions(outscale=4, pad_px=16),
                   on_progress=lambda done, total, note: notes.append((done, total, note)))
    first_done, total, note = notes[0]
    assert (first_done, total, str(note)) == (0, 1, "tile 1/1")  # before the tile runs
    # 48 px and a 16 px mirrored border on each side: one 80x80 tile, 6400 input pixels
    assert note.expected_s == pytest.approx(2.0 * 80 * 80 / 1e6)
    assert notes[-1][:2] == (1, 1)


def test_without_a_measured_speed_a_one_tile_image_says_estimating(anime_video_model, chelsea):
    model = dataclasses.replace(anime_video_model, speed=MeasuredSpeed())
    clock, shown = ManualClock(), []
    estimate = ProgressEstimate(lambda done, total, note: shown.append(note), "tiles", clock)
    upscale_pixels(model, np.ascontiguousarray(chelsea[:48, :48]), UpscaleOptions(outscale=4), on_progress=estimate)
    assert shown[0] == "tile 1/1 · 0 s elapsed, estimating…"
    assert model.speed.seconds_per_megapixel > 0  # measured now: the next image gets a number


def test_the_report_repeats_itself_while_a_tile_runs():
    clock, sent = ManualClock(), []
    report = TileReport(lambda done, total, note: sent.append((done, str(note), note.expected_s)), 4, 8.0, clock)
    report.start()
    report.heartbeat(1)  # the next layer, at once: nothing new to say
    clock.now += TileReport.HEARTBEAT_S
    report.heartbeat(2)
    report.tile_done(1)
    clock.now += 0.1
    report.heartbeat(3)
    assert sent == [(0, "tile 1/4", 8.0), (0, "tile 1/4", 8.0), (1, "tile 2/4", 8.0)]
    assert isinstance(ProgressNote("x", 1.0), str)
