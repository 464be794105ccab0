"""Fine-tuning: the degradation, the data, a real (tiny) training run of the bundled
realesr-animevideov3 on real photos, resume, cancel, the saved custom model, the CLI."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.models.manager import ModelManager
from engine.training import TrainingRequest, train_model
from engine.training import degradation as deg
from engine.training.data import ImageSource, sample_batch, split_images
from engine.training.losses import ssim, training_loss
from engine.training.validation import to_tensor
from utils.errors import Cancelled, InvalidInput, ModelUnsupported, WeightsMissing

from tests.conftest import TESTDATA, needs_testdata

BASE = "realesr-animevideov3"
TINY = dict(steps=16, patch_px=32, batch_size=2, seed=3, learning_rate=1e-4, validation_crop_px=64,
            checkpoint_every=100)
PHOTOS = ("chelsea.png", "coffee.png", "astronaut.png", "rocket.jpg")


@pytest.fixture(autouse=True, scope="module")
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(min(2, before))
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory, skimage_dir) -> Path:
    """Four real photos, cut to 96x96 so the run stays tiny (PNG and one JPEG, as a user's folder)."""
    folder = tmp_path_factory.mktemp("sharp")
    for name in PHOTOS:
        image = Image.open(skimage_dir / name).convert("RGB")
        left, top = (image.width - 96) // 2, (image.height - 96) // 2
        crop = image.crop((left, top, left + 96, top + 96))
        crop.save(folder / (Path(name).stem + (".jpg" if name.endswith(".jpg") else ".png")), quality=95)
    return folder


@pytest.fixture(scope="module")
def train_manager(tmp_path_factory, weights_dir, manager) -> ModelManager:
    """A weights folder of its own (its custom/ must not leak into other tests' model lists), given
    the bundled model the session already converted."""
    manager.load_model(BASE)
    own = tmp_path_factory.mktemp("train-weights")
    shutil.copytree(weights_dir / "bundled", own / "bundled")
    return ModelManager(weights_dir=own, allow_downloads=False)


@pytest.fixture(scope="module")
def tiny_run(train_manager, photo_folder, tmp_path_factory):
    work = tmp_path_factory.mktemp("work")
    request = TrainingRequest(folder=photo_folder, name="tiny", **TINY)
    return request, train_model(request, manager=train_manager, work_dir=work / "tiny")


# -- degradation -------------------------------------------------------------------------------
def test_kernels_sum_to_one_and_match_their_definitions():
    iso = deg.gaussian_kernel(9, 1.5, 1.5)
    one_d = np.exp(-0.5 * (np.arange(-4, 5) / 1.5) ** 2)
    assert np.allclose(iso, np.outer(one_d, one_d) / np.outer(one_d, one_d).sum(), atol=1e-6)
    for kernel in (iso, deg.generalized_gaussian_kernel(11, 2, 1, 0.5, 3.0), deg.plateau_kernel(7, 1, 2, 1.0, 1.5),
                   deg.sinc_kernel(21, np.pi / 4)):
        assert kernel.dtype == np.float32 and kernel.shape[0] == kernel.shape[1] and kernel.shape[0] % 2 == 1
        assert abs(float(kernel.sum()) - 1) < 1e-5
    aniso = deg.gaussian_kernel(15, 3.0, 0.5, 0.0)
    assert aniso[7, :].sum() > 3 * aniso[:, 7].sum()  # wide along x, narrow along y


def test_sinc_kernel_is_a_low_pass_with_its_cutoff():
    kernel = deg.sinc_kernel(21, np.pi / 4)
    response = np.abs(np.fft.fft2(kernel, (128, 128)))
    # frequency pi/8 (16 of 128 bins) passes, pi/2 (32 bins... 64 is Nyquist) is stopped
    assert response[0, 0] == pytest.approx(1, abs=1e-5)
    assert response[0, 8] > 0.8 and response[0, 32] < 0.1


def test_degrade_is_deterministic_and_gives_the_low_resolution_shape():
    hr = np.random.default_rng(0).random((64, 48, 3), dtype=np.float32)
    one = deg.degrade(hr, 4, np.random.default_rng(11))
    again = deg.degrade(hr, 4, np.random.default_rng(11))
    other = deg.degrade(hr, 4, np.random.default_rng(12))
    assert one.shape == (16, 12, 3) and one.dtype == np.float32
    assert 0 <= one.min() and one.max() <= 1
    assert np.array_equal(one, again) and not np.array_equal(one, other)
    with pytest.raises(ValueError):
        deg.degrade(hr[:63], 4, np.random.default_rng(0))


def test_noise_and_jpeg_do_what_they_say():
    flat = np.full((200, 200, 3), 0.5, np.float32)
    rng = np.random.default_rng(5)
    noisy = deg.add_gaussian_noise(flat, 10, False, rng)
    assert np.std(noisy - flat) * 255 == pytest.approx(10, rel=0.03)
    gray = deg.add_gaussian_noise(flat, 10, True, rng)
    assert np.array_equal(gray[..., 0], gray[..., 2])  # one noise for every channel
    shot = deg.add_poisson_noise(flat, 1.0, False, rng)
    assert abs(float(np.mean(shot - flat))) < 0.005 and np.std(shot - flat) > 0.005
    photo = np.random.default_rng(1).random((32, 32, 3)).astype(np.float32)
    assert np.abs(deg.jpeg(photo, 10) - photo).mean() > np.abs(deg.jpeg(photo, 100) - photo).mean()


def test_ssim_agrees_with_scikit_image():
    from skimage.metrics import structural_similarity
    rng = np.random.default_rng(2)
    a = rng.random((40, 50, 3))
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1)
    ours = float(ssim(to_tensor(a.astype(np.float32), torch.device("cpu")),
                      to_tensor(b.astype(np.float32), torch.device("cpu"))))
    assert ours == pytest.approx(structural_similarity(a, b, channel_axis=2, data_range=1), abs=1e-5)


# -- data --------------------------------------------------------------------------------------
def test_split_holds_back_the_last_images_and_needs_two(tmp_path):
    paths = [tmp_path / f"{i:03d}.png" for i in range(20)]
    split = split_images(paths, 0.1)
    assert split.validation == tuple(paths[-2:]) and split.train == tuple(paths[:-2])
    with pytest.raises(InvalidInput, match="at least 2 images"):
        split_images(paths[:1])


def test_batches_depend_only_on_seed_and_step(photo_folder):
    source = ImageSource(sorted(photo_folder.iterdir()), 32)
    lr, hr = sample_batch(source, seed=1, step=5, batch_size=3, patch_px=32, scale=4)
    lr2, hr2 = sample_batch(ImageSource(sorted(photo_folder.iterdir()), 32), seed=1, step=5, batch_size=3,
                            patch_px=32, scale=4)
    assert lr.shape == (3, 8, 8, 3) and hr.shape == (3, 32, 32, 3)
    assert np.array_equal(lr, lr2) and np.array_equal(hr, hr2)
    assert not np.array_equal(hr, sample_batch(source, seed=1, step=6, batch_size=3, patch_px=32, scale=4)[1])


# -- training ----------------------------------------------------------------------------------
def test_training_lowers_the_loss_on_its_batches(tiny_run, train_manager, photo_folder):
    """The saved model (loaded back through the ModelManager) fits the training batches better than
    the starting model: the loss fell over the run."""
    request, result = tiny_run
    base = train_manager.load_model(BASE, "cpu", fp32=True).descriptor.model
    tuned = train_manager.load_model(result.model_name, "cpu", fp32=True).descriptor.model
    source = ImageSource(sorted(photo_folder.iterdir())[:-1], 32)

    def mean_loss(net) -> float:
        with torch.no_grad():
            return float(np.mean([float(training_loss(net(to_tensor(lr, torch.device("cpu"))),
                                                      to_tensor(hr, torch.device("cpu"))))
                                  for lr, hr in (sample_batch(source, seed=request.seed, step=s, batch_size=2,
                                                              patch_px=32, scale=4) for s in range(request.steps))]))
    before, after = mean_loss(base), mean_loss(tuned)
    assert after < before * 0.97, (before, after)
    assert len(result.losses) == request.steps and all(np.isfinite(result.losses))


def test_the_result_is_a_custom_model_every_tab_can_use(tiny_run, train_manager, skimage_dir, tmp_path):
    from engine.jobs.image import enhance_image_direct
    _, result = tiny_run
    assert result.model_name == "custom/tiny" and result.model_name in train_manager.upscaler_names()
    assert result.model_path.suffix == ".safetensors"
    source = Image.open(skimage_dir / "chelsea.png").convert("RGB").crop((100, 60, 140, 92))
    source.save(tmp_path / "cat.png")
    out = enhance_image_direct(tmp_path / "cat.png", result.model_name, 4, model_manager=train_manager,
                               output_dir=tmp_path / "out")
    with Image.open(out.output_path) as image:
        assert image.size == (160, 128)
    card = json.loads(result.card_path.read_text())
    assert card["base_model"] == BASE and card["training"]["steps"] == 16 and card["training"]["seed"] == 3
    assert card["data"]["train_images"] == 3 and card["data"]["validation_images"] == 1
    assert set(card["validation"]["mean"]) == {"base_psnr_db", "tuned_psnr_db", "base_ssim", "tuned_ssim"}
    assert "# custom/tiny" in result.card_path.with_suffix(".md").read_text()
    with Image.open(result.grid_path) as grid:
        assert grid.mode == "RGB" and grid.width == 4 * 192


def test_validation_figures_are_psnr_of_the_saved_models(tiny_run, train_manager, photo_folder):
    """Recompute the tuned model's PSNR on the held-back image independently (numpy)."""
    from engine.training.data import validation_pairs
    request, result = tiny_run
    held = ImageSource([sorted(photo_folder.iterdir())[-1]], 32)
    ((lr, hr),) = validation_pairs(held, seed=request.seed, crop_px=64, scale=4)
    tuned = train_manager.load_model(result.model_name, "cpu", fp32=True).descriptor.model
    with torch.no_grad():
        out = tuned(to_tensor(lr, torch.device("cpu")))[0].clamp(0, 1).permute(1, 2, 0).numpy()
    mse = np.mean((np.rint(out * 255) - np.rint(hr * 255)) ** 2)
    assert 10 * np.log10(255 ** 2 / mse) == pytest.approx(result.validation.rows[0].tuned_psnr_db, abs=0.01)


def test_resuming_from_a_checkpoint_gives_the_same_weights(train_manager, photo_folder, tmp_path):
    common = dict(TINY, steps=6, checkpoint_every=2)
    straight = train_model(TrainingRequest(folder=photo_folder, name="straight", **common), manager=train_manager,
                           work_dir=tmp_path / "straight")
    steps_seen = []

    def on_step(report):
        steps_seen.append(report.step)
    with pytest.raises(Cancelled, match="cancelled at step 3 of 6"):
        train_model(TrainingRequest(folder=photo_folder, name="resumed", **common), manager=train_manager,
                    work_dir=tmp_path / "resumed", on_step=on_step, should_cancel=lambda: len(steps_seen) >= 3)
    # nothing half-written: no temporary files, no model yet, a checkpoint that loads
    leftovers = [p.name for p in list((tmp_path / "resumed").iterdir()) + list(train_manager.custom_dir.iterdir())
                 if p.name.endswith(".part") or p.stem == "resumed"]
    assert leftovers == []
    saved = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)
    assert saved["step"] == 3 and len(saved["losses"]) == 3
    resumed = train_model(TrainingRequest(folder=photo_folder, name="resumed", **common), manager=train_manager,
                          work_dir=tmp_path / "resumed", on_step=on_step)
    assert resumed.resumed_from == 3 and steps_seen == [1, 2, 3, 4, 5, 6]
    assert resumed.losses == straight.losses
    from safetensors.torch import load_file
    a, b = load_file(straight.model_path), load_file(resumed.model_path)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not (tmp_path / "resumed").exists()  # the checkpoint goes once the model is saved


def test_user_errors_are_one_sentence(tiny_run, train_manager, photo_folder, tmp_path):
    def attempt(**changes):
        request = TrainingRequest(**{**dict(folder=photo_folder, name="x", **TINY), **changes})
        with pytest.raises((InvalidInput, WeightsMissing, ModelUnsupported)) as caught:
            train_model(request, manager=train_manager, work_dir=tmp_path / "w")
        message = str(caught.value)
        assert "\n" not in message and message.endswith(".")
        return message
    assert "realesr-general-x4v3.pth" in attempt(base="realesr-general-x4v3")  # downloadable only, none here
    assert "Compact" in attempt(base="RealESRGAN_x4plus_anime_6B")
    assert "already exists" in attempt(name="tiny")
    assert "model name" in attempt(name="../evil")
    assert "multiple of 8" in attempt(patch_px=36)
    assert "at least 2 images" in attempt(folder=tmp_path)
    assert not (train_manager.custom_dir / "x.safetensors").exists()


def test_cli_trains_and_prints_the_validation_table(tmp_path, app_config, photo_folder, train_manager, capsys):
    """`python main.py train` through the CLI's own entry point (argparse, the command, its output)."""
    from dataclasses import replace

    from cli import main
    weights = tmp_path / "weights"
    shutil.copytree(train_manager.weights_dir / "bundled", weights / "bundled")
    config = replace(app_config, WEIGHTS_DIR=weights)
    code = main(["train", str(photo_folder), "-o", "cli-model", "--steps", "4", "--patch-size", "32",
                 "--batch-size", "2", "--seed", "1"], config)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "fine-tuned vs starting model:" in out and "custom/cli-model" in out and "mean" in out
    assert "step 4/4" in err and "loss" in err
    assert (weights / "custom" / "cli-model.safetensors").is_file()
    assert "custom/cli-model" in ModelManager(weights_dir=weights).upscaler_names()
    assert not (config.DATA_DIR / "training" / "cli-model").exists()


def test_cli_refuses_an_existing_name_in_one_line(tiny_run, train_manager, photo_folder, app_config, capsys):
    from dataclasses import replace

    from cli import main
    config = replace(app_config, WEIGHTS_DIR=train_manager.weights_dir)
    code = main(["train", str(photo_folder), "-o", "tiny", "--steps", "4", "--patch-size", "32"], config)
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "already exists" in err


# -- the Train tab's pure handlers -------------------------------------------------------------
def test_train_tab_accepts_only_folders_inside_the_input_folder(tmp_path):
    from ui.tabs.train import training_request
    inputs = tmp_path / "inputs"
    (inputs / "show").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    ok = training_request(inputs, " show ", "my-model", BASE, 40, 64, 2, 7)
    assert ok.folder == (inputs / "show").resolve() and ok.steps == 40 and ok.patch_px == 64 and ok.seed == 7
    for folder in ("../elsewhere", str(tmp_path / "elsewhere"), "/etc"):
        with pytest.raises(InvalidInput, match="outside the input folder") as caught:
            training_request(inputs, folder, "my-model", BASE, 40, 64, 2, 7)
        assert "\n" not in str(caught.value)
    for folder, name, steps, fragment in (("", "m", 40, "Name a folder"), ("show", " ", 40, "name"),
                                          ("show", "m", 2.5, "whole number"), ("show", "m", 0, "Steps must be"),
                                          ("missing", "m", 40, "There is no folder")):
        with pytest.raises(InvalidInput, match=fragment):
            training_request(inputs, folder, name, BASE, steps, 64, 2, 7)


def test_train_tab_plot_progress_and_choices(train_manager):
    from engine.training import StepReport
    from ui.tabs.train import base_choices, loss_frame, progress_markdown
    short = loss_frame([0.3, 0.2, 0.1])
    assert list(short["step"]) == [1, 2, 3] and list(short["loss"]) == [0.3, 0.2, 0.1]
    long = loss_frame(list(np.linspace(1, 0, 1000)), max_points=400)
    assert len(long) == 400 and long["step"].iloc[-1] == 1000 and long["loss"].mean() == pytest.approx(0.5, abs=1e-3)
    text = progress_markdown(StepReport(40, 500, 0.1234, 125.0, 3.2, 0))
    assert "Step 40 / 500" in text and "0.1234" in text and "2 min 05 s left" in text
    assert "continued from the checkpoint at step 20" in progress_markdown(StepReport(40, 500, 0.1, 1.0, 1.0, 20))
    choices = base_choices(train_manager)
    assert choices[:2] == [BASE, "realesr-general-x4v3"] and "RealESRGAN_x4plus" not in choices


def test_train_tab_run_reports_a_cancel_as_its_error(train_manager, photo_folder, tmp_path):
    from ui.tabs.train import TrainingRun
    run = TrainingRun.start(TrainingRequest(folder=photo_folder, name="never", **TINY), manager=train_manager,
                            work_dir=tmp_path / "never", should_cancel=lambda: True)
    run.thread.join(timeout=120)
    assert not run.running and run.poll(0) == [] and run.result is None
    assert isinstance(run.error, Cancelled) and "cancelled at step 0" in str(run.error)
    assert not (train_manager.custom_dir / "never.safetensors").exists()


def test_train_tab_streams_progress_then_the_result(train_manager, photo_folder, app_config, tmp_path):
    """The handler wired in the real Blocks: progress updates, then the table, the grid and the Image
    tab's refreshed model list; a folder outside the input folder is one sentence."""
    from dataclasses import replace

    import gradio as gr

    from ui.components import build_interface
    from ui.services import CancelToken, Services
    config = replace(app_config, WEIGHTS_DIR=train_manager.weights_dir)
    shutil.copytree(photo_folder, config.INPUT_DIR / "mine")
    demo = build_interface(Services.from_config(config))
    handler = next(f.fn for f in demo.fns.values() if f.api_name == "train_model")
    updates = list(handler("mine", "from-ui", BASE, 3, 32, 2, 0, "default", CancelToken()))
    assert updates[0][0].startswith("Loading") and any("**Step 3 / 3**" in u[0] for u in updates)
    status, plot, grid, table, model_list = updates[-1]
    assert "custom/from-ui" in status and list(plot["step"]) == [1, 2, 3]
    assert grid.shape[1] == 4 * 192 and table[-1][0] == "mean"
    assert "custom/from-ui" in [value for _, value in model_list["choices"]]
    with pytest.raises(gr.Error, match="outside the input folder"):
        list(handler("../..", "x", BASE, 3, 32, 2, 0, "default", CancelToken()))


def test_one_name_trains_once_at_a_time(train_manager, photo_folder, tmp_path):
    """A second run into the same work folder while the first is running is refused in one sentence."""
    seen = []

    def second_run(report):
        if not seen:
            with pytest.raises(InvalidInput, match="being trained already"):
                train_model(TrainingRequest(folder=photo_folder, name="twice", **TINY), manager=train_manager,
                            work_dir=tmp_path / "twice")
        seen.append(report.step)
    with pytest.raises(Cancelled):
        train_model(TrainingRequest(folder=photo_folder, name="twice", **TINY), manager=train_manager,
                    work_dir=tmp_path / "twice", on_step=second_run, should_cancel=lambda: len(seen) >= 1)
    assert seen == [1]


@needs_testdata
def test_sixteen_bit_alpha_and_gray_images_train_as_8bit_rgb():
    from PIL import Image as PILImage
    paths = [TESTDATA / "realesrgan" / "tree_alpha_16bit.png", TESTDATA / "realesrgan" / "00017_gray.png"]
    source = ImageSource(paths, 32)
    for index, path in enumerate(paths):
        image = source.image(index)
        with PILImage.open(path) as independent:
            size = independent.size
        assert image.dtype == np.uint8 and image.shape == (size[1], size[0], 3)
    lr, hr = sample_batch(source, seed=0, step=0, batch_size=2, patch_px=32, scale=4)
    assert hr.dtype == np.float32 and 0 <= hr.min() and hr.max() <= 1 and lr.shape == (2, 8, 8, 3)
