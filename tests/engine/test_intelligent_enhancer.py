"""The analyser's behaviour: measurements move the right way, recommendations fit the machine."""
import io

import numpy as np
import pytest
from PIL import Image

from engine.analysis.content import ContentGuess, analysis_copy, content_model, preview
from engine.intelligent_enhancer import (GENERAL_MODEL, NOISY_SIGMA, IntelligentEnhancer, classify_content,
                                         estimate_noise_sigma, jpeg_blockiness)
from engine.models.manager import ModelManager
from utils.images import read_image

from tests.conftest import TESTDATA, needs_testdata

SCALES = (1.0, 0.75, 0.5, 0.25)


@pytest.fixture(scope="module")
def enhancer(weights_dir):
    return IntelligentEnhancer(ModelManager(weights_dir=weights_dir, allow_downloads=False))


def noisy(rgb: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(rgb + rng.normal(0, sigma, rgb.shape)), 0, 255).astype(np.uint8)


def test_a_noisier_copy_scores_higher(enhancer, chelsea):
    levels = [enhancer.analyze_noise_level(noisy(chelsea, s)) for s in (0, 5, 10, 20)]
    assert levels == sorted(levels) and levels[-1] > levels[0] + 0.3


@pytest.mark.parametrize("sigma", [5, 10, 15, 25])
def test_noise_sigma_is_estimated_in_0_255_units(chelsea, sigma):
    assert abs(estimate_noise_sigma(noisy(chelsea, sigma)) - sigma) < 2.5


def test_heavy_jpeg_is_blockier(chelsea):
    def jpeg(quality):
        buffer = io.BytesIO()
        Image.fromarray(chelsea).save(buffer, "JPEG", quality=quality)
        return np.asarray(Image.open(buffer))
    assert jpeg_blockiness(jpeg(5)) > jpeg_blockiness(jpeg(95)) + 0.2


def test_result_has_the_seed_shape(enhancer, chelsea):
    result = enhancer.get_intelligent_settings(chelsea)
    assert set(result) == {"settings", "reasoning", "analysis"}
    assert set(result["settings"]) == {"model", "scale", "fp32", "face_enhance", "tile", "auto_tile",
                                       "denoise_strength"}
    assert {"content_type", "faces", "noise_level", "resolution", "optimal_tile"} <= set(result["analysis"])
    assert result["analysis"]["resolution"] == "451x300"
    assert all(isinstance(line, str) and line for line in result["reasoning"])


def test_never_recommends_weights_the_machine_lacks(enhancer, chelsea):
    result = enhancer.get_intelligent_settings(noisy(chelsea, 20))
    assert result["analysis"]["noise_sigma"] > 10
    assert result["settings"]["model"] != "realesr-general-x4v3"  # not downloaded here
    assert any("realesr-general-x4v3" in line and "not downloaded" in line for line in result["reasoning"])


def test_faces_without_restorer_weights_say_how_to_get_them(enhancer, skimage_dir):
    result = enhancer.get_intelligent_settings(read_image(skimage_dir / "astronaut.png").pixels)
    assert result["analysis"]["faces"] >= 1 and result["settings"]["face_enhance"] is False
    assert any("GFPGANv1.4.pth" in line for line in result["reasoning"])


def test_small_and_large_images_get_scale_advice(enhancer, chelsea):
    small = enhancer.get_intelligent_settings(chelsea[:100, :100])
    assert small["settings"]["scale"] == 4 and any("small" in line for line in small["reasoning"])
    large = enhancer.get_intelligent_settings(np.tile(chelsea, (8, 6, 1)))  # 2706x2400, 6.5 MP
    assert large["settings"]["scale"] == 2


def test_output_pixel_limit_caps_the_scale(weights_dir, chelsea):
    strict = IntelligentEnhancer(ModelManager(weights_dir=weights_dir), max_output_pixels=451 * 300 * 4)
    assert strict.get_intelligent_settings(chelsea)["settings"]["scale"] == 2


def test_grayscale_content_is_treated_as_a_photo(enhancer, skimage_dir):
    assert enhancer.detect_content_type(skimage_dir / "camera.png") == "photo"


def test_seed_methods_accept_paths_pil_and_arrays(enhancer, skimage_dir, chelsea):
    assert enhancer.detect_faces(Image.fromarray(chelsea)) == 0
    assert enhancer.detect_content_type(chelsea) in ("anime", "photo")
    assert 0 <= enhancer.analyze_noise_level(skimage_dir / "coffee.png") <= 1
    assert enhancer.calculate_optimal_tile(chelsea) == 0  # fits in memory whole


def labelled_images():
    import csv
    from tests.conftest import TESTDATA
    labels = TESTDATA / "LABELS.csv"
    if not labels.is_file():
        return []
    return [pytest.param(row, id=row["path"]) for row in csv.DictReader(labels.open())
            if not row["path"].endswith(".mp4")]


@pytest.mark.parametrize("row", labelled_images())
def test_each_labelled_image_gets_its_type_and_no_false_faces(enhancer, row):
    analysis = enhancer.get_intelligent_settings(TESTDATA / row["path"])["analysis"]
    assert analysis["content_type"] == row["content_type"]
    if row["faces"] == "0" and row["content_type"] == "photo":
        assert analysis["faces"] == 0


@needs_testdata
def test_frames_of_the_labelled_anime_video_are_anime(enhancer):
    import av
    with av.open(str(TESTDATA / "realesrgan/video/onepiece_demo.mp4")) as container:
        frames = [f.to_ndarray(format="rgb24") for i, f in enumerate(container.decode(video=0)) if i in (10, 100, 170)]
    assert [enhancer.detect_content_type(frame) for frame in frames] == ["anime"] * 3


@needs_testdata
def test_only_the_opaque_pixels_count(enhancer, skimage_dir):
    # a cartoon whose transparent surroundings hide a photo is a cartoon (all pixels: a photo)
    cartoon = read_image(TESTDATA / "realesrgan/0014.jpg").pixels
    canvas = np.zeros((400, 600, 4), np.uint8)
    canvas[..., :3] = read_image(skimage_dir / "coffee.png").pixels
    canvas[100:279, 200:379, :3] = cartoon
    canvas[100:279, 200:379, 3] = 255
    assert enhancer.detect_content_type(canvas) == "anime"
    assert enhancer.detect_content_type(np.ascontiguousarray(canvas[..., :3])) == "photo"


def scaled(pixels: np.ndarray, scale: float) -> np.ndarray:
    """A copy resized by Pillow (area-averaging), independent of the analyser's own resizing."""
    if scale == 1.0:
        return pixels
    image = Image.fromarray(pixels)
    return np.asarray(image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BOX))


@pytest.mark.parametrize("row", labelled_images())
def test_each_labelled_image_gets_one_type_at_every_size(row):
    pixels = read_image(TESTDATA / row["path"]).pixels
    if pixels.dtype != np.uint8:  # Pillow resizes 8-bit images; the 16-bit one is checked at full size above
        pixels = (pixels // 257).astype(np.uint8)
    types = [classify_content(scaled(pixels, s)).content_type for s in SCALES]
    assert types == [row["content_type"]] * len(SCALES)


@needs_testdata
def test_the_resized_two_person_photo_is_a_photo(enhancer):
    # the example: 350x232, once read as "anime (87%)" with the anime model recommended
    photo = read_image(TESTDATA / "gfpgan/whole_imgs/Blake_Lively.jpg").pixels
    small = np.asarray(Image.fromarray(photo).resize((350, 232), Image.Resampling.LANCZOS))
    for pixels in (photo, small):
        result = enhancer.get_intelligent_settings(pixels)
        assert result["analysis"]["content_type"] == "photo"
        assert result["settings"]["model"] != "RealESRGAN_x4plus_anime_6B"


@pytest.mark.parametrize("name", ["brick.png", "gravel.png"])
def test_clean_texture_is_not_noise(enhancer, skimage_dir, name):
    texture = read_image(skimage_dir / name).pixels
    assert estimate_noise_sigma(texture) <= 4
    assert 10 <= estimate_noise_sigma(noisy(np.repeat(texture[..., None], 3, axis=2), 15)) <= 20
    result = enhancer.get_intelligent_settings(texture)
    assert result["analysis"]["noise_sigma"] < NOISY_SIGMA
    assert not any("noise" in line and "remove" in line for line in result["reasoning"])


@pytest.mark.parametrize("name, scale", [("gravel.png", 0.5), ("gravel.png", 0.25), ("grass.png", 0.5)])
def test_texture_made_finer_by_downscaling_is_not_noise(skimage_dir, name, scale):
    # area-averaging halves sensor noise but makes texture finer: at 50 % tiles of these once
    # read sigma 6.3 (gravel) and 5.8 (grass), gravel at 25 % 8.3
    small = scaled(read_image(skimage_dir / name).pixels, scale)
    tile = small[:128, :128]
    for pixels in (small, tile):
        assert estimate_noise_sigma(pixels) <= 4
        assert 10 <= estimate_noise_sigma(noisy(pixels, 15)) <= 20


def test_noise_on_flat_content_is_measured_at_every_level(skimage_dir):
    # the sky of the astronaut photo: smooth, so the added noise is nearly all there is
    sky = read_image(skimage_dir / "astronaut.png").pixels[10:138, 360:488]
    for sigma in (2, 5, 10, 25):
        assert abs(estimate_noise_sigma(noisy(sky, sigma, seed=sigma)) - sigma) <= max(1.0, 0.1 * sigma)


def test_clean_fur_is_not_noise_and_added_noise_is_measured(chelsea):
    fur = chelsea[50:250, 150:350]  # the cat's fur and whiskers
    assert estimate_noise_sigma(fur) <= 4
    assert 10 <= estimate_noise_sigma(noisy(fur, 15)) <= 20


def test_unclear_content_gets_the_general_model_and_says_what_to_do(enhancer):
    for guess in (ContentGuess("anime", 0.6, {}, clear=False), ContentGuess("photo", 0.55, {}, clear=False)):
        settings = {"model": None, "denoise_strength": 0.5}
        reasons = enhancer._model_reasons(guess, 1.0, settings)
        assert settings["model"] == GENERAL_MODEL
        assert reasons[0].startswith("Content unclear") and "general-purpose" in reasons[0]
        assert any("Model list" in line for line in reasons)  # what to do in the UI


def test_grayscale_content_is_unclear_and_gets_the_general_model(enhancer, skimage_dir):
    result = enhancer.get_intelligent_settings(skimage_dir / "camera.png")
    assert result["analysis"]["content_type"] == "photo" and result["analysis"]["content_clear"] is False
    assert result["settings"]["model"] == GENERAL_MODEL
    assert result["reasoning"][0].startswith("Content unclear")


def test_clear_means_at_least_the_fitted_threshold(skimage_dir, chelsea):
    threshold = content_model()["threshold"]
    assert 0.5 < threshold < 1
    for pixels in (chelsea, read_image(skimage_dir / "coffee.png").pixels, chelsea[::4, ::4]):
        guess = classify_content(pixels)
        assert guess.clear == (guess.confidence >= threshold)


def test_reasons_are_plain_words_without_commands(enhancer, chelsea):
    for pixels in (chelsea, noisy(chelsea, 20)):
        result = enhancer.get_intelligent_settings(pixels)
        text = " ".join(result["reasoning"])
        assert "python" not in text and "main.py" not in text and " --" not in text
        assert result["reasoning"][0].startswith(("The image looks like", "Content unclear"))
        assert "noise" in result["reasoning"][0]


def test_an_image_smaller_than_any_training_copy_is_unclear(enhancer, chelsea):
    tiny = chelsea[100:120, 200:230]  # 30x20: the fit saw nothing under 45 px
    assert classify_content(tiny).clear is False
    result = enhancer.get_intelligent_settings(tiny)
    assert result["settings"]["model"] == GENERAL_MODEL and "too small" in result["reasoning"][0]


@needs_testdata
def test_frames_after_the_cut_get_one_type_at_every_size():
    # frames 100-108 of the labelled video once flipped: their 160 px (25 %) copy, reduced to the
    # 128 px analysis size by only 1.25, was softer than the others, and thin lines read lighter
    import av
    with av.open(str(TESTDATA / "realesrgan/video/onepiece_demo.mp4")) as container:
        frames = [f.to_ndarray(format="rgb24") for i, f in enumerate(container.decode(video=0)) if i in (100, 104, 108)]
    for frame in frames:
        assert {classify_content(scaled(frame, s)).content_type for s in SCALES} == {"anime"}


def test_the_analysis_copy_does_not_depend_on_the_starting_size(chelsea):
    # a 160 px copy reduced by only 1.25 to the 128 px analysis size, and a 1804 px one reduced
    # by 14, come out alike (without the common blur they differed by 1.5 levels on average)
    big = np.asarray(Image.fromarray(chelsea).resize((1804, 1200), Image.Resampling.LANCZOS))
    near = np.asarray(Image.fromarray(big).resize((160, 106), Image.Resampling.BOX))
    far, close = analysis_copy(big)[0], analysis_copy(near)[0]
    assert far.shape == close.shape == (85, 128, 3)
    assert np.abs(far.astype(int) - close.astype(int)).mean() < 0.8


def test_a_large_image_is_reduced_once_and_answers_as_it_would_whole(enhancer, skimage_dir):
    # the analyser classifies a preview reduced by a whole factor (shared with face detection);
    # the answer is the one the whole image gets
    coffee = read_image(skimage_dir / "coffee.png").pixels
    big = np.asarray(Image.fromarray(coffee).resize((2401, 1602), Image.Resampling.BICUBIC))
    small, _ = preview(big)
    assert small.shape == (801, 1200, 3)  # by 2: the last column does not fill a block
    blocks = big[:1602, :2400].reshape(801, 2, 1200, 2, 3).mean(axis=(1, 3))
    assert np.abs(small - blocks).max() <= 0.5 + 1e-9  # each pixel the mean of its 2x2 block
    assert np.array_equal(analysis_copy(big)[0], analysis_copy(small)[0])
    whole = classify_content(big)
    analysis = enhancer.get_intelligent_settings(big)["analysis"]
    assert (analysis["content_type"], analysis["content_confidence"]) == (whole.content_type, whole.confidence)


def test_a_long_thin_strip_is_analysed(enhancer, chelsea):
    strip = np.ascontiguousarray(np.tile(chelsea[:3], (1, 9, 1)))  # 3x4059: thinner than its reduction
    assert preview(strip)[0].shape == (1, 1014, 3)
    result = enhancer.get_intelligent_settings(strip)
    assert result["analysis"]["resolution"] == "4059x3" and result["settings"]["model"]


@needs_testdata
@pytest.mark.parametrize("path, faces", [("realesrgan/children-alpha.png", 5), ("gfpgan/whole_imgs/00.jpg", 2),
                                         ("gfpgan/whole_imgs/10045.png", 3)])
def test_faces_are_counted_in_group_photos(enhancer, path, faces):
    # the labelled counts (LABELS.csv); 00.jpg is 1920 px, counted on the shared 1280 px preview
    assert enhancer.get_intelligent_settings(TESTDATA / path)["analysis"]["faces"] == faces


@needs_testdata
def test_real_images_the_model_is_unsure_of_get_the_general_model():
    # the labelled images at 4 sizes: some are below the fitted threshold, and each of those is
    # told "content unclear" and given the general-purpose model
    enhancer = IntelligentEnhancer()
    unclear = 0
    for param in labelled_images():
        pixels = read_image(TESTDATA / param.values[0]["path"]).pixels
        if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
            continue
        for s in SCALES:
            guess = classify_content(scaled(pixels, s))
            if guess.clear:
                continue
            unclear += 1
            settings = {"model": None, "denoise_strength": 0.5}
            reasons = enhancer._model_reasons(guess, 1.0, settings)
            assert settings["model"] == GENERAL_MODEL and reasons[0].startswith("Content unclear")
    assert unclear >= 1
