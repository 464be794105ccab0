"""enhance_image_direct end to end on real models and real files."""
import numpy as np
import pytest
from PIL import Image

from engine.jobs.image import enhance_image_direct
from utils.errors import InvalidInput, OutputError
from utils.images import read_image, save_image

from tests.conftest import TESTDATA, needs_testdata

FAST = "realesr-animevideov3"


def enhance(source, app_config, manager, **kwargs):
    kwargs.setdefault("model_name", FAST)
    return enhance_image_direct(source, model_manager=manager, config=app_config, **kwargs)


def test_returns_the_seeds_tuple_and_writes_the_file(tmp_path, app_config, manager, skimage_dir):
    result_path, input_path, status, metrics = enhance(skimage_dir / "coffee.png", app_config, manager, scale=2)
    assert result_path == app_config.OUTPUT_DIR / "coffee_out.png" and input_path == skimage_dir / "coffee.png"
    assert Image.open(result_path).size == (1200, 800)
    assert metrics["original_size"] == "600x400" and metrics["enhanced_size"] == "1200x800"
    assert metrics["scale_factor"] == "2.0x" and metrics["size_change"].endswith("%")
    assert {"time", "device", "precision", "model"} <= metrics.keys()
    assert "600x400 -> 1200x800" in status
    assert [p.name for p in app_config.OUTPUT_DIR.iterdir()] == ["coffee_out.png"]  # no temporary left


@pytest.mark.parametrize("outscale,size", [(1, (64, 48)), (2.5, (160, 120)), (4, (256, 192)), (8, (512, 384))])
def test_any_outscale_from_1_to_8(outscale, size, app_config, manager, chelsea):
    result = enhance(chelsea[:48, :64], app_config, manager, scale=outscale, save=False)
    assert (result.image.shape[1], result.image.shape[0]) == size


@pytest.mark.parametrize("bad", [0.5, 9, float("nan")])
def test_outscale_out_of_range_is_refused(bad, app_config, manager, chelsea):
    with pytest.raises(InvalidInput, match="Outscale"):
        enhance(chelsea[:8, :8], app_config, manager, scale=bad)


def test_output_pixel_limit_is_checked_before_model_work(app_config, manager, chelsea):
    config = app_config.replace(MAX_OUTPUT_PIXELS=1000)
    with pytest.raises(InvalidInput, match="output limit"):
        enhance(chelsea, config, manager)


def test_grayscale_stays_grayscale(tmp_path, app_config, manager, skimage_dir):
    result = enhance(skimage_dir / "camera.png", app_config, manager, scale=1.5)
    assert Image.open(result.output_path).mode == "L" and result.image.ndim == 2


@pytest.mark.parametrize("alpha_mode", ["realesrgan", "bicubic"])
def test_rgba_keeps_alpha_in_both_modes(tmp_path, app_config, manager, chelsea, alpha_mode):
    rgba = np.dstack([chelsea[:40, :40], np.tile(np.linspace(0, 255, 40, dtype=np.uint8), (40, 1))])
    result = enhance(rgba, app_config, manager, alpha_upsampler=alpha_mode)
    out = read_image(result.output_path).pixels
    assert out.shape == (160, 160, 4)
    assert out[:, :8, 3].mean() < 30 and out[:, -8:, 3].mean() > 225  # the gradient survives


def test_16bit_rgba_comes_out_16bit_rgba(tmp_path, app_config, manager, chelsea):
    deep = np.dstack([chelsea[:32, :48], np.full((32, 48), 200, np.uint8)]).astype(np.uint16) * 257
    source = save_image(tmp_path / "deep.png", deep, "png")
    result = enhance(source, app_config, manager, alpha_upsampler="bicubic")
    out = read_image(result.output_path).pixels
    assert out.dtype == np.uint16 and out.shape == (128, 192, 4)
    assert (out[..., 3] == 200 * 257).all()  # a flat alpha stays exactly flat at full depth


@needs_testdata
def test_labelled_16bit_alpha_and_gray_files(app_config, manager):
    deep = read_image(enhance(TESTDATA / "realesrgan/tree_alpha_16bit.png", app_config, manager).output_path)
    assert deep.pixels.dtype == np.uint16 and deep.pixels.shape == (1024, 1368, 4)
    gray = enhance(TESTDATA / "realesrgan/00017_gray.png", app_config, manager, scale=2).output_path
    assert Image.open(gray).mode == "L"


def test_format_choice(app_config, manager, chelsea, tmp_path):
    jpg = save_image(tmp_path / "cat.jpg", chelsea[:32, :32], "jpg")
    assert enhance(jpg, app_config, manager).output_path.suffix == ".jpg"
    assert enhance(jpg, app_config, manager, output_format="webp", quality=80).output_path.suffix == ".webp"
    with pytest.raises(InvalidInput, match="format"):
        enhance(jpg, app_config, manager, output_format="bmp")


def test_pil_and_array_inputs(app_config, manager, chelsea):
    from_pil = enhance(Image.fromarray(chelsea[:20, :20]), app_config, manager, save=False)
    from_array = enhance(chelsea[:20, :20], app_config, manager, save=False)
    assert np.array_equal(from_pil.image, from_array.image)
    with pytest.raises(InvalidInput, match="upload an image"):
        enhance(None, app_config, manager)


def test_bad_settings_are_refused_before_work(app_config, manager, chelsea):
    with pytest.raises(InvalidInput, match="Tile size"):
        enhance(chelsea[:8, :8], app_config, manager, tile=7)
    with pytest.raises(InvalidInput, match="Alpha mode"):
        enhance(chelsea[:8, :8], app_config, manager, alpha_upsampler="magic")
    with pytest.raises(InvalidInput, match="Unknown model"):
        enhance(chelsea[:8, :8], app_config, manager, model_name="nope")


def test_unwritable_output_gives_one_sentence_and_no_file(tmp_path, app_config, manager, chelsea):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the output folder should be")
    with pytest.raises(OutputError, match="not-a-folder"):
        enhance(chelsea[:8, :8], app_config, manager, output_dir=blocker / "out")
    assert blocker.read_text().startswith("a file")


@pytest.mark.parametrize("name", ["../../escape", "/etc/passwd", "nul\x00byte", "..", "CON", "名前 ñ"])
def test_output_names_are_sanitized(app_config, manager, chelsea, name):
    result = enhance(chelsea[:8, :8], app_config, manager, output_name=name, suffix="../x")
    assert result.output_path.parent == app_config.OUTPUT_DIR and result.output_path.is_file()
    assert "\x00" not in result.output_path.name
