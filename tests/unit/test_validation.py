import pytest
from PIL import Image

from utils.validation import (sanitize_filename, validate_image_file, validate_model_name, validate_pil_image,
                              validate_scale, validate_tile_size, validate_video_file)


@pytest.mark.parametrize("raw,expected", [
    ("photo.png", "photo.png"),
    ("../../etc/passwd", "passwd"),
    ("/etc/shadow", "shadow"),
    ("..\\..\\windows\\win.ini", "win.ini"),
    ("evil\x00.png", "evil.png"),
    ("..", "image"),
    ("", "image"),
    ("   ", "image"),
    ("CON.png", "_CON.png"),
    ("nul", "_nul"),
    ("a<b>c:d|e?.jpg", "abcde.jpg"),
    ("Fotografía ñ 照片.png", "Fotografía ñ 照片.png"),
    ("line\nbreak.png", "linebreak.png"),
])
def test_sanitize_filename_defeats_traversal_and_reserved_names(raw, expected):
    assert sanitize_filename(raw) == expected


def test_sanitize_filename_bounds_length_and_keeps_extension():
    name = sanitize_filename("x" * 500 + ".png")
    assert len(name) <= 120 and name.endswith(".png")


@pytest.mark.parametrize("scale,ok", [(2, True), (3, True), (4, True), (1, False), (8, False), ("4", False),
                                      (True, False)])
def test_validate_scale(scale, ok):
    assert validate_scale(scale)[0] is ok


@pytest.mark.parametrize("tile,ok", [(0, True), (32, True), (400, True), (4096, True), (16, False), (-1, False),
                                     (5000, False), (1.5, False)])
def test_validate_tile_size(tile, ok):
    valid, message = validate_tile_size(tile)
    assert valid is ok and (message == "") is ok


def test_validate_image_file_accepts_a_real_image(skimage_dir):
    assert validate_image_file(skimage_dir / "chelsea.png") == (True, "")


def test_validate_image_file_rejects_missing_text_and_oversized(tmp_path, skimage_dir):
    assert validate_image_file(tmp_path / "nope.png")[0] is False
    fake = tmp_path / "fake.png"
    fake.write_text("this is not an image")
    ok, message = validate_image_file(fake)
    assert not ok and "not an image" in message

    class Limits:
        MAX_IMAGE_SIZE_MB = 100
        MAX_IMAGE_PIXELS = 1000
    ok, message = validate_image_file(skimage_dir / "chelsea.png", Limits)
    assert not ok and "MP limit" in message


def test_validate_pil_image():
    assert validate_pil_image(Image.new("RGB", (4, 4))) == (True, "")
    assert validate_pil_image(None)[0] is False
    assert validate_pil_image("image.png")[0] is False
    assert validate_pil_image(Image.new("RGB", (100, 100)), max_pixels=50)[0] is False


def test_validate_model_name_lists_choices():
    ok, message = validate_model_name("nope", ["a", "b"])
    assert not ok and "a, b" in message
    assert validate_model_name("a", ["a"]) == (True, "")


def test_validate_video_file(tmp_path):
    bogus = tmp_path / "clip.mp4"
    bogus.write_bytes(b"hello world, not a video at all" * 3)
    assert validate_video_file(bogus)[0] is False
    assert validate_video_file(tmp_path / "clip.txt")[0] is False
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert "empty" in validate_video_file(empty)[1]
    real = tmp_path / "real.mp4"
    real.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 100)
    assert validate_video_file(real) == (True, "")
