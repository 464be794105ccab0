"""Settings and presets in JSON, written atomically with a backup of the previous version.

A corrupt file is moved aside (never silently overwritten) and defaults are used, with a logged
warning. Unknown keys are ignored with a log line and missing keys take defaults, so an older or
newer file never breaks start-up. Built-in presets cannot be deleted or overwritten.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from pathlib import Path

from engine.request import EnhanceRequest
from utils.errors import InvalidInput
from utils.files import OutputWriteError, write_text_atomic

log = logging.getLogger(__name__)
SETTINGS_VERSION = 1
MAX_PRESET_NAME = 60


EnhanceSettings = EnhanceRequest  # the seed's name: the last used settings and each preset are one request


BUILTIN_PRESETS: dict[str, EnhanceSettings] = {
    "Photo": EnhanceSettings(model="RealESRGAN_x4plus", outscale=4),
    "Anime": EnhanceSettings(model="RealESRGAN_x4plus_anime_6B", outscale=4),
    "Fast preview": EnhanceSettings(model="realesr-animevideov3", outscale=2),
    "Old photo with faces": EnhanceSettings(model="RealESRGAN_x4plus", outscale=2, face_enhance=True),
}


def backup(path: Path) -> None:
    """Keep the current version as `<name>.bak`: a hard link, so it needs no disk space and the
    atomic write that follows replaces only the live name."""
    bak = path.with_name(path.name + ".bak")
    staging = path.with_name(f".{path.name}.bak.part")
    staging.unlink(missing_ok=True)
    try:
        os.link(path, staging)
        os.replace(staging, bak)
    except OSError as error:
        staging.unlink(missing_ok=True)
        raise OutputWriteError(bak, error) from error


class SettingsManager:
    def __init__(self, settings_file: str | Path, presets_file: str | Path, backup_dir: str | Path | None = None,
                 defaults: EnhanceSettings | None = None):
        self.defaults = defaults or EnhanceSettings()
        self.settings_file = Path(settings_file)
        self.presets_file = Path(presets_file)
        self.backup_dir = Path(backup_dir) if backup_dir else self.settings_file.parent / "backups"
        self._lock = threading.Lock()
        self._cache: dict[Path, dict] = {}

    # -- files -----------------------------------------------------------------------------------
    def _read(self, path: Path) -> dict:
        if path in self._cache:
            return self._cache[path]
        for leftover in path.parent.glob(f".{path.name}.*.part"):  # from a writer killed mid-save
            leftover.unlink(missing_ok=True)
        data: dict = {}
        if path.is_file():
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
                if not isinstance(loaded, dict):
                    raise ValueError("top level is not an object")
                data = loaded
            except (OSError, ValueError) as error:
                aside = self._move_aside(path)
                log.warning("%s is corrupt (%s); moved it to %s and using defaults", path, error, aside)
        self._cache[path] = data
        return data

    def _move_aside(self, path: Path) -> Path:
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        aside = self.backup_dir / f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}"
        shutil.move(str(path), aside)
        return aside

    def _write(self, path: Path, data: dict) -> None:
        if path.is_file():
            backup(path)
        write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True))
        self._cache[path] = data

    # -- settings --------------------------------------------------------------------------------
    def load_settings(self) -> EnhanceSettings:
        with self._lock:
            data = self._read(self.settings_file)
        return EnhanceSettings.from_dict(data.get("settings", {}), base=self.defaults,
                                         lenient_where=str(self.settings_file))

    def save_settings(self, settings: EnhanceSettings) -> None:
        with self._lock:
            self._write(self.settings_file, {"version": SETTINGS_VERSION, "settings": settings.to_dict()})

    # -- presets ---------------------------------------------------------------------------------
    def load_presets(self) -> dict[str, EnhanceSettings]:
        with self._lock:
            data = self._read(self.presets_file)
        user = data.get("presets", {}) if isinstance(data.get("presets"), dict) else {}
        presets = dict(BUILTIN_PRESETS)
        for name, body in user.items():
            if name in BUILTIN_PRESETS or not isinstance(body, dict):
                continue
            presets[name] = EnhanceSettings.from_dict(body, lenient_where=f"preset {name!r}")
        return presets

    def preset_names(self) -> list[str]:
        return list(self.load_presets())

    def get_preset(self, name: str) -> EnhanceSettings:
        presets = self.load_presets()
        if name not in presets:
            raise InvalidInput(f"There is no preset named {name!r}.")
        return presets[name]

    def save_preset(self, name: str, settings: EnhanceSettings) -> None:
        name = " ".join(str(name).split())
        if not name:
            raise InvalidInput("Give the preset a name.")
        if len(name) > MAX_PRESET_NAME:
            raise InvalidInput(f"Preset names are at most {MAX_PRESET_NAME} characters.")
        if name in BUILTIN_PRESETS:
            raise InvalidInput(f"{name!r} is a built-in preset; choose another name.")
        with self._lock:
            data = dict(self._read(self.presets_file))
            presets = dict(data.get("presets", {}))
            presets[name] = settings.to_dict()
            self._write(self.presets_file, {"version": SETTINGS_VERSION, "presets": presets})

    def delete_preset(self, name: str) -> None:
        if name in BUILTIN_PRESETS:
            raise InvalidInput(f"{name!r} is a built-in preset and cannot be deleted.")
        with self._lock:
            data = dict(self._read(self.presets_file))
            presets = dict(data.get("presets", {}))
            if name not in presets:
                raise InvalidInput(f"There is no preset named {name!r}.")
            del presets[name]
            self._write(self.presets_file, {"version": SETTINGS_VERSION, "presets": presets})
