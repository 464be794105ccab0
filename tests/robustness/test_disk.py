"""A full disk and a read-only output folder, made real with small tmpfs mounts (needs root;
skips otherwise): one clear sentence, exit 1, no partial file, earlier settings kept."""
import json
import subprocess
import sys
from contextlib import contextmanager

import pytest
from PIL import Image

from engine.jobs.image import enhance_image_direct
from engine.settings_manager import EnhanceSettings, SettingsManager
from utils.errors import OutputError
from utils.files import OutputWriteError

from tests.conftest import ROOT


@contextmanager
def tmpfs(path, options: str):
    path.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@pytest.fixture
def full_disk(tmp_path):
    with tmpfs(tmp_path / "full", "size=96k") as path:
        yield path


@pytest.fixture
def read_only(tmp_path):
    with tmpfs(tmp_path / "ro", "ro,size=1m") as path:
        yield path


@pytest.fixture
def photo(tmp_path, chelsea):
    path = tmp_path / "cat.png"
    Image.fromarray(chelsea[:100, :100]).save(path)  # its x4 PNG is far over 96 KB
    return path


def test_full_disk_engine(full_disk, photo, manager):
    with pytest.raises(OutputError, match="full"):
        enhance_image_direct(photo, "realesr-animevideov3", 4, model_manager=manager, output_dir=full_disk)
    assert list(full_disk.iterdir()) == []


def test_read_only_engine(read_only, photo, manager):
    with pytest.raises(OutputError, match="read-only"):
        enhance_image_direct(photo, "realesr-animevideov3", 2, model_manager=manager, output_dir=read_only)


@pytest.mark.parametrize("where", ["full_disk", "read_only"])
def test_cli_exits_1_with_one_line(request, where, photo, cli_env):
    folder = request.getfixturevalue(where)
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "upscale", str(photo), "-o", str(folder), "-n",
                             "realesr-animevideov3"], env=cli_env, capture_output=True, text=True, timeout=300)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert result.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr


def test_settings_survive_a_full_disk(full_disk):
    settings = SettingsManager(full_disk / "settings.json", full_disk / "presets.json", full_disk / "backups")
    settings.save_settings(EnhanceSettings(quality=77))
    (full_disk / "filler").write_bytes(b"\0" * 1)
    try:  # fill what is left
        with open(full_disk / "filler", "ab") as handle:
            while True:
                handle.write(b"\0" * 4096)
                handle.flush()
    except OSError:
        pass
    with pytest.raises(OutputWriteError, match="full"):
        settings.save_settings(EnhanceSettings(model="x" * 200_000))
    assert json.loads((full_disk / "settings.json").read_text())["settings"]["quality"] == 77
    assert not [p for p in full_disk.iterdir() if p.name.endswith(".part")]
