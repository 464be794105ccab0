"""Hostile model files, broken downloads and corrupt state files, through the CLI and the server."""
import hashlib
import os
import subprocess
import sys

import pytest
import torch

from tests.app_server import app_config_for, running_app
from tests.conftest import ROOT
from tests.http_server import serve_files


class Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ.get('EXPLOIT_MARKER', '/tmp/exploited')}",))


def run(args, env, timeout=300):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def one_line(result) -> str:
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert result.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture
def custom_weights(tmp_path, weights_dir, monkeypatch):
    """A weights folder with the session's bundled models, plus hostile custom models."""
    folder = tmp_path / "weights"
    (folder / "custom").mkdir(parents=True)
    (weights_dir / "bundled").mkdir(exist_ok=True)
    (folder / "bundled").symlink_to(weights_dir / "bundled", target_is_directory=True)
    marker = tmp_path / "EXPLOITED"
    monkeypatch.setenv("EXPLOIT_MARKER", str(marker))
    torch.save({"weight": torch.zeros(1), "payload": Exploit()}, folder / "custom" / "evil.pth")
    torch.save({"mystery.weight": torch.zeros(3, 3)}, folder / "custom" / "unknown.pth")
    return folder, marker


def test_hostile_custom_models_through_the_cli(custom_weights, skimage_dir, tmp_path, cli_env):
    folder, marker = custom_weights
    env = {**cli_env, "REALESRGAN_WEIGHTS_DIR": str(folder), "EXPLOIT_MARKER": str(marker)}
    evil = one_line(run(["upscale", str(skimage_dir / "camera.png"), "-o", str(tmp_path / "o"), "-n", "custom/evil"], env))
    assert "refuse" in evil and not marker.exists()
    unknown = one_line(run(["upscale", str(skimage_dir / "camera.png"), "-o", str(tmp_path / "o"), "-n",
                            "custom/unknown"], env))
    assert "not one we recognise" in unknown
    assert not (tmp_path / "o").exists() or list((tmp_path / "o").iterdir()) == []


def test_hostile_custom_models_through_the_server(custom_weights, skimage_dir, tmp_path):
    from gradio_client import Client, handle_file
    folder, marker = custom_weights
    config = app_config_for(tmp_path / "app", folder)
    with running_app(config) as url:
        client = Client(url, verbose=False)
        for name, phrase in [("custom/evil", "refuse"), ("custom/unknown", "recognise"), ("../../etc/passwd", "not in the list")]:
            with pytest.raises(Exception) as caught:
                client.predict(handle_file(str(skimage_dir / "camera.png")), model_name=name, api_name="/enhance_image")
            assert phrase in str(caught.value)
        assert not marker.exists()
        assert client.predict(handle_file(str(skimage_dir / "camera.png")), model_name="realesr-animevideov3", scale=1,
                              api_name="/enhance_image")[0]


def test_broken_downloads_through_the_cli(tmp_path, cli_env):
    good = b"x" * 300_000
    files = {"RealESRGAN_x2plus.pth": good, "RealESRNet_x4plus.pth": good}
    weights = tmp_path / "weights"
    with serve_files(files, truncate={"RealESRNet_x4plus.pth"}) as base:
        env = {**cli_env, "REALESRGAN_WEIGHTS_DIR": str(weights), "REALESRGAN_MODEL_MIRROR": base,
               "REALESRGAN_DOWNLOAD_TIMEOUT_S": "5"}
        mismatch = one_line(run(["models", "download", "RealESRGAN_x2plus"], env))  # the published hash differs
        assert "SHA256" in mismatch
        dropped = one_line(run(["models", "download", "RealESRNet_x4plus"], env))
        assert "stopped at" in dropped or "failed" in dropped
    assert not weights.exists() or [p.name for p in weights.iterdir() if p.suffix in (".pth", ".part")] == []


def test_downloads_from_a_mirror_verify_and_record(tmp_path, cli_env):
    payload = b"weights" * 1000
    weights = tmp_path / "weights"
    with serve_files({"RealESRNet_x4plus.pth": payload}) as base:
        env = {**cli_env, "REALESRGAN_WEIGHTS_DIR": str(weights), "REALESRGAN_MODEL_MIRROR": base}
        result = run(["models", "download", "RealESRNet_x4plus"], env)
    assert result.returncode == 0 and (weights / "RealESRNet_x4plus.pth").read_bytes() == payload
    verify = run(["models", "verify"], {**cli_env, "REALESRGAN_WEIGHTS_DIR": str(weights)})
    assert verify.returncode == 0 and hashlib.sha256(payload).hexdigest() in verify.stdout


def test_server_starts_and_serves_with_corrupt_state_files(tmp_path, weights_dir, skimage_dir):
    from gradio_client import Client, handle_file
    config = app_config_for(tmp_path / "app", weights_dir)
    config.DATA_DIR.mkdir(parents=True)
    for path in (config.SETTINGS_FILE, config.PRESETS_FILE, config.HISTORY_DB):
        path.write_bytes(b"\x00garbage{" * 100)
    with running_app(config) as url:
        client = Client(url, verbose=False)
        assert client.predict(handle_file(str(skimage_dir / "camera.png")), model_name="realesr-animevideov3",
                              scale=1, api_name="/enhance_image")[0]
    kept = sorted(p.name.split(".corrupt")[0] for p in config.BACKUP_DIR.iterdir())
    assert kept == ["presets.json", "settings.json"]
    assert list(config.DATA_DIR.glob("history.sqlite3.corrupt-*"))
