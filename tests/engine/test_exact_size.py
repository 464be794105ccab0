"""The exact-size option (resize to a width, a height, or to fit within a box, keeping the aspect):
the control added through EnhanceRequest alone, checked on the real model and read back by Pillow."""
import pytest
from PIL import Image

from engine.jobs.image import enhance_image_direct
from engine.request import EnhanceRequest
from utils.errors import InvalidInput

from tests.cli.test_cli import run

FAST = "realesr-animevideov3"


@pytest.mark.parametrize("size, expected", [("100x", (100, 75)), ("x90", (120, 90)), ("100x100", (100, 75)),
                                            ("200x90", (120, 90)), ("64x48", (64, 48))])
def test_the_result_has_the_asked_size_and_the_inputs_aspect(size, expected, tmp_path, app_config, manager, chelsea):
    source = tmp_path / "cat.png"
    Image.fromarray(chelsea[:48, :64]).save(source)
    result = enhance_image_direct(source, request=EnhanceRequest(model=FAST, size=size), model_manager=manager,
                                  config=app_config, output_dir=tmp_path / "out")
    assert Image.open(result.output_path).size == expected


@pytest.mark.parametrize("size, message", [("32x", "already larger"), ("1000x", "more than 8 times"),
                                           ("big", "is not a size"), ("x", "is not a size"), ("0x10", "is not a size")])
def test_a_size_it_cannot_make_is_one_sentence(size, message, app_config, manager, chelsea):
    with pytest.raises(InvalidInput, match=message):
        enhance_image_direct(chelsea[:48, :64], request=EnhanceRequest(model=FAST, size=size), model_manager=manager,
                             config=app_config, save=False)


def test_the_cli_flag(tmp_path, cli_env, chelsea):
    Image.fromarray(chelsea[:48, :64]).save(tmp_path / "cat.png")
    done = run(["upscale", str(tmp_path / "cat.png"), "-n", FAST, "--size", "x72", "-o", str(tmp_path / "out")],
               cli_env)
    assert done.returncode == 0, done.stderr
    assert Image.open(tmp_path / "out" / "cat_out.png").size == (96, 72)


def test_the_image_tabs_widget_reaches_the_request():
    from ui.tabs.image import request_from
    assert request_from(["model", "size"], [FAST, "1920x"]).outscale_for(480, 270) == 4.0
