"""Colour profile and camera data survive the upscale (orientation reset), or are stripped on request."""
import io

import numpy as np
import pytest
from PIL import Image, ImageCms

from engine.jobs.image import enhance_image_direct

from tests.conftest import TESTDATA, needs_testdata

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.fixture
def camera_jpeg(tmp_path, chelsea):
    image = Image.fromarray(chelsea[:24, :40])
    exif = image.getexif()
    exif[0x010F] = "Canon"  # Make
    exif[0x0110] = "EOS Test"  # Model
    exif[0x0112] = 6  # rotated: the file stores it sideways
    path = tmp_path / "camera.jpg"
    image.save(path, "JPEG", quality=95, exif=exif.tobytes(), icc_profile=SRGB)
    return path


@pytest.mark.parametrize("fmt", ["jpg", "png", "webp"])
def test_exif_and_icc_are_kept_with_orientation_reset(camera_jpeg, tmp_path, manager, fmt):
    result = enhance_image_direct(camera_jpeg, "realesr-animevideov3", 2, model_manager=manager,
                                  output_dir=tmp_path / "out", output_format=fmt)
    out = Image.open(result.output_path)
    assert out.size == (48, 80)  # 24x40 stored, rotated by EXIF to 40x24... then x2
    exif = out.getexif()
    assert exif.get(0x010F) == "Canon" and exif.get(0x0110) == "EOS Test" and exif.get(0x0112) == 1
    assert out.info.get("icc_profile") == SRGB


def test_strip_metadata_removes_both(camera_jpeg, tmp_path, manager):
    result = enhance_image_direct(camera_jpeg, "realesr-animevideov3", 1, model_manager=manager,
                                  output_dir=tmp_path / "out", strip_metadata=True)
    out = Image.open(result.output_path)
    assert not out.getexif() and "icc_profile" not in out.info


@needs_testdata
def test_a_real_images_icc_profile_is_kept_byte_for_byte(tmp_path, manager):
    source = TESTDATA / "realesrgan/tree_alpha_16bit.png"
    original = Image.open(source).info["icc_profile"]
    result = enhance_image_direct(source, "realesr-animevideov3", 1, model_manager=manager, output_dir=tmp_path)
    assert Image.open(result.output_path).info["icc_profile"] == original


def test_png_with_chunks_stays_a_valid_png(tmp_path):
    from utils.images import encode_image
    data = encode_image(np.zeros((4, 4, 3), np.uint8), "png", icc_profile=SRGB, exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x00")
    decoded = Image.open(io.BytesIO(data))
    decoded.load()  # raises on a broken chunk
    assert decoded.size == (4, 4) and not np.asarray(decoded).any()
    assert decoded.info["icc_profile"] == SRGB
