"""EnhanceRequest: one typed, validated request for every front end."""
import dataclasses
import json

import pytest

from engine.request import EnhanceRequest
from utils.errors import InvalidInput


def test_unknown_settings_are_an_error_with_a_suggestion():
    with pytest.raises(InvalidInput, match=r"Unknown setting 'outscal'.*did you mean outscale"):
        EnhanceRequest.from_dict({"outscal": 2})
    with pytest.raises(InvalidInput, match="Unknown face option 'fidelty'"):
        EnhanceRequest.from_dict({"face_options": {"fidelty": 0.5}})


def test_the_seeds_keyword_names_are_aliases():
    request = EnhanceRequest.from_dict({"model_name": "realesr-animevideov3", "scale": 2, "fp32": True, "gpu_id": 1,
                                        "face_options": {"restorer": "RestoreFormer", "fidelity": 0.3}})
    assert (request.model, request.outscale, request.precision, request.device) == \
        ("realesr-animevideov3", 2.0, "fp32", 1)
    assert request.face_options().restorer == "RestoreFormer" and request.face_options().fidelity == 0.3


@pytest.mark.parametrize("changes, message", [
    ({"outscale": 9}, "Outscale 9.0 is out of range"),
    ({"tile": 10}, "Tile size 10 is out of range"),
    ({"quality": 0}, "Quality 0 is out of range"),
    ({"precision": "fp8"}, "Precision 'fp8' is not known"),
    ({"double_pass": "yes"}, "is on or off"),
    ({"face_restorer": "Nope"}, "Unknown face restorer"),
    ({"blend_weight": 1.5}, "out of range"),
    ({"codec": "mpeg2"}, "Codec 'mpeg2' is not supported"),
    ({"outscale": "four"}, "cannot be 'four'"),
])
def test_bad_values_are_one_sentence(changes, message):
    with pytest.raises(InvalidInput, match=message):
        EnhanceRequest.from_dict(changes)


def test_values_from_forms_and_json_are_coerced_once():
    request = EnhanceRequest.from_dict({"tile": 256.0, "quality": "80", "outscale": "2.5", "crf": "", "device": "0",
                                        "double_pass": "true", "strip_metadata": "OFF"})
    assert (request.tile, request.quality, request.outscale, request.crf, request.device) == (256, 80, 2.5, None, 0)
    assert request.double_pass is True and request.strip_metadata is False
    with pytest.raises(InvalidInput):
        EnhanceRequest.from_dict({"tile": 256.5})


def test_it_is_frozen_and_round_trips_through_json():
    request = EnhanceRequest(model="realesr-animevideov3", outscale=3, blend_model="RealESRGAN_x4plus",
                             double_pass=True, name_template="{stem}_{model}.{ext}")
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.outscale = 2  # type: ignore[misc]
    assert EnhanceRequest.from_dict(json.loads(json.dumps(request.to_dict()))) == request
    assert request.with_changes(outscale=2).outscale == 2.0 and request.outscale == 3


def test_stored_files_are_read_leniently(caplog):
    """A settings file from another version: unknown keys and bad values are logged and left out."""
    base = EnhanceRequest(model="realesr-animevideov3")
    read = EnhanceRequest.from_dict({"future_setting": 1, "quality": 500, "outscale": 2, "fp32": True,
                                     "name_template": None}, base=base, lenient_where="settings.json")
    assert (read.model, read.quality, read.outscale, read.precision) == ("realesr-animevideov3", 95, 2.0, "fp32")
    assert "future_setting" in caplog.text and "Quality 500" in caplog.text


def test_an_old_history_row_becomes_a_request():
    """A row recorded before the request existed (the seed's keyword names, a FaceOptions text)."""
    row = {"model": "RealESRGAN_x4plus", "outscale": 2, "tile": 0, "auto_tile": True, "tile_pad": None,
           "fp32": False, "face_enhance": True, "face_options": "FaceOptions(restorer='GFPGANv1.4')",
           "gpu_id": None, "name_template": None, "overwrite": True, "blend_model": None, "codec": "h264"}
    request = EnhanceRequest.from_dict(row, lenient_where="history")
    assert (request.model, request.outscale, request.face_enhance, request.blend_model) == \
        ("RealESRGAN_x4plus", 2.0, True, "")


def test_every_cli_flag_of_upscale_lands_in_the_request():
    from cli import build_parser
    from cli.commands import request_of
    from engine.jobs.image import image_defaults
    from config import AppConfig
    args = build_parser().parse_args(["upscale", "x.png", "-n", "realesr-animevideov3", "-s", "3", "-t", "128",
                                      "--tile-pad", "8", "--fp32", "--ext", "webp", "--quality", "70", "--suffix",
                                      "big", "--strip-metadata", "--blend-model", "RealESRGAN_x4plus",
                                      "--blend-weight", "0.2", "--double-pass", "-dn", "0.3", "--device", "cpu"])
    request = request_of(args, image_defaults(AppConfig().engine))
    assert request == EnhanceRequest(model="realesr-animevideov3", outscale=3, tile=128, tile_pad=8, precision="fp32",
                                     output_format="webp", quality=70, suffix="big", strip_metadata=True,
                                     blend_model="RealESRGAN_x4plus", blend_weight=0.2, double_pass=True,
                                     denoise_strength=0.3, device="cpu")


def test_a_job_refuses_settings_it_would_not_apply():
    with pytest.raises(InvalidInput, match="Video jobs do not use blend_model, double_pass; leave them out"):
        EnhanceRequest(blend_model="RealESRGAN_x4plus", double_pass=True).checked_for("video")
    with pytest.raises(InvalidInput, match="Image jobs do not use codec"):
        EnhanceRequest(codec="vp9").checked_for("image")
    assert EnhanceRequest(codec="vp9", max_seconds=2).checked_for("video").codec == "vp9"


def test_twin_names_and_numbers_that_are_booleans_are_refused():
    with pytest.raises(InvalidInput, match="Both 'scale' and 'outscale'"):
        EnhanceRequest.from_dict({"scale": 2, "outscale": 3})
    with pytest.raises(InvalidInput, match="is a number"):
        EnhanceRequest.from_dict({"outscale": True})
    assert EnhanceRequest.from_dict({"face_enhance": 1, "double_pass": 0}).face_enhance is True


def test_a_stored_file_whose_values_clash_still_loads(caplog):
    read = EnhanceRequest.from_dict({"size": "1920x", "double_pass": True}, lenient_where="settings.json")
    assert read.size == "1920x" and read.double_pass is False and "double_pass" in caplog.text
