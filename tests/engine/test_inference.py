"""Tiled inference on the real bundled models: no seams, progress, cancellation, OOM retries."""
import dataclasses

import numpy as np
import pytest
import torch

from engine.pixels.inference import upscale_rgb
from engine.pixels.tiling import plan_tiles
from engine.pixels.upscale import UpscaleOptions, crop_edge, mirror_pad, upscale_pixels
from utils.errors import Cancelled, OutOfMemory
from utils.metrics import psnr


@pytest.mark.parametrize("fixture,crop,tile,pad", [
    ("anime_video_model", (slice(60, 188), slice(150, 310)), 48, 16),
    ("anime_6b_model", (slice(80, 176), slice(180, 308)), 48, 32),
    ("x4plus_model", (slice(80, 176), slice(180, 276)), 48, 32),
])
def test_tiled_and_untiled_outputs_agree_without_seams(request, chelsea, fixture, crop, tile, pad):
    model = request.getfixturevalue(fixture)
    rgb = np.ascontiguousarray(chelsea[crop])
    whole = upscale_rgb(model, rgb, plan_tiles(*rgb.shape[:2], 0))
    tiled = upscale_rgb(model, rgb, plan_tiles(*rgb.shape[:2], tile, pad))
    assert plan_tiles(*rgb.shape[:2], tile, pad).count >= 4
    assert psnr(whole, tiled) >= 45.0


def test_batched_tiles_match_single_tiles(anime_video_model, chelsea):
    rgb = np.ascontiguousarray(chelsea[:96, :192])
    plan = plan_tiles(96, 192, 48, 8)
    one = upscale_rgb(anime_video_model, rgb, plan, batch_size=1)
    four = upscale_rgb(anime_video_model, rgb, plan, batch_size=4)
    assert psnr(one, four) >= 50.0


def test_progress_reports_every_tile_and_cancel_stops(anime_video_model, chelsea):
    rgb = np.ascontiguousarray(chelsea[:64, :64])
    seen = []
    upscale_rgb(anime_video_model, rgb, plan_tiles(64, 64, 32, 4), on_tile=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    with pytest.raises(Cancelled):
        upscale_rgb(anime_video_model, rgb, plan_tiles(64, 64, 32, 4), should_cancel=lambda: len(seen) > 4,
                    on_tile=lambda d, t: seen.append(d))
    assert len(seen) == 5  # stopped right after the first tile of the second run


@pytest.fixture(scope="module")
def x4plus_model(manager):
    return manager.load_model("RealESRGAN_x4plus")


class ShapeRecorder:
    """Wraps a real descriptor: records input shapes; fails like a full device above `max_pixels`.
    A CUDA out-of-memory error cannot be produced on this CPU-only machine, so it is simulated."""

    def __init__(self, descriptor, max_pixels: int | None = None):
        self.descriptor, self.max_pixels, self.shapes = descriptor, max_pixels, []
        self.model = descriptor.model  # the network, where a job's stop check hooks in

    def __call__(self, batch):
        self.shapes.append(tuple(batch.shape))
        if self.max_pixels and batch.shape[-1] * batch.shape[-2] > self.max_pixels:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")
        return self.descriptor(batch)


def test_tiles_never_exceed_tile_plus_context(anime_video_model, chelsea):
    recorder = ShapeRecorder(anime_video_model.descriptor)
    model = dataclasses.replace(anime_video_model, descriptor=recorder)
    upscale_pixels(model, chelsea[:150, :200], UpscaleOptions(tile_px=64, pad_px=8))
    assert recorder.shapes and all(h <= 64 + 16 and w <= 64 + 16 for _, _, h, w in recorder.shapes)


def test_out_of_memory_retries_with_smaller_tiles(anime_video_model, chelsea):
    rgb = np.ascontiguousarray(chelsea[:128, :128])
    recorder = ShapeRecorder(anime_video_model.descriptor, max_pixels=60 * 60)
    model = dataclasses.replace(anime_video_model, descriptor=recorder)
    out, report = upscale_pixels(model, rgb, UpscaleOptions(tile_px=128, pad_px=8))
    assert report.retries == 2 and report.tile_px == 32
    assert out.shape == (512, 512, 3)
    edge = 8  # the mirrored border upscale_pixels adds (pad_px, at least 8)
    direct = upscale_rgb(anime_video_model, mirror_pad(rgb, edge), plan_tiles(128 + 2 * edge, 128 + 2 * edge, 32, 8, edge))
    assert np.array_equal(out, crop_edge(direct, edge * 4))


def test_out_of_memory_at_the_smallest_tile_ends_in_a_clear_message(anime_video_model, chelsea):
    model = dataclasses.replace(anime_video_model, descriptor=ShapeRecorder(anime_video_model.descriptor, 1))
    with pytest.raises(OutOfMemory, match="ran out of memory"):
        upscale_pixels(model, chelsea[:64, :64], UpscaleOptions(tile_px=64, pad_px=4))
