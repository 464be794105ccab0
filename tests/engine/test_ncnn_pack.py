"""The bundled pack converted to PyTorch reproduces the ncnn runtime's own output."""
import shutil

import numpy as np
import pytest
import torch

from engine.models import ncnn_pack
from engine.models.registry import MODELS
from engine.models.weights import bundled_weights

PARAM_COUNTS = {"RealESRGAN_x4plus": 16_697_987, "RealESRGAN_x4plus_anime_6B": 4_467_779,
                "realesr-animevideov3": 621_424}


def ncnn_forward(stem: str, chw: np.ndarray) -> np.ndarray:
    ncnn = pytest.importorskip("ncnn")
    folder = ncnn_pack.pack_dir()
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    for flag in ("use_fp16_storage", "use_fp16_arithmetic", "use_fp16_packed", "use_bf16_storage"):
        setattr(net.opt, flag, False)
    assert net.load_param(str(folder / f"{stem}.param")) == 0
    assert net.load_model(str(folder / f"{stem}.bin")) == 0
    extractor = net.create_extractor()
    held = np.ascontiguousarray(chw)  # ncnn.Mat borrows this buffer: keep it alive
    extractor.input("data", ncnn.Mat(held))
    status, out = extractor.extract("output")
    assert status == 0
    return np.array(out)


@pytest.mark.parametrize("name", list(PARAM_COUNTS))
def test_conversion_matches_the_ncnn_runtime_on_a_real_image(name, manager, chelsea):
    spec = MODELS[name]
    model = manager.load_model(name, fp32=True)
    assert sum(p.numel() for p in model.descriptor.model.parameters()) == PARAM_COUNTS[name]
    crop = chelsea[100:140, 180:220].astype(np.float32) / 255  # the cat's eye
    chw = crop.transpose(2, 0, 1)
    with torch.inference_mode():
        ours = model.descriptor(torch.from_numpy(chw.copy())[None])[0].numpy()
    reference = np.clip(ncnn_forward(spec.bundled.stem, chw), 0, 1)
    assert ours.shape == reference.shape == (3, 160, 160)
    assert np.abs(ours - reference).max() < 1e-4


def test_changed_pack_is_refused_not_converted(tmp_path, monkeypatch):
    spec = MODELS["realesr-animevideov3"]
    fake = tmp_path / "models"
    fake.mkdir()
    source = ncnn_pack.pack_dir()
    shutil.copy(source / f"{spec.bundled.stem}.param", fake)
    blob = bytearray((source / f"{spec.bundled.stem}.bin").read_bytes())
    blob[100] ^= 0xFF
    (fake / f"{spec.bundled.stem}.bin").write_bytes(bytes(blob))
    monkeypatch.setattr(ncnn_pack, "pack_dir", lambda: fake)
    with pytest.raises(ncnn_pack.PackError, match="pinned SHA256"):
        bundled_weights(spec, tmp_path / "weights")
    assert not (tmp_path / "weights" / "bundled" / f"{spec.name}.safetensors").exists()


def test_param_parser_rejects_other_files():
    with pytest.raises(ncnn_pack.PackError):
        ncnn_pack.parse_param("not a param file\n")
