"""Weights: resolution order, downloads against a real local HTTP server, safe loading."""
import dataclasses
import hashlib
import io
import pickle
import shutil

import pytest
import torch
from safetensors.torch import save_file

from engine.models.registry import MODELS
from engine.models.weights import (download, load_state_dict, recorded_checksums, resolve_weights)
from utils.errors import ChecksumMismatch, DownloadFailed, ModelUnsupported, WeightsMissing

from tests.http_server import serve_files

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


def test_complete_download_is_verified_and_renamed(tmp_path):
    progress = []
    with serve_files({"model.pth": PAYLOAD}) as base:
        path = download(f"{base}/model.pth", tmp_path / "model.pth", sha256=PAYLOAD_SHA,
                        on_progress=lambda d, t, n: progress.append((d, t)))
    assert path.read_bytes() == PAYLOAD
    assert progress[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pth"]


def test_checksum_mismatch_removes_the_file_with_a_clear_error(tmp_path):
    with serve_files({"model.pth": PAYLOAD}) as base:
        with pytest.raises(ChecksumMismatch) as caught:
            download(f"{base}/model.pth", tmp_path / "model.pth", sha256="0" * 64)
    assert "model.pth" in str(caught.value) and "deleted" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_dropped_connection_leaves_no_file_under_the_final_name(tmp_path):
    with serve_files({"model.pth": PAYLOAD}, truncate={"model.pth"}) as base:
        with pytest.raises(DownloadFailed):
            download(f"{base}/model.pth", tmp_path / "model.pth", sha256=PAYLOAD_SHA, timeout_s=5)
    assert list(tmp_path.iterdir()) == []


def test_missing_url_and_bad_scheme(tmp_path):
    with serve_files({}) as base:
        with pytest.raises(DownloadFailed, match="404"):
            download(f"{base}/absent.pth", tmp_path / "absent.pth", sha256=None)
    with pytest.raises(DownloadFailed, match="only http"):
        download("file:///etc/passwd", tmp_path / "passwd", sha256=None)
    assert list(tmp_path.iterdir()) == []


def spec_served_from(base: str, name: str, sha256: str | None):
    return dataclasses.replace(MODELS[name], url=f"{base}/{MODELS[name].filename}", sha256=sha256, bundled=None)


def test_resolve_downloads_when_allowed_and_records_an_unknown_hash(tmp_path):
    with serve_files({"RealESRNet_x4plus.pth": PAYLOAD}) as base:
        spec = spec_served_from(base, "RealESRNet_x4plus", None)
        found = resolve_weights(spec, tmp_path, allow_download=True)
    assert found.source == "downloaded" and found.path.read_bytes() == PAYLOAD
    assert recorded_checksums(tmp_path)["RealESRNet_x4plus.pth"] == PAYLOAD_SHA
    # Tampering afterwards is caught by the recorded hash.
    found.path.write_bytes(PAYLOAD[:-1] + b"x")
    with pytest.raises(ChecksumMismatch):
        resolve_weights(spec, tmp_path, allow_download=False)
    # Deleted and fetched again, from a server that now sends other bytes: the recorded hash refuses
    # them, and is not overwritten by what came.
    found.path.unlink()
    with serve_files({"RealESRNet_x4plus.pth": PAYLOAD[:-1] + b"x"}) as base:
        with pytest.raises(ChecksumMismatch):
            resolve_weights(spec_served_from(base, "RealESRNet_x4plus", None), tmp_path, allow_download=True)
    assert recorded_checksums(tmp_path)["RealESRNet_x4plus.pth"] == PAYLOAD_SHA
    assert not found.path.exists()


def test_missing_weights_name_the_file_url_and_directory(tmp_path):
    spec = MODELS["GFPGANv1.4"]
    with pytest.raises(WeightsMissing) as caught:
        resolve_weights(spec, tmp_path, allow_download=False)
    message = str(caught.value)
    assert spec.filename in message and spec.url in message and str(tmp_path) in message


def test_a_file_in_the_weights_directory_wins_over_the_bundled_pack(tmp_path, weights_dir, manager):
    manager.load_model("realesr-animevideov3")  # makes sure the bundled copy is converted
    spec = dataclasses.replace(MODELS["realesr-animevideov3"], sha256=None)
    assert resolve_weights(spec, tmp_path, allow_download=False).source == "bundled"
    official = tmp_path / spec.filename
    shutil.copy(weights_dir / "bundled" / "realesr-animevideov3.safetensors", official)
    assert resolve_weights(spec, tmp_path, allow_download=False).path == official


def test_wrong_official_file_is_refused(tmp_path):
    spec = MODELS["realesr-animevideov3"]
    (tmp_path / spec.filename).write_bytes(b"not the real weights")
    with pytest.raises(ChecksumMismatch, match=spec.url):
        resolve_weights(spec, tmp_path, allow_download=False)


class Exploit:
    def __reduce__(self):
        import os
        return (os.system, ("touch EXPLOITED",))


def test_pickle_payload_in_a_pth_is_refused_and_never_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "evil.pth"
    torch.save({"weight": torch.zeros(1), "payload": Exploit()}, evil)
    with pytest.raises(ModelUnsupported, match="refuse"):
        load_state_dict(evil)
    assert not (tmp_path / "EXPLOITED").exists()


def test_raw_pickle_named_pth_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "raw.pth"
    evil.write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(ModelUnsupported):
        load_state_dict(evil)
    assert not (tmp_path / "EXPLOITED").exists()


def test_torchscript_and_unknown_suffixes_are_refused(tmp_path):
    script = tmp_path / "model.pt"
    script.write_bytes(b"anything")
    with pytest.raises(ModelUnsupported, match="TorchScript"):
        load_state_dict(script)


def test_safetensors_and_state_dict_pth_load(tmp_path):
    tensors = {"body.0.weight": torch.ones(2, 2)}
    save_file(tensors, tmp_path / "a.safetensors")
    buffer = io.BytesIO()
    torch.save({"params_ema": tensors}, buffer)
    (tmp_path / "b.pth").write_bytes(buffer.getvalue())
    assert torch.equal(load_state_dict(tmp_path / "a.safetensors")["body.0.weight"], tensors["body.0.weight"])
    assert "body.0.weight" in load_state_dict(tmp_path / "b.pth")  # params_ema unwrapped


def test_custom_model_size_cap(tmp_path):
    save_file({"x": torch.zeros(1000)}, tmp_path / "big.safetensors")
    with pytest.raises(ModelUnsupported, match="limit"):
        load_state_dict(tmp_path / "big.safetensors", max_bytes=100)
