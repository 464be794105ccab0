"""Every class of odd file from real archives (issue #15), generated here, decoded like Pillow does
(or like the constructed pixels say, where Pillow cannot hold them), and upscaled right."""
from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from engine.jobs.image import enhance_image_direct
from engine.pixels.upscale import UpscaleOptions, fill_hidden_colour, upscale_pixels
from utils.errors import InvalidInput
from utils.image_formats import auto_output_format, sniff
from utils.images import decode_image

from tests.conftest import ROOT
from tests.image_corpus import build_corpus, encode, photo
from tests.image_corpus_score import decode_error, result_problems

CORPUS = build_corpus()
READABLE = [case for case in CORPUS if case.expect == "ok"]


def test_the_corpus_covers_every_class_of_the_issue():
    kinds = {case.kind for case in CORPUS}
    assert kinds == {"tRNS on every mode", "16-bit TIFF/PNG/PPM", "truncated files", "1x1 and 2x3 images",
                     "hidden colour under alpha", "EXIF from TIFF/BigTIFF", "newly accepted formats",
                     "messages for other formats"}
    assert len(CORPUS) >= 40


@pytest.mark.parametrize("case", CORPUS, ids=lambda case: case.name)
def test_each_file_decodes_right_or_is_refused_with_the_right_sentence(case):
    if case.expect == "ok":
        decoded = decode_image(case.data, name=case.name)
        assert decode_error(decoded.pixels, case) is None
        return
    with pytest.raises(InvalidInput) as caught:
        decode_image(case.data, name=case.name)
    message = str(caught.value)
    assert case.name in message and "\n" not in message and "Traceback" not in message
    if case.expect == "damaged":
        assert "damaged or truncated" in message and "not a supported" not in message
    else:
        assert "not a supported image format" in message and "damaged" not in message
        assert case.looks_like.lower() in message.lower()


@pytest.mark.parametrize("case", READABLE, ids=lambda case: case.name)
def test_each_readable_file_upscales_to_the_right_size_alpha_depth_and_picture(case, tmp_path, manager):
    source = tmp_path / case.name
    source.write_bytes(case.data)
    result = enhance_image_direct(source, "realesr-animevideov3", 2, model_manager=manager,
                                  output_dir=tmp_path / "out", output_format="png" if case.has_alpha else "auto")
    assert result_problems(case, result.output_path, 2) == []


def test_one_pixel_and_the_edges_of_a_flat_image_keep_their_colour(anime_video_model):
    red = np.array([[[255, 0, 0]]], np.uint8)
    out, _ = upscale_pixels(anime_video_model, red, UpscaleOptions(outscale=4))
    assert out.shape == (4, 4, 3) and np.abs(out.astype(int) - red).max() <= 3
    flat = np.full((12, 12, 3), (90, 160, 220), np.uint8)
    out, _ = upscale_pixels(anime_video_model, flat, UpscaleOptions(outscale=4))
    # the model itself shifts flat colour by a few levels; borders and corners must match the centre
    assert np.abs(out.astype(int) - out[24, 24].astype(int)).max() <= 3
    assert np.abs(out.astype(int) - flat[0, 0]).max() <= 8


def test_without_the_mirrored_border_the_network_sees_zero_padding(anime_video_model):
    """The check above can fail: the same pixel without the border loses colour."""
    red = np.array([[[255, 0, 0]]], np.uint8)
    out, _ = upscale_pixels(anime_video_model, red, UpscaleOptions(outscale=4, edge_px=0))
    assert np.abs(out.astype(int) - red).max() > 20


def test_hidden_colour_is_filled_from_the_nearest_visible_pixel():
    colour = np.zeros((3, 5, 3), np.uint8)
    alpha = np.zeros((3, 5), np.uint8)
    colour[:, 0], alpha[:, 0] = (255, 220, 0), 255  # yellow column, visible
    colour[:, 4], alpha[:, 4] = (0, 0, 255), 128  # blue column, half visible
    colour[:, 1:4] = (255, 0, 0)  # red, hidden
    filled = fill_hidden_colour(colour, alpha)
    assert (filled[:, 1] == (255, 220, 0)).all() and (filled[:, 3] == (0, 0, 255)).all()
    assert np.array_equal(filled[alpha > 0], colour[alpha > 0])
    assert np.array_equal(fill_hidden_colour(colour, np.zeros_like(alpha)), colour)  # nothing visible: as is


@pytest.mark.parametrize("fmt,options,alpha,expected", [
    ("JPEG", {"quality": 90}, False, "jpg"),
    ("WEBP", {"quality": 80}, False, "webp"),
    ("WEBP", {"quality": 80}, True, "webp"),
    ("WEBP", {"lossless": True}, False, "png"),
    ("TGA", {}, False, "png"),
    ("BMP", {}, False, "png"),
    ("GIF", {}, False, "png"),
])
def test_auto_output_keeps_a_lossy_sources_format_else_png(fmt, options, alpha, expected):
    image = Image.fromarray(photo()).convert("RGBA" if alpha else "RGB")
    decoded = decode_image(encode(image, fmt, **options), name=f"x.{fmt.lower()}")
    assert auto_output_format(decoded.format, has_alpha=decoded.has_alpha, bit_depth=decoded.bit_depth,
                              lossy_source=decoded.lossy) == expected


def test_auto_output_of_16_bits_is_png():
    assert auto_output_format("JPEG", has_alpha=False, bit_depth=16, lossy_source=True) == "png"
    assert auto_output_format("TIFF", has_alpha=False, bit_depth=8, lossy_source=False) == "png"


def test_random_bytes_named_tga_are_not_decoded_but_a_real_tga_is():
    assert sniff(b"\x00" * 10) == (None, False)
    with pytest.raises(InvalidInput, match="not a supported image format"):
        decode_image(np.random.default_rng(5).integers(0, 256, 900, dtype=np.uint8).tobytes(), name="x.png")
    tga = encode(Image.fromarray(photo()), "TGA")
    with pytest.raises(InvalidInput):
        decode_image(tga, name="renamed.png")  # no magic number: only trusted under its own name
    assert decode_image(tga, name="real.tga").format == "TGA"


def test_library_warnings_and_error_lines_never_reach_stderr(tmp_path):
    """Pillow's warnings (corrupt EXIF), OpenCV's [ERROR] lines (libtiff on 16-bit CMYK) and the
    messages of Pillow's libtiff (a corrupt deflate TIFF) go to the log at debug, not to the
    user's terminal."""
    noisy = [case for case in CORPUS if case.name in
             ("broken-exif.jpg", "tiff16-cmyk.tif", "truncated.tif", "truncated-exif.png", "truncated.jpg",
              "corrupt-deflate.tif")]
    for case in noisy:
        (tmp_path / case.name).write_bytes(case.data)
    script = ("import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]);"
              "from utils.images import decode_image; from utils.errors import InvalidInput\n"
              "for p in sorted(Path(sys.argv[2]).iterdir()):\n"
              "    try: decode_image(p.read_bytes(), name=p.name)\n"
              "    except InvalidInput as e: print(e)\n")
    run = subprocess.run([sys.executable, "-W", "default", "-c", script, str(ROOT), str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0
    assert run.stderr == ""
    assert "damaged or truncated" in run.stdout


def test_unparseable_exif_costs_the_metadata_not_the_image(tmp_path, manager):
    case = next(case for case in CORPUS if case.name == "broken-exif.jpg")
    source = tmp_path / case.name
    source.write_bytes(case.data)
    result = enhance_image_direct(source, "realesr-animevideov3", 1, model_manager=manager, output_dir=tmp_path / "o")
    with Image.open(result.output_path) as out:
        assert out.format == "JPEG" and not out.getexif()


def test_a_png_with_camera_exif_from_bigtiff_parses(tmp_path, manager):
    case = next(case for case in CORPUS if case.name == "bigtiff-exif.tif")
    source = tmp_path / case.name
    source.write_bytes(case.data)
    result = enhance_image_direct(source, "realesr-animevideov3", 1, model_manager=manager, output_dir=tmp_path / "o")
    data = result.output_path.read_bytes()
    with Image.open(io.BytesIO(data)) as out:
        exif = out.getexif()
        assert out.format == "PNG" and exif.get(0x010F) == "Canon" and exif.get(0x0112) == 1
        assert 273 not in exif and 256 not in exif
    body = data[data.index(b"eXIf") + 4:]
    assert body[:4] in (b"II*\x00", b"MM\x00*")  # a classic TIFF header, never BigTIFF's
