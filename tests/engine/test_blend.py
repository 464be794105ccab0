"""Blending two models' upscales and the double pass, through the engine, on real models."""
import dataclasses

import numpy as np
import pytest
from PIL import Image

from engine.pixels.blend import blend_pixels, final_size, pixel_limit_message
from engine.jobs.image import enhance_image_direct
from utils.errors import InvalidInput

FIRST, SECOND = "realesr-animevideov3", "RealESRGAN_x4plus_anime_6B"


def enhance(source, app_config, manager, **kwargs):
    kwargs.setdefault("model_name", FIRST)
    return enhance_image_direct(source, model_manager=manager, config=app_config, **kwargs)


def test_blend_is_the_weighted_mix_rounded_to_the_bit_depth():
    a = np.array([[0, 100, 255]], np.uint8)
    b = np.array([[255, 200, 0]], np.uint8)
    assert blend_pixels(a, b, 0.0) is a and blend_pixels(a, b, 1.0) is b
    assert blend_pixels(a, b, 0.25).tolist() == [[64, 125, 191]]
    wide = blend_pixels(a.astype(np.uint16) * 257, b.astype(np.uint16) * 257, 0.5)
    assert wide.dtype == np.uint16 and wide.tolist() == [[32768, 38550, 32768]]


def test_blend_in_bands_equals_the_whole_mix():
    rng = np.random.default_rng(1)
    a, b = (rng.integers(0, 256, (700, 33, 3), dtype=np.uint8) for _ in range(2))
    whole = np.rint(a.astype(np.float32) * np.float32(0.6) + b.astype(np.float32) * np.float32(0.4)).astype(np.uint8)
    assert np.array_equal(blend_pixels(a, b, 0.4), whole)  # 700 rows: three bands


@pytest.mark.parametrize("weight", [-0.1, 1.5, float("nan")])
def test_visibility_out_of_range_is_refused(weight, app_config, manager, chelsea):
    with pytest.raises(InvalidInput, match="visibility"):
        enhance(chelsea[:8, :8], app_config, manager, blend_model=SECOND, blend_weight=weight)


def test_blend_of_two_real_models_lies_between_them(app_config, manager, chelsea):
    crop = chelsea[100:148, 150:214]
    first = enhance(crop, app_config, manager, scale=4, save=False).image
    second = enhance(crop, app_config, manager, model_name=SECOND, scale=4, save=False).image
    mixed = enhance(crop, app_config, manager, scale=4, save=False, blend_model=SECOND, blend_weight=0.3)
    expected = np.rint(first * 0.7 + second * 0.3)
    assert np.abs(mixed.image.astype(float) - expected).max() <= 1
    assert np.abs(first.astype(int) - second.astype(int)).mean() > 1  # the two models do differ
    assert mixed.metrics["model"] == f"{FIRST} 70% + {SECOND} 30%"


def test_blend_keeps_alpha_and_16_bits(app_config, manager, chelsea):
    rgba = np.dstack([chelsea[:32, :32], np.full((32, 32), 200, np.uint8)]).astype(np.uint16) * 257
    out = enhance(rgba, app_config, manager, scale=2, save=False, blend_model=SECOND, blend_weight=0.5).image
    assert out.shape == (64, 64, 4) and out.dtype == np.uint16
    # the models reproduce a flat alpha to a few levels
    assert np.abs(out[..., 3].astype(int) - 200 * 257).max() < 8 * 257


def test_double_pass_applies_the_outscale_twice_and_saves(app_config, manager, chelsea):
    notes = []
    result = enhance(chelsea[:20, :30], app_config, manager, scale=4, double_pass=True,
                     on_progress=lambda done, total, note: notes.append(note))
    assert Image.open(result.output_path).size == (480, 320)
    assert result.metrics["model"] == f"{FIRST}, double pass" and result.metrics["scale_factor"] == "16.0x"
    assert any(note.startswith("pass 1/2") for note in notes) and any(note.startswith("pass 2/2") for note in notes)


def test_double_pass_equals_running_the_model_on_its_own_output(app_config, manager, chelsea):
    crop = chelsea[60:84, 200:232]
    once = enhance(crop, app_config, manager, scale=2, save=False).image
    twice = enhance(once, app_config, manager, scale=2, save=False).image
    double = enhance(crop, app_config, manager, scale=2, save=False, double_pass=True).image
    assert np.array_equal(double, twice)


def test_final_size_rounds_per_pass():
    assert final_size(101, 51, 2.5) == (252, 128)
    assert final_size(101, 51, 2.5, double_pass=True) == (630, 320)


def test_pixel_limit_warning_names_the_size_and_the_way_out():
    assert pixel_limit_message(1000, 1000, 4, False, 400_000_000) is None
    message = pixel_limit_message(1500, 1500, 4, True, 400_000_000)
    assert message == ("The result would be 24000x24000 (576 MP), over the 400 MP output limit; "
                       "lower the outscale or turn off the double pass.")


def test_double_pass_over_the_limit_is_refused_before_any_work(app_config, manager, chelsea):
    config = dataclasses.replace(app_config, MAX_OUTPUT_PIXELS=100_000)
    calls = []
    with pytest.raises(InvalidInput, match="turn off the double pass"):
        enhance(chelsea[:40, :40], config, manager, scale=4, double_pass=True,
                on_progress=lambda *a: calls.append(a))
    assert calls == [] and not config.OUTPUT_DIR.exists()
    enhance(chelsea[:40, :40], config, manager, scale=4, save=False)  # single pass fits: 160x160
