import numpy as np
import pytest
import torch

from engine.pixels.tiling import auto_tile_px, axis_windows, plan_axis, plan_tiles

SIZES = [(1, 1), (1, 37), (37, 1), (64, 64), (65, 64), (179, 179), (300, 451), (513, 1025)]


@pytest.mark.parametrize("height,width", SIZES)
@pytest.mark.parametrize("tile,pad", [(0, 16), (32, 8), (64, 16), (100, 32), (512, 32)])
def test_tile_cores_cover_every_pixel_exactly_once(height, width, tile, pad):
    plan = plan_tiles(height, width, tile, pad)
    covered = np.zeros((height, width), dtype=int)
    for t in plan.tiles():
        covered[t.y.core_start:t.y.core_stop, t.x.core_start:t.x.core_stop] += 1
        assert 0 <= t.y.start <= t.y.core_start < t.y.core_stop <= t.y.stop <= height
        assert t.y.length <= (tile or height) + 2 * pad and t.x.length <= (tile or width) + 2 * pad
    assert (covered == 1).all()


@pytest.mark.parametrize("length", [1, 31, 64, 179, 1000])
@pytest.mark.parametrize("tile,pad,scale", [(16, 4, 4), (64, 16, 4), (100, 10, 2), (50, 0, 1)])
def test_blend_windows_sum_to_one_everywhere(length, tile, pad, scale):
    segments = plan_axis(length, tile, pad)
    total = np.zeros(length * scale)
    for seg, window in zip(segments, axis_windows(segments, scale)):
        assert window.shape == (seg.length * scale,) and (window >= 0).all()
        total[seg.start * scale: seg.stop * scale] += window
    assert np.allclose(total, 1.0, atol=1e-6)


def test_pixels_nearest_a_tile_border_get_no_weight():
    segments = plan_axis(200, 100, 16)
    first, second = axis_windows(segments, 1)
    assert first[-8:].max() < 1e-3 and second[:8].max() < 1e-3


@pytest.mark.parametrize("length", [1, 37, 64, 65, 179, 451, 1025, 2048])
@pytest.mark.parametrize("tile,pad", [(32, 8), (64, 16), (100, 32), (512, 32), (1024, 32), (64, 4)])
@pytest.mark.parametrize("wider", [0, 36])  # the border as wide as the overlap (the app's) or wider
def test_a_mirrored_border_is_context_and_never_adds_a_tile(length, tile, pad, wider):
    edge = max(8, pad) + wider
    segments = plan_axis(length + 2 * edge, tile, pad, edge)
    covered = np.zeros(length + 2 * edge, dtype=int)
    for seg in segments:
        covered[seg.core_start:seg.core_stop] += 1
        assert 0 <= seg.start <= seg.core_start < seg.core_stop <= seg.stop <= length + 2 * edge
        assert seg.length <= max(tile, 1) + 2 * max(pad, edge) or len(segments) == 1
    assert (covered == 1).all()
    assert len(segments) == (1 if tile >= length else -(-length // tile))  # as many tiles as without it
    inner = [seg.core_stop - seg.core_start for seg in segments[1:-1]]
    assert len(set(inner)) <= 1 and all(c <= tile for c in inner)  # equal cores within the tile size


def test_equal_cores_keep_overhead_small():
    plan = plan_tiles(2048, 2048, 512, 32)
    assert len(plan.rows) == 4 and {s.core_stop - s.core_start for s in plan.rows} == {512}
    assert plan.input_pixels() / 2048 ** 2 < 1.25


def test_auto_tile_fits_memory_and_skips_tiling_when_whole_image_fits():
    assert auto_tile_px(100, 100, free_bytes=10**9, bytes_per_pixel=1000) == 0
    tile = auto_tile_px(4000, 4000, free_bytes=2 * 10**9, bytes_per_pixel=16000, pad_px=32)
    assert 64 <= tile <= 1024 and (tile + 64) ** 2 * 16000 <= 2 * 10**9 and tile % 8 == 0
    assert auto_tile_px(4000, 4000, free_bytes=1, bytes_per_pixel=16000) == 64


def test_invalid_plans_are_refused():
    with pytest.raises(ValueError):
        plan_tiles(10, 10, -1)
    with pytest.raises(ValueError):
        plan_axis(0, 10, 1)


def test_every_registered_network_has_a_measured_profile():
    from engine.models.profiles import PROFILES, profile_of
    from engine.models.registry import MODELS
    for spec in MODELS.values():
        if spec.kind in ("upscaler", "face"):
            assert spec.architecture in PROFILES, spec.name
            assert profile_of(spec.architecture).role == spec.kind
    assert profile_of("SomethingNew").overlap_px == 32  # cautious figures for an unmeasured custom model


def test_the_analysers_tile_is_the_one_processing_uses(monkeypatch, manager):
    """The analyser once sized tiles with a 16 px overlap where processing used x4plus's 32."""
    import engine.pixels.upscale
    from engine.intelligent_enhancer import IntelligentEnhancer
    from engine.pixels.upscale import UpscaleOptions, choose_tile, default_pad_px

    monkeypatch.setattr(engine.pixels.upscale, "free_memory_bytes", lambda device, reserve: 3 * 2**30)  # fixed, not live

    class Model:  # the facts choose_tile reads, at the precision the manager would load it with
        architecture, device, precision = "ESRGAN", torch.device("cpu"), manager.device_for().precision
    analyser = IntelligentEnhancer(manager)
    for size in ((300, 451), (1200, 1800), (3000, 4000)):
        processing = choose_tile(Model(), *size, UpscaleOptions(pad_px=default_pad_px("ESRGAN"), memory_reserve=0.1))
        shown = analyser.calculate_optimal_tile(np.zeros((*size, 3), np.uint8), "RealESRGAN_x4plus")
        assert shown == processing
    assert choose_tile(Model(), 3000, 4000, UpscaleOptions(pad_px=16)) != processing  # the overlap matters


def test_half_precision_tiles_are_larger_and_a_2048_picture_takes_four(monkeypatch):
    """bf16/fp16 halve the activations, so the same memory holds a larger tile; with room for it, a
    2048x2048 picture on the CPU runs as 2x2 tiles (6% of its pixels repeated, 19% with 4x4)."""
    import engine.pixels.upscale
    from engine.pixels.upscale import tile_for
    cpu = torch.device("cpu")
    monkeypatch.setattr(engine.pixels.upscale, "free_memory_bytes", lambda device, reserve: 10 * 2**30)  # fixed
    fp32 = tile_for("ESRGAN", cpu, 3000, 4000, precision="fp32")
    half = tile_for("ESRGAN", cpu, 3000, 4000, precision="bf16")
    assert 0 < fp32 < half
    assert tile_for("ESRGAN", cpu, 2048, 2048, precision="bf16") == 1024
    bordered = 2048 + 2 * 32  # upscale_pixels' mirrored border: the tiles' outer context
    plan, before = plan_tiles(bordered, bordered, 1024, 32, 32), plan_tiles(bordered, bordered, 512, 32, 32)
    assert plan.count == 4 and before.count == 16
    assert plan.input_pixels() / bordered**2 < 1.07 < 1.19 < before.input_pixels() / bordered**2
    monkeypatch.setattr(engine.pixels.upscale, "free_memory_bytes", lambda device, reserve: 1 * 2**30)
    assert 0 < tile_for("ESRGAN", cpu, 2048, 2048, precision="bf16") < 512  # a small machine: memory decides


def test_jobs_running_at_once_each_plan_tiles_with_their_share_of_memory(monkeypatch, app_config):
    """Two x4plus jobs each planning with all the free RAM could together exhaust it (a CPU cannot
    retry that: the process is killed), so each plans with 1/CONCURRENCY_LIMIT of it."""
    import engine.pixels.upscale
    from engine.pixels.upscale import tile_for
    cpu = torch.device("cpu")
    monkeypatch.setattr(engine.pixels.upscale, "free_memory_bytes", lambda device, reserve: 10 * 2**30)  # fixed
    alone = tile_for("ESRGAN", cpu, 4000, 3000, precision="bf16")
    share = app_config.replace(CONCURRENCY_LIMIT=2).engine.memory_share
    assert share == 0.5 and app_config.engine.memory_share == 1.0
    two = tile_for("ESRGAN", cpu, 4000, 3000, precision="bf16", memory_share=share)
    assert 0 < two < alone and (two + 64) ** 2 * 8_000 <= 5 * 2**30 < (alone + 64) ** 2 * 8_000


def test_on_cuda_tiles_are_sized_with_the_fp32_figure(monkeypatch):
    """The half-precision memory figure was measured on the CPU; CUDA keeps the cautious fp32 one."""
    import engine.pixels.upscale
    from engine.pixels.upscale import tile_for
    monkeypatch.setattr(engine.pixels.upscale, "free_memory_bytes", lambda device, reserve: 4 * 2**30)  # no device here
    cuda = torch.device("cuda")
    assert tile_for("ESRGAN", cuda, 4000, 3000, precision="fp16") == tile_for("ESRGAN", cuda, 4000, 3000)
