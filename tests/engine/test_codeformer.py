"""CodeFormer as a face restorer: registered with spandrel through spandrel-extra-arches, listed in
the registry (download only, non-commercial licence), run on the real face path with its fidelity
weight. The real weights are a large download, so a CodeFormer built by spandrel-extra-arches' own
class with random weights (its smallest transformer; the VQ part has a fixed size) stands in, saved
as a .pth into a temporary weights folder and detected by spandrel like the real file."""
import dataclasses
import hashlib
import subprocess
import sys

import gradio as gr
import numpy as np
import pytest
import torch

from engine.faces.detection import OpenCVDetector, detect_faces
from engine.faces.restore import FaceOptions, restore_aligned_face
from engine.jobs.image import enhance_image_direct
from engine.models.manager import ModelManager
from engine.models.registry import FACE_RESTORERS, MODELS, is_non_commercial
from engine.models.weights import recorded_checksums
from engine.request import EnhanceRequest
from ui.formatting import restorer_choices
from ui.services import CancelToken, Services
from ui.tabs import image
from utils.errors import WeightsMissing
from utils.images import read_image, to_rgb8

from tests.conftest import ROOT, TESTDATA, needs_testdata
from tests.engine.test_faces import changed_outside
from tests.http_server import serve_files

pytestmark = pytest.mark.slow

FACES = "gfpgan/whole_imgs/Blake_Lively.jpg"  # two real portraits, 700x464
ALIGNED = "gfpgan/cropped_faces/Adele_crop.png"  # one aligned 512x512 face


def random_codeformer() -> torch.nn.Module:
    from spandrel_extra_arches.architectures.CodeFormer import CodeFormer
    torch.manual_seed(0)
    return CodeFormer(dim_embd=64, n_layers=1, codebook_size=64).eval()


@pytest.fixture(scope="module")
def codeformer_file(tmp_path_factory) -> bytes:
    """The stand-in codeformer.pth's bytes, laid out as the official file is ({"params_ema": ...}),
    in fp16 to halve its size."""
    path = tmp_path_factory.mktemp("codeformer-file") / "codeformer.pth"
    torch.save({"params_ema": {k: v.half() for k, v in random_codeformer().state_dict().items()}}, path)
    return path.read_bytes()


@pytest.fixture(scope="module")
def codeformer_manager(tmp_path_factory, weights_dir, codeformer_file) -> ModelManager:
    """A weights folder holding codeformer.pth, with the session's bundled upscalers linked in."""
    folder = tmp_path_factory.mktemp("codeformer-weights")
    (weights_dir / "bundled").mkdir(exist_ok=True)
    (folder / "bundled").symlink_to(weights_dir / "bundled", target_is_directory=True)
    (folder / "codeformer.pth").write_bytes(codeformer_file)
    return ModelManager(weights_dir=folder, allow_downloads=False)


def test_the_registry_lists_codeformer_as_a_downloadable_non_commercial_face_restorer():
    spec = MODELS["CodeFormer"]
    assert spec.kind == "face" and spec.architecture == "CodeFormer" and spec.scale == 1
    assert spec.filename == "codeformer.pth" and spec.bundled is None
    assert spec.url == "https://github.com/sczhou/CodeFormer/releases/download/v0.1.0/codeformer.pth"
    assert is_non_commercial(spec) and "S-Lab" in spec.license
    assert "CodeFormer" in FACE_RESTORERS and not is_non_commercial(MODELS["GFPGANv1.4"])


def test_spandrel_detects_the_file_as_codeformer_and_the_profile_takes_its_weight(codeformer_manager):
    model = codeformer_manager.load_model("CodeFormer", "cpu")
    assert model.architecture == "CodeFormer" and model.scale == 1
    assert model.profile.role == "face" and model.profile.fidelity_argument == "weight"


def direct_codeformer(face: np.ndarray, weight: float) -> np.ndarray:
    """CodeFormer's own forward (fp32) on an aligned 512x512 RGB face (uint8), outside our code: 0..255."""
    net = random_codeformer()
    net.load_state_dict({k: v.half().float() for k, v in net.state_dict().items()})  # the file's fp16 rounding
    x = torch.from_numpy(face.copy()).permute(2, 0, 1)[None].float() / 127.5 - 1
    with torch.inference_mode():
        out = net(x, weight=weight)[0]
    return (out.clamp(-1, 1)[0].permute(1, 2, 0).numpy() + 1) * 127.5


@needs_testdata
def test_the_fidelity_reaches_codeformer_as_its_weight(codeformer_file, tmp_path, monkeypatch):
    # fp32 on both sides: with random weights, bf16 rounding can flip CodeFormer's choice of code
    monkeypatch.setattr("utils.gpu.cpu_supports_bf16", lambda: False)
    (tmp_path / "codeformer.pth").write_bytes(codeformer_file)
    manager = ModelManager(weights_dir=tmp_path, allow_downloads=False, device="cpu")
    face = to_rgb8(read_image(TESTDATA / ALIGNED).pixels)
    ours = restore_aligned_face(face, model_manager=manager,
                                options=FaceOptions(restorer="CodeFormer", fidelity=0.25, aligned=True))
    assert manager.loaded_models()[0].precision == "fp32"
    assert ours.shape == face.shape and ours.dtype == np.uint8
    direct = {w: direct_codeformer(face, w) for w in (0.25, 0.75)}
    assert np.abs(direct[0.25] - direct[0.75]).mean() > 5  # the weight changes the face
    # CodeFormer's own answer at weight 0.25: not a pixel blend, not 1 - fidelity
    assert np.abs(ours - direct[0.25]).mean() < 1.0


@needs_testdata
def test_codeformer_on_a_real_photo_changes_only_the_face(codeformer_manager, tmp_path):
    plain = enhance_image_direct(TESTDATA / FACES, "realesr-animevideov3", 1, model_manager=codeformer_manager,
                                 save=False)
    faced = {w: enhance_image_direct(TESTDATA / FACES, "realesr-animevideov3", 1,
                                     model_manager=codeformer_manager, save=False, face_enhance=True,
                                     face_options={"restorer": "CodeFormer", "fidelity": w, "max_faces": 1})
             for w in (0.0, 1.0)}
    boxes = [f.box for f in detect_faces(OpenCVDetector(), to_rgb8(read_image(TESTDATA / FACES).pixels))]
    # a face is pasted within its aligned square, which reaches beyond the detector's box
    grown = [(x0 - (x1 - x0), y0 - (y1 - y0), x1 + (x1 - x0), y1 + (y1 - y0)) for x0, y0, x1, y1 in boxes]
    for result in faced.values():
        assert result.image.shape == plain.image.shape and result.image.dtype == plain.image.dtype == np.uint8
        assert result.metrics["faces"] == "1"
        assert changed_outside(result.image, plain.image, grown, 1.0) == 0  # the rest is the plain upscale
        assert np.abs(result.image.astype(int) - plain.image).max() > 0  # the face was restored
    changed = np.any(faced[0.0].image != faced[1.0].image, axis=-1)
    assert changed.sum() > 1000  # weight 0 and weight 1 give different faces


def test_codeformer_downloads_through_the_verified_downloader(tmp_path, weights_dir, codeformer_file):
    """From a local server standing in for the release URL: a .part file renamed when complete, its
    SHA256 recorded (none is published) and checked on later use; then spandrel loads it."""
    with serve_files({"codeformer.pth": codeformer_file}) as base:
        manager = ModelManager(weights_dir=tmp_path, mirror=base, allow_downloads=False, download_on_request=True)
        assert [r.status for r in manager.list_models(("face",)) if r.name == "CodeFormer"] == ["downloadable"]
        found = manager.download("CodeFormer")
    assert found.path == tmp_path / "codeformer.pth" and found.path.read_bytes() == codeformer_file
    assert recorded_checksums(tmp_path)["codeformer.pth"] == hashlib.sha256(codeformer_file).hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checksums.json", "codeformer.pth"]
    assert manager.load_model("CodeFormer", "cpu").architecture == "CodeFormer"


def test_without_downloads_codeformer_is_missing_with_its_file_and_url(tmp_path):
    manager = ModelManager(weights_dir=tmp_path, allow_downloads=False)
    with pytest.raises(WeightsMissing) as caught:
        manager.load_model("CodeFormer", "cpu")
    assert caught.value.model == "CodeFormer" and caught.value.filename == "codeformer.pth"
    assert "github.com/sczhou/CodeFormer" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


# -- where the user picks it: the Image tab and the CLI ------------------------------------------------

def test_the_restorer_list_says_download_and_licence_until_the_weights_are_here(tmp_path, codeformer_manager):
    offered = dict((name, label) for label, name in restorer_choices(
        ModelManager(weights_dir=tmp_path, download_on_request=True).list_models(("face",))))
    assert offered["CodeFormer"] == "CodeFormer (download, non-commercial licence)"
    assert offered["GFPGANv1.4"] == "GFPGANv1.4 (download)"
    off = dict((name, label) for label, name in restorer_choices(
        ModelManager(weights_dir=tmp_path).list_models(("face",))))
    assert off["CodeFormer"] == "CodeFormer (not on this server, non-commercial licence)"
    here = dict((name, label) for label, name in restorer_choices(codeformer_manager.list_models()))
    assert here["CodeFormer"] == "CodeFormer (non-commercial licence)"
    assert list(here) == list(FACE_RESTORERS)  # face restorers only, every one


@pytest.mark.parametrize("downloads,expected", [
    (True, "CodeFormer is not on this server yet; download it in the System tab, then try again."),
    (False, "CodeFormer is not on this server and downloads are off; choose another model, or ask the "
            "administrator to put codeformer.pth in the weights folder.")])
def test_choosing_codeformer_without_its_weights_says_how_to_get_it(app_config, manager, chelsea, tmp_path,
                                                                       downloads, expected):
    from PIL import Image
    config = dataclasses.replace(app_config, ALLOW_DOWNLOADS=downloads)
    config.ensure_directories()
    services = dataclasses.replace(Services.from_config(config), manager=manager)
    names = ["model", "outscale", "face_enhance", "face_restorer", "face_fidelity"]
    values = image.values_for(names, EnhanceRequest(model="realesr-animevideov3", outscale=1, face_enhance=True,
                                                    face_restorer="CodeFormer", face_fidelity=0.5))
    picture = tmp_path / "face.png"
    Image.fromarray(chelsea[:40, :40]).save(picture)
    with pytest.raises(gr.Error) as raised:
        image.enhance(services, names, str(picture), values, CancelToken(), None, None, None)
    assert raised.value.message == expected  # one sentence, no server path
    assert not [p for p in config.OUTPUT_DIR.rglob("*") if p.is_file()]


def test_the_cli_takes_the_restorer_and_its_fidelity(tmp_path, cli_env, skimage_dir):
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "upscale", str(skimage_dir / "astronaut.png"),
                             "-o", str(tmp_path / "out"), "-n", "realesr-animevideov3", "-s", "1", "--face-enhance",
                             "--face-restorer", "CodeFormer", "--face-fidelity", "0.7"],
                            env=cli_env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert result.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "codeformer.pth" in lines[0] and "https://github.com/sczhou/CodeFormer" in lines[0]
    usage = subprocess.run([sys.executable, str(ROOT / "main.py"), "upscale", "x.png", "--face-restorer", "Nope"],
                           env=cli_env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert usage.returncode == 2 and "CodeFormer" in usage.stderr


def test_the_image_tab_lists_codeformer_with_its_licence_and_says_what_fidelity_does(app_config, tmp_path):
    from ui.components import build_interface
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "GFPGANv1.4.pth").write_bytes(b"stand-in: only its presence is looked at here")
    config = dataclasses.replace(app_config, WEIGHTS_DIR=tmp_path / "weights", ALLOW_DOWNLOADS=True)
    demo = build_interface(Services.from_config(config))
    by_id = {getattr(block, "elem_id", None): block for block in demo.blocks.values()}
    restorer, fidelity = by_id["face-restorer"], by_id["face-fidelity"]
    assert restorer.interactive is not False  # a restorer is here, so the choice is open
    assert ("CodeFormer (download, non-commercial licence)", "CodeFormer") in [tuple(c) for c in restorer.choices]
    assert "non-commercial" in restorer.info
    assert "CodeFormer" in fidelity.info and "weight" in fidelity.info and "GFPGAN" in fidelity.info


def test_the_cli_downloads_codeformer_and_records_its_hash(tmp_path, cli_env, codeformer_file):
    """`models download CodeFormer` from a local mirror: the file, and its SHA256 recorded (no
    published one) so a later change to the file is caught."""
    weights = tmp_path / "weights"  # not the session's shared folder
    with serve_files({"codeformer.pth": codeformer_file}) as base:
        result = subprocess.run([sys.executable, str(ROOT / "main.py"), "models", "download", "CodeFormer"],
                                env={**cli_env, "REALESRGAN_MODEL_MIRROR": base, "REALESRGAN_WEIGHTS_DIR": str(weights)},
                                capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert (weights / "codeformer.pth").read_bytes() == codeformer_file
    assert recorded_checksums(weights)["codeformer.pth"] == hashlib.sha256(codeformer_file).hexdigest()


def test_a_face_restorer_dropped_in_as_a_custom_upscaler_is_refused_in_one_sentence(tmp_path, codeformer_file):
    """spandrel-extra-arches makes CodeFormer detectable; that must not make it an upscaler."""
    from utils.errors import ModelUnsupported
    (tmp_path / "custom").mkdir()
    (tmp_path / "custom" / "faces.pth").write_bytes(codeformer_file)
    manager = ModelManager(weights_dir=tmp_path, allow_downloads=False)
    assert "custom/faces" in manager.upscaler_names()
    with pytest.raises(ModelUnsupported, match=r"^custom/faces is a face-restoration model \(CodeFormer\), "
                                               r"not an upscaling model; choose an upscaling model here\.$"):
        manager.load_model("custom/faces", "cpu")


def test_the_face_controls_become_usable_once_a_restorer_is_downloaded_without_a_restart(app_config, tmp_path,
                                                                                       codeformer_file):
    """The face checkbox was fixed at start-up: a restorer downloaded in the System tab stayed greyed
    until the server restarted, though the page said to reload it."""
    from ui.widgets import ModelLists
    app_config.ensure_directories()
    folder = tmp_path / "weights"
    folder.mkdir()
    services = dataclasses.replace(Services.from_config(app_config), manager=ModelManager(weights_dir=folder))
    lists = ModelLists()
    with gr.Blocks():
        tab = image.render(services, EnhanceRequest(), lists)
    face_widgets = [tab.controls.by_field[n] for n in ("face_enhance", "face_restorer", "face_fidelity")]
    assert all(widget in lists.listed() for widget in face_widgets)  # refreshed on page load and after a download
    assert tab.controls.face_ok is False
    checkbox, restorers, fidelity = image.face_updates(services)
    assert (checkbox["interactive"], checkbox["value"], restorers["interactive"], fidelity["interactive"]) == (
        False, False, False, False)
    (folder / "codeformer.pth").write_bytes(codeformer_file)  # what the System tab's download leaves
    checkbox, restorers, fidelity = image.face_updates(services)
    assert checkbox["interactive"] and "value" not in checkbox and checkbox["info"] == "Restores faces after upscaling."
    assert restorers["interactive"] and fidelity["interactive"]
    assert ("CodeFormer (non-commercial licence)", "CodeFormer") in restorers["choices"]
    assert tab.controls.face_ok is True  # presets, recommendations and Run again may tick it now
    updates = lists.updates(services)
    assert len(updates) == len(lists.listed())
