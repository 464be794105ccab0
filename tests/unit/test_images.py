import io

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from utils.errors import InvalidInput
from utils.images import decode_image, encode_image, read_image, resize, save_image

from tests.conftest import TESTDATA, needs_testdata


def png_bytes(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **options)
    return buffer.getvalue()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_like_pillow(orientation):
    pixels = np.arange(12 * 7 * 3, dtype=np.uint8).reshape(12, 7, 3)
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = orientation
    data = png_bytes(image, exif=exif.tobytes())
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))))
    assert np.array_equal(decode_image(data).pixels, expected)


def test_16bit_rgba_png_round_trips_exactly(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 65536, size=(9, 11, 4), dtype=np.uint16)
    path = save_image(tmp_path / "deep.png", pixels, "png")
    decoded = read_image(path)
    assert decoded.bit_depth == 16 and np.array_equal(decoded.pixels, pixels)


def test_dark_16bit_image_stays_16bit(tmp_path):
    pixels = np.full((5, 5, 3), 100, dtype=np.uint16)  # max < 256: the reference calls this 8-bit
    decoded = read_image(save_image(tmp_path / "dark.png", pixels, "png"))
    assert decoded.pixels.dtype == np.uint16 and decoded.pixels.max() == 100


def test_gray_and_gray_alpha_keep_their_channels(tmp_path):
    gray = Image.fromarray(np.tile(np.arange(16, dtype=np.uint8) * 16, (4, 1)), "L")
    assert decode_image(png_bytes(gray)).pixels.ndim == 2
    la = decode_image(png_bytes(gray.convert("LA")))
    assert la.pixels.shape == (4, 16, 2) and la.has_alpha
    path = save_image(tmp_path / "la.png", la.pixels, "png")
    assert np.array_equal(read_image(path).pixels, la.pixels)


def test_palette_with_transparency_becomes_rgba():
    image = Image.new("P", (6, 6), 1)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.info["transparency"] = 1
    decoded = decode_image(png_bytes(image, transparency=1))
    assert decoded.pixels.shape == (6, 6, 4) and decoded.pixels[..., 3].max() == 0


def test_cmyk_jpeg_becomes_rgb():
    buffer = io.BytesIO()
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(buffer, "JPEG", quality=95)
    decoded = decode_image(buffer.getvalue())
    assert decoded.pixels.shape == (8, 8, 3)
    r, g, b = decoded.pixels[4, 4].astype(int)
    assert r > 200 and g < 60 and b < 60  # red stays red


def test_animated_gif_uses_the_first_frame():
    frames = [Image.new("RGB", (5, 5), c) for c in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    decoded = decode_image(buffer.getvalue())
    assert decoded.frames == 2 and decoded.pixels[0, 0, 0] > 200


@pytest.mark.parametrize("data,phrase", [
    (b"", "empty"),
    (b"plain text that claims to be a png", "not an image"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "not an image"),
])
def test_non_images_are_refused_with_one_sentence(data, phrase):
    with pytest.raises(InvalidInput) as caught:
        decode_image(data, name="upload.png")
    assert phrase in str(caught.value) and "upload.png" in str(caught.value)


def test_truncated_png_is_refused(skimage_dir):
    data = (skimage_dir / "chelsea.png").read_bytes()
    with pytest.raises(InvalidInput, match="damaged or truncated"):
        decode_image(data[: len(data) // 2], name="cut.png")


def test_decompression_bomb_is_refused_before_decoding():
    # A valid PNG header declaring 100000 x 100000 pixels in a few hundred bytes.
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    with pytest.raises(InvalidInput) as caught:
        decode_image(data, name="bomb.png", max_pixels=50_000_000)
    assert "pixels" in str(caught.value) or "limit" in str(caught.value)


def test_pixel_limit_names_the_limit(skimage_dir):
    with pytest.raises(InvalidInput, match="MP limit"):
        read_image(skimage_dir / "chelsea.png", max_pixels=10_000)


def test_byte_limit(skimage_dir):
    with pytest.raises(InvalidInput, match="MB limit"):
        read_image(skimage_dir / "chelsea.png", max_bytes=1000)


def test_jpeg_flattens_alpha_and_webp_keeps_it():
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., 3] = 0
    jpg = Image.open(io.BytesIO(encode_image(rgba, "jpg")))
    assert jpg.mode == "RGB" and np.asarray(jpg).min() > 240  # transparent -> white background
    webp = Image.open(io.BytesIO(encode_image(rgba, "webp", quality=90)))
    assert webp.mode == "RGBA"


def test_webp_size_limit_is_explained():
    with pytest.raises(InvalidInput, match="16383"):
        encode_image(np.zeros((10, 16400, 3), dtype=np.uint8), "webp")


def test_icc_profile_is_written_into_png(tmp_path):
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    path = save_image(tmp_path / "icc.png", np.zeros((3, 3, 3), np.uint8), "png", icc_profile=profile)
    assert Image.open(path).info.get("icc_profile") == profile


def test_resize_keeps_dtype_and_layout():
    for pixels in (np.zeros((10, 10), np.uint8), np.zeros((10, 10, 2), np.uint16), np.zeros((10, 10, 4), np.uint8)):
        out = resize(pixels, 25, 15)
        assert out.shape[:2] == (15, 25) and out.dtype == pixels.dtype and out.ndim == pixels.ndim


@needs_testdata
def test_labelled_inputs_decode_with_their_layout():
    assert read_image(TESTDATA / "realesrgan/tree_alpha_16bit.png").pixels.shape[2] == 4
    assert read_image(TESTDATA / "realesrgan/tree_alpha_16bit.png").bit_depth == 16
    assert read_image(TESTDATA / "realesrgan/00017_gray.png").pixels.ndim == 2
