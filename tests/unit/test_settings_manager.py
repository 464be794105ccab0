import json
import os
import signal
import subprocess
import sys
import time

import pytest

from engine.settings_manager import BUILTIN_PRESETS, EnhanceSettings, SettingsManager
from utils.errors import InvalidInput

from tests.conftest import ROOT


@pytest.fixture
def settings(tmp_path):
    return SettingsManager(tmp_path / "settings.json", tmp_path / "presets.json", tmp_path / "backups")


def fresh(manager: SettingsManager) -> SettingsManager:
    return SettingsManager(manager.settings_file, manager.presets_file, manager.backup_dir)


def test_defaults_without_files(settings):
    assert settings.load_settings() == EnhanceSettings()
    assert list(settings.load_presets()) == list(BUILTIN_PRESETS)


def test_settings_round_trip_with_backup_of_the_previous_version(settings):
    settings.save_settings(EnhanceSettings(model="realesr-animevideov3", outscale=2))
    settings.save_settings(EnhanceSettings(model="RealESRGAN_x4plus_anime_6B", quality=80))
    assert fresh(settings).load_settings().quality == 80
    backup = json.loads(settings.settings_file.with_name("settings.json.bak").read_text())
    assert backup["settings"]["model"] == "realesr-animevideov3"


def test_corrupt_file_is_kept_aside_and_defaults_used(settings, caplog):
    settings.settings_file.write_text("{ not json")
    assert settings.load_settings() == EnhanceSettings()
    kept = list(settings.backup_dir.iterdir())
    assert len(kept) == 1 and kept[0].read_text() == "{ not json"
    assert "corrupt" in caplog.text


def test_unknown_keys_ignored_and_missing_keys_default(settings):
    settings.settings_file.write_text(json.dumps({"version": 99, "settings": {"model": "realesr-animevideov3",
                                                                             "future_option": 1, "quality": "x"}}))
    loaded = settings.load_settings()
    assert loaded.model == "realesr-animevideov3" and loaded.quality == 95 and loaded.outscale == 4.0


def test_presets_save_apply_delete(settings):
    settings.save_preset("  My   scans ", EnhanceSettings(outscale=2.5))
    assert fresh(settings).get_preset("My scans").outscale == 2.5
    settings.delete_preset("My scans")
    assert "My scans" not in fresh(settings).preset_names()


@pytest.mark.parametrize("name", list(BUILTIN_PRESETS))
def test_builtin_presets_cannot_be_deleted_or_overwritten(settings, name):
    with pytest.raises(InvalidInput, match="built-in"):
        settings.delete_preset(name)
    with pytest.raises(InvalidInput, match="built-in"):
        settings.save_preset(name, EnhanceSettings())


def test_bad_preset_names(settings):
    with pytest.raises(InvalidInput):
        settings.save_preset("   ", EnhanceSettings())
    with pytest.raises(InvalidInput):
        settings.save_preset("x" * 100, EnhanceSettings())
    with pytest.raises(InvalidInput, match="no preset"):
        settings.delete_preset("never saved")


WRITER = """
import sys, itertools
sys.path.insert(0, {root!r})
from engine.settings_manager import EnhanceSettings, SettingsManager
m = SettingsManager({settings!r}, {presets!r})
print("ready", flush=True)
for i in itertools.count():
    m.save_settings(EnhanceSettings(quality=1 + i % 100, model="m" * (1 + i % 5000)))
"""


def test_kill_9_during_saves_always_leaves_a_parsable_file(settings):
    settings.save_settings(EnhanceSettings())
    code = WRITER.format(root=str(ROOT), settings=str(settings.settings_file), presets=str(settings.presets_file))
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.3)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        data = json.loads(settings.settings_file.read_text())  # always old or new, never torn
        assert 1 <= data["settings"]["quality"] <= 100
    fresh(settings).load_settings()  # a later start sweeps the temporary a killed writer left
    assert not [p for p in settings.settings_file.parent.iterdir() if p.name.endswith(".part")]


def test_presets_keep_blend_double_pass_and_metadata_choices(settings):
    chosen = EnhanceSettings(model="realesr-animevideov3", blend_model="RealESRGAN_x4plus_anime_6B", blend_weight=0.3,
                             double_pass=True, strip_metadata=True)
    settings.save_preset("Mixed", chosen)
    assert fresh(settings).get_preset("Mixed") == chosen


def test_image_controls_round_trip_and_a_vanished_second_model():
    from ui.tabs.image import NO_SECOND_MODEL, request_from, values_for
    names = ["model", "outscale", "blend_model", "blend_weight", "double_pass"]
    chosen = EnhanceSettings(blend_model="custom/gone", blend_weight=0.7, double_pass=True)
    assert request_from(names, values_for(names, chosen)) == chosen
    values = values_for(names, chosen, available=["RealESRGAN_x4plus"])
    assert values[2] == NO_SECOND_MODEL and request_from(names, values).blend_model == ""
    assert values_for(names, EnhanceSettings())[2] == NO_SECOND_MODEL
