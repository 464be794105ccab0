"""Face restoration through the real loading code, with randomly initialised GFPGAN and
RestoreFormer weights (the real ones are 350 MB downloads) and the offline OpenCV detector."""
import logging

import numpy as np
import pytest
import torch

from engine.faces.detection import load_detector
from engine.faces.alignment import FFHQ_TEMPLATE, align_face, paste_face, square_mask
from engine.faces.restore import FaceOptions, blend_fidelity, restore_aligned_face, restore_faces
from engine.models.manager import ModelManager
from engine.jobs.image import enhance_image_direct
from utils.errors import InvalidInput
from utils.images import read_image

from tests.conftest import TESTDATA, needs_testdata

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def face_manager(tmp_path_factory, weights_dir):
    """A weights directory with stand-in GFPGANv1.4 and RestoreFormer files (random weights, saved
    in fp16 to halve the size), and the session's bundled upscalers linked in."""
    from spandrel.architectures.GFPGAN import GFPGAN
    from spandrel.architectures.RestoreFormer import RestoreFormer
    folder = tmp_path_factory.mktemp("face-weights")
    (weights_dir / "bundled").mkdir(exist_ok=True)
    (folder / "bundled").symlink_to(weights_dir / "bundled", target_is_directory=True)
    torch.manual_seed(0)
    gfpgan = GFPGAN(out_size=512, num_style_feat=512, channel_multiplier=2, decoder_load_path=None,
                    fix_decoder=False, num_mlp=8, input_is_latent=True, different_w=True, narrow=1, sft_half=True)
    torch.save({"params_ema": {k: v.half() for k, v in gfpgan.state_dict().items()}}, folder / "GFPGANv1.4.pth")
    former = RestoreFormer()
    torch.save({k: v.half() for k, v in former.state_dict().items()}, folder / "RestoreFormer.pth")
    # Stand-in weights cannot match the published checksums.
    return ModelManager(weights_dir=folder, verify_checksums=False, allow_downloads=False)


def changed_outside(a: np.ndarray, b: np.ndarray, boxes, scale: float, margin: int = 4) -> int:
    diff = np.any(a != b, axis=-1) if a.ndim == 3 else a != b
    inside = np.zeros_like(diff)
    for x0, y0, x1, y1 in boxes:
        inside[max(0, int(y0 * scale) - margin): int(y1 * scale) + margin,
               max(0, int(x0 * scale) - margin): int(x1 * scale) + margin] = True
    return int((diff & ~inside).sum())


def test_alignment_maps_the_landmarks_onto_the_template():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (300, 300, 3), dtype=np.uint8)
    landmarks = FFHQ_TEMPLATE * 0.4 + [40, 50]
    crop, matrix = align_face(image, landmarks)
    mapped = np.c_[landmarks, np.ones(5)] @ matrix.T
    assert crop.shape == (512, 512, 3) and np.abs(mapped - FFHQ_TEMPLATE).max() < 0.5


def test_paste_touches_only_the_face_box():
    target = np.zeros((400, 400, 3), np.uint8)
    landmarks = FFHQ_TEMPLATE * 0.2 + [20, 20]
    _, matrix = align_face(np.zeros((200, 200, 3), np.uint8), landmarks)
    paste_face(target, np.ones((512, 512, 3), np.float32), square_mask(), matrix, (2.0, 2.0))
    ys, xs = np.nonzero(target.any(axis=2))
    assert xs.min() >= 40 and ys.min() >= 40 and xs.max() <= 2 * (20 + 0.2 * 512) + 4


def test_fidelity_blends_restored_and_original():
    restored = np.ones((2, 2, 3), np.float32)
    original = np.zeros((2, 2, 3), np.uint8)
    assert np.allclose(blend_fidelity(restored, original, 0.25), 0.75)
    assert blend_fidelity(restored, original, 0.0) is restored


@pytest.mark.parametrize("restorer", ["GFPGANv1.4", "RestoreFormer"])
def test_whole_image_faces_found_and_only_faces_changed(face_manager, restorer):
    from skimage import data
    photo = data.astronaut()  # one real face, 512x512
    upscaled = np.repeat(np.repeat(photo, 2, axis=0), 2, axis=1)
    out, count = restore_faces(photo, upscaled, model_manager=face_manager, options=FaceOptions(restorer=restorer))
    assert count >= 1 and out.shape == upscaled.shape
    assert not np.array_equal(out, upscaled)
    # the astronaut's face is in the upper middle; the bottom third is far from it and untouched
    assert np.array_equal(out[700:], upscaled[700:])


def test_without_retinaface_weights_the_opencv_detector_is_used_and_logged(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    detector = load_detector(ModelManager(weights_dir=tmp_path, allow_downloads=False), torch.device("cpu"))
    assert detector.name == "opencv" and "Haar cascade" in caplog.text


def test_image_without_faces_is_unchanged(face_manager):
    from skimage import data
    coffee = data.coffee()
    out, count = restore_faces(coffee, coffee.copy(), model_manager=face_manager)
    assert count == 0 and np.array_equal(out, coffee)


def test_centre_face_and_maximum(face_manager):
    from skimage import data
    photo = np.hstack([data.astronaut(), data.astronaut()])
    up = photo.copy()
    _, many = restore_faces(photo, up, model_manager=face_manager, options=FaceOptions(max_faces=5))
    _, one = restore_faces(photo, up, model_manager=face_manager, options=FaceOptions(only_center_face=True))
    assert many >= 2 and one == 1


def test_bad_options_are_refused(face_manager):
    with pytest.raises(InvalidInput, match="restorer"):
        FaceOptions(restorer="GFPGANv9").checked()
    with pytest.raises(InvalidInput, match="fidelity"):
        FaceOptions(fidelity=2).checked()


@needs_testdata
def test_aligned_mode_on_cropped_faces(face_manager, tmp_path):
    face = read_image(TESTDATA / "gfpgan/cropped_faces/Adele_crop.png").pixels
    restored = restore_aligned_face(face, model_manager=face_manager, options=FaceOptions(aligned=True))
    assert restored.shape == face.shape and restored.dtype == face.dtype
    result = enhance_image_direct(TESTDATA / "gfpgan/cropped_faces/Julia_Roberts_crop.png", "realesr-animevideov3",
                                  1, model_manager=face_manager, output_dir=tmp_path, face_enhance=True,
                                  face_options={"aligned": True, "restorer": "RestoreFormer"})
    assert result.image.shape == (512, 512, 3) and result.metrics["faces"] == "1"


@needs_testdata
@pytest.mark.parametrize("name,expected_faces", [("realesrgan/children-alpha.png", 5),
                                                 ("gfpgan/whole_imgs/10045.png", 3)])
def test_labelled_photos_through_the_processor(face_manager, tmp_path, name, expected_faces):
    plain = enhance_image_direct(TESTDATA / name, "realesr-animevideov3", 2, model_manager=face_manager, save=False)
    faced = enhance_image_direct(TESTDATA / name, "realesr-animevideov3", 2, model_manager=face_manager,
                                 face_enhance=True, output_dir=tmp_path)
    assert faced.image.shape == plain.image.shape
    found = int(faced.metrics["faces"])
    assert found >= max(1, expected_faces - 2)
    from engine.faces.detection import OpenCVDetector, detect_faces
    from utils.images import to_rgb8
    boxes = [f.box for f in detect_faces(OpenCVDetector(), to_rgb8(read_image(TESTDATA / name).pixels))]
    # Faces are pasted within their aligned square, which reaches beyond the detector's box.
    grown = [(x0 - (x1 - x0), y0 - (y1 - y0), x1 + (x1 - x0), y1 + (y1 - y0)) for x0, y0, x1, y1 in boxes]
    assert changed_outside(faced.image, plain.image, grown, 2.0) == 0
    if plain.image.ndim == 3 and plain.image.shape[2] == 4:
        assert np.array_equal(faced.image[..., 3], plain.image[..., 3])  # alpha untouched


@needs_testdata
@pytest.mark.parametrize("name", ["gfpgan/whole_imgs/00.jpg", "gfpgan/whole_imgs/Blake_Lively.jpg"])
def test_whole_images_restore_onto_the_upscale(face_manager, name):
    photo = read_image(TESTDATA / name).pixels
    upscaled = np.repeat(np.repeat(photo, 2, axis=0), 2, axis=1)
    out, count = restore_faces(photo, upscaled, model_manager=face_manager)
    assert count >= 1 and out.shape == upscaled.shape and not np.array_equal(out, upscaled)
    from engine.faces.detection import OpenCVDetector, detect_faces
    boxes = [f.box for f in detect_faces(OpenCVDetector(), photo)]
    grown = [(x0 - (x1 - x0), y0 - (y1 - y0), x1 + (x1 - x0), y1 + (y1 - y0)) for x0, y0, x1, y1 in boxes]
    assert changed_outside(out, upscaled, grown, 2.0) == 0
