import threading

import pytest
import torch
from safetensors.torch import save_file
from spandrel.architectures.Compact import Compact

from engine.models.manager import ModelManager
from engine.models.registry import MODELS
from utils.errors import InvalidInput, ModelUnsupported, WeightsMissing


def tiny_compact_state(scale: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    net = Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=scale)
    return {k: v.contiguous() for k, v in net.state_dict().items()}


class CountingManager(ModelManager):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loads = 0

    def _load(self, *args, **kwargs):
        self.loads += 1
        return super()._load(*args, **kwargs)


def test_constructor_does_no_io(tmp_path):
    ModelManager(weights_dir=tmp_path / "does-not-exist")
    assert not (tmp_path / "does-not-exist").exists()


def test_many_threads_asking_at_once_load_the_model_once(weights_dir):
    manager = CountingManager(weights_dir=weights_dir)
    results, barrier = [], threading.Barrier(8)

    def ask():
        barrier.wait()
        results.append(manager.load_model("realesr-animevideov3"))
    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert manager.loads == 1 and len({id(r) for r in results}) == 1


def test_cache_is_keyed_by_precision_and_unload_frees(weights_dir):
    manager = CountingManager(weights_dir=weights_dir)
    fast = manager.load_model("realesr-animevideov3")
    exact = manager.load_model("realesr-animevideov3", fp32=True)
    assert exact.precision == "fp32" and manager.loads == 2
    assert manager.load_model("realesr-animevideov3") is fast
    assert manager.unload_model("realesr-animevideov3", fp32=True) == 1
    assert [m.precision for m in manager.loaded_models()] == [fast.precision]
    manager.load_model("realesr-animevideov3", fp32=True)
    assert manager.loads == 3


def test_loaded_model_carries_its_metadata(anime_video_model):
    m = anime_video_model
    from utils.gpu import choose_device
    assert (m.scale, m.source, m.device) == (4, "bundled", choose_device("auto").device)
    assert m.precision in ("bf16", "fp32") and m.architecture == "Compact"
    assert m.profile.overlap_px == 16 and m.profile.role == "upscaler"


def test_listing_shows_bundled_missing_downloaded_and_custom(tmp_path):
    manager = ModelManager(weights_dir=tmp_path, allow_downloads=False)
    (tmp_path / "custom").mkdir()
    save_file(tiny_compact_state(), tmp_path / "custom" / "my-2x.safetensors")
    (tmp_path / "RealESRGAN_x2plus.pth").write_bytes(b"x" * 10)
    status = {row.name: row for row in manager.list_models()}
    assert status["RealESRGAN_x4plus"].status == "bundled"
    assert status["RealESRGAN_x2plus"].status == "downloaded" and status["RealESRGAN_x2plus"].size_bytes == 10
    assert status["GFPGANv1.4"].status == "missing" and not status["GFPGANv1.4"].available
    assert status["custom/my-2x"].status == "custom"
    assert "custom/my-2x" in manager.upscaler_names()
    downloading = ModelManager(weights_dir=tmp_path, allow_downloads=True)
    assert {r.name: r.status for r in downloading.list_models()}["GFPGANv1.4"] == "downloadable"


def test_custom_model_architecture_and_scale_are_detected(tmp_path):
    (tmp_path / "custom").mkdir()
    save_file(tiny_compact_state(scale=2), tmp_path / "custom" / "mine.safetensors")
    model = ModelManager(weights_dir=tmp_path).load_model("custom/mine")
    assert model.scale == 2 and model.source == "custom"
    out = model.descriptor(torch.rand(1, 3, 8, 8))
    assert out.shape == (1, 3, 16, 16)


def test_unknown_architecture_is_refused_clearly(tmp_path):
    (tmp_path / "custom").mkdir()
    save_file({"mystery.weight": torch.zeros(3, 3)}, tmp_path / "custom" / "odd.safetensors")
    with pytest.raises(ModelUnsupported, match="not one we recognise"):
        ModelManager(weights_dir=tmp_path).load_model("custom/odd")


def test_unknown_and_missing_models(tmp_path):
    manager = ModelManager(weights_dir=tmp_path, allow_downloads=False)
    with pytest.raises(InvalidInput, match="Unknown model"):
        manager.load_model("../../etc/passwd")
    with pytest.raises(WeightsMissing, match="RealESRGAN_x2plus.pth"):
        manager.load_model("RealESRGAN_x2plus")


def test_denoise_strength_blends_general_with_its_wdn_twin(tmp_path):
    general, wdn = tiny_compact_state(4, seed=1), tiny_compact_state(4, seed=2)
    torch.save(general, tmp_path / MODELS["realesr-general-x4v3"].filename)
    torch.save(wdn, tmp_path / MODELS["realesr-general-wdn-x4v3"].filename)
    # These are stand-in weights, so the published checksum cannot match: skip verification here.
    manager = ModelManager(weights_dir=tmp_path, verify_checksums=False)
    blended = manager.load_model("realesr-general-x4v3", fp32=True, denoise_strength=0.25)
    weight = blended.descriptor.model.state_dict()["body.0.weight"]
    assert torch.allclose(weight, 0.25 * general["body.0.weight"] + 0.75 * wdn["body.0.weight"], atol=1e-6)
    full = manager.load_model("realesr-general-x4v3", fp32=True, denoise_strength=1.0)
    assert torch.allclose(full.descriptor.model.state_dict()["body.0.weight"], general["body.0.weight"])
    with pytest.raises(InvalidInput, match="0..1"):
        manager.load_model("realesr-general-x4v3", denoise_strength=1.5)
