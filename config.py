"""Configuration: typed values from the environment and `.env`, read once at start-up.

Every variable is `REALESRGAN_<FIELD>`. An invalid value stops start-up with one line naming the
variable, the bad value and what is accepted (`ConfigError`). Engine functions never read this
module: callers pass them the values they need.
"""
from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent
PREFIX = "REALESRGAN_"
DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


class ConfigError(ValueError):
    """A configuration value is invalid; the message is one line for the user."""


def _path(name: str, raw: str) -> Path:
    path = Path(raw).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{PREFIX}{name}={raw!r} is not a boolean; use true or false.")


def _number(kind: type, low: float | None, high: float | None):
    def parse(name: str, raw: str):
        try:
            value = kind(raw.strip())
        except ValueError:
            raise ConfigError(f"{PREFIX}{name}={raw!r} is not a{'n integer' if kind is int else ' number'}"
                              f"; use a value in {_range_text(low, high)}.") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise ConfigError(f"{PREFIX}{name}={raw!r} is out of range; use a value in {_range_text(low, high)}.")
        return value
    return parse


def _range_text(low: float | None, high: float | None) -> str:
    return f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"


def _choice(*choices: str):
    def parse(name: str, raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ConfigError(f"{PREFIX}{name}={raw!r} is not accepted; use one of {', '.join(choices)}.")
        return value
    return parse


def _device(name: str, raw: str) -> str:
    value = raw.strip().lower()
    if value in DEVICE_CHOICES:
        return value
    if value.startswith("cuda:") and value[5:].isdigit():
        return value
    raise ConfigError(f"{PREFIX}{name}={raw!r} is not a device; use auto, cpu, cuda, cuda:N or mps.")


def _auth(name: str, raw: str) -> tuple[str, str] | None:
    if not raw.strip():
        return None
    user, sep, password = raw.partition(":")
    if not sep or not user or not password:
        raise ConfigError(f"{PREFIX}{name} must look like user:password (both non-empty).")
    return (user, password)


def read_logins(path: Path) -> tuple[tuple[str, str], ...]:
    """`user:password` lines (blank lines and `#` comments skipped); the password is the rest of the line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{PREFIX}AUTH_FILE={path} cannot be read ({error}); give a readable text file.") from None
    logins: dict[str, str] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        user, sep, password = line.strip().partition(":")
        if not sep or not user or not password:
            raise ConfigError(f"{PREFIX}AUTH_FILE {path}, line {number}: write user:password (both non-empty).")
        if user in logins:
            raise ConfigError(f"{PREFIX}AUTH_FILE {path}, line {number}: {user!r} is named twice; give each user once.")
        logins[user] = password
    return tuple(logins.items())


def _text(name: str, raw: str) -> str:
    return raw.strip()


def _setting(default: Any, parse, doc: str):
    return field(default=default, metadata={"parse": parse, "doc": doc})


@dataclass(frozen=True)
class AppConfig:
    # Directories and files
    INPUT_DIR: Path = _setting(PROJECT_ROOT / "inputs", _path, "Server-side folder that batch jobs may read from")
    OUTPUT_DIR: Path = _setting(PROJECT_ROOT / "outputs", _path, "Where results are written (the only folder the web UI serves)")
    WEIGHTS_DIR: Path = _setting(PROJECT_ROOT / "weights", _path, "Model weights; custom models go in its custom/ subfolder")
    DATA_DIR: Path = _setting(PROJECT_ROOT / "data", _path, "Settings, presets, history, upload temp files")
    BACKUP_DIR: Path = _setting(None, _path, "Corrupt settings files are moved here (default DATA_DIR/backups)")
    LOG_FILE: Path = _setting(None, _path, "Rotating log file (default DATA_DIR/logs/realesrgan_app.log)")
    LOG_LEVEL: str = _setting("INFO", _choice("debug", "info", "warning", "error"), "debug, info, warning or error")
    # Server
    SERVER_NAME: str = _setting("127.0.0.1", _text, "Interface to listen on; 0.0.0.0 exposes the app to the network")
    SERVER_PORT: int = _setting(8081, _number(int, 1, 65535), "Port of the web UI")
    SHARE: bool = _setting(False, _bool, "Create a public Gradio share link (public for 72 hours)")
    AUTH: tuple[str, str] | None = _setting(None, _auth, "user:password to require a login; empty for none")
    AUTH_FILE: Path = _setting(None, _path, "A file of user:password lines, one login per user (each sees only their own jobs and results)")
    JOB_TIME_LIMIT_S: float = _setting(3600.0, _number(float, 0, 86400 * 7), "Longest a web job (image, video or batch) may run before it is stopped; 0 for no limit")
    QUEUE_MAX_SIZE: int = _setting(16, _number(int, 1, 10000), "Jobs waiting beyond this many get a 'busy' answer")
    CONCURRENCY_LIMIT: int = _setting(1, _number(int, 1, 64), "Jobs running at once per device")
    MAX_UPLOAD_MB: int = _setting(200, _number(int, 1, 100000), "Largest upload the web UI accepts")
    # Features
    ENABLE_FACE_ENHANCEMENT: bool = _setting(True, _bool, "Offer GFPGAN / RestoreFormer face restoration")
    ENABLE_VIDEO_PROCESSING: bool = _setting(True, _bool, "Offer the Video tab and command")
    ENABLE_BATCH_PROCESSING: bool = _setting(True, _bool, "Offer the Batch tab and command")
    VERIFY_MODEL_CHECKSUMS: bool = _setting(True, _bool, "Check SHA256 of weight files before use")
    ALLOW_DOWNLOADS: bool = _setting(True, _bool, "Download missing weights from their official URLs")
    DOWNLOAD_TIMEOUT_S: float = _setting(60.0, _number(float, 1, 3600), "Network timeout of one download read")
    MODEL_MIRROR: str = _setting("", _text, "Base URL of a mirror serving the official weight files by name; empty for the official releases")
    # Models and devices
    DEFAULT_MODEL: str = _setting("RealESRGAN_x4plus", _text, "Model used when none is chosen")
    DEVICE: str = _setting("auto", _device, "auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")
    FP32: bool = _setting(False, _bool, "Force full precision (slower; fp16 on CUDA and bf16 on CPUs that support it otherwise)")
    WARM_UP: bool = _setting(True, _bool, "Load the default model and warm the device in the background when the server starts, so the first result is as fast as the next")
    KEEP_INPUTS: bool = _setting(True, _bool, "Keep a copy of each Image-tab job's image beside its result in the owner's job folder, so History's Run again brings it back; false keeps results only")
    TILE_PAD: int | None = _setting(None, _number(int, 0, 256), "Overlap in input pixels around each tile; empty for each architecture's own (16 to 32)")
    GPU_MEMORY_RESERVE: float = _setting(0.1, _number(float, 0.0, 0.9), "Share of device memory kept free when sizing tiles")
    ENABLE_MEMORY_OPTIMIZATION: bool = _setting(True, _bool, "Clear the GPU cache after each job")
    MAX_CUSTOM_MODEL_MB: int = _setting(2048, _number(int, 1, 100000), "Largest custom model file accepted")
    # Validation limits
    MAX_IMAGE_SIZE_MB: int = _setting(100, _number(int, 1, 100000), "Largest image file accepted")
    MAX_IMAGE_PIXELS: int = _setting(50_000_000, _number(int, 1, 2_000_000_000), "Largest input image in pixels (checked before decoding)")
    MAX_OUTPUT_PIXELS: int = _setting(400_000_000, _number(int, 1, 4_000_000_000), "Largest output image in pixels (checked before any model work)")
    MAX_VIDEO_SIZE_MB: int = _setting(1000, _number(int, 1, 1_000_000), "Largest video file accepted")
    MAX_VIDEO_SECONDS: float = _setting(3600.0, _number(float, 1, 86400 * 7), "Longest video accepted")
    MAX_VIDEO_FRAMES: int = _setting(200_000, _number(int, 1, 100_000_000), "Most frames in a video accepted")

    def __post_init__(self) -> None:
        logins = (self.AUTH,) if self.AUTH else ()
        if self.AUTH_FILE is not None:
            logins += tuple(pair for pair in read_logins(self.AUTH_FILE) if not self.AUTH or pair[0] != self.AUTH[0])
        object.__setattr__(self, "LOGINS", logins)  # every login: AUTH and AUTH_FILE's lines together
        if self.BACKUP_DIR is None:
            object.__setattr__(self, "BACKUP_DIR", self.DATA_DIR / "backups")
        if self.LOG_FILE is None:
            object.__setattr__(self, "LOG_FILE", self.DATA_DIR / "logs" / "realesrgan_app.log")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, env_file: str | Path | None = None) -> "AppConfig":
        """Values from `environ` (default os.environ) over `env_file` (default `.env` in the project)."""
        values: dict[str, str] = {}
        if env_file is None:
            env_file = PROJECT_ROOT / ".env"
        if env_file and Path(env_file).is_file():
            from dotenv import dotenv_values
            values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        values.update(os.environ if environ is None else environ)
        kwargs: dict[str, Any] = {}
        for spec in dataclasses.fields(cls):
            raw = values.get(PREFIX + spec.name)
            if raw is not None and raw.strip():  # an empty value means "the default"
                kwargs[spec.name] = spec.metadata["parse"](spec.name, raw)
        return cls(**kwargs)

    def replace(self, **changes: Any) -> "AppConfig":
        return dataclasses.replace(self, **changes)

    def ensure_directories(self) -> None:
        for path in (self.INPUT_DIR, self.OUTPUT_DIR, self.WEIGHTS_DIR, self.WEIGHTS_DIR / "custom",
                     self.DATA_DIR, self.BACKUP_DIR, self.LOG_FILE.parent):
            path.mkdir(parents=True, exist_ok=True)

    @property
    def SETTINGS_FILE(self) -> Path:
        return self.DATA_DIR / "settings.json"

    @property
    def PRESETS_FILE(self) -> Path:
        return self.DATA_DIR / "presets.json"

    @property
    def HISTORY_DB(self) -> Path:
        return self.DATA_DIR / "history.sqlite3"

    @property
    def GRADIO_TEMP_DIR(self) -> Path:
        return self.DATA_DIR / "gradio-tmp"

    @property
    def MAX_IMAGE_BYTES(self) -> int:
        return self.MAX_IMAGE_SIZE_MB * 1024 * 1024

    @property
    def MAX_VIDEO_BYTES(self) -> int:
        return self.MAX_VIDEO_SIZE_MB * 1024 * 1024

    @property
    def engine(self):
        """The slices of these settings that jobs read (`engine/job_config.py`)."""
        from engine.job_config import JobConfig, Limits  # imported on use: the engine loads torch
        limits = Limits(max_image_bytes=self.MAX_IMAGE_BYTES, max_image_pixels=self.MAX_IMAGE_PIXELS,
                        max_output_pixels=self.MAX_OUTPUT_PIXELS, max_video_bytes=self.MAX_VIDEO_BYTES,
                        max_video_seconds=self.MAX_VIDEO_SECONDS, max_video_frames=self.MAX_VIDEO_FRAMES)
        return JobConfig(limits=limits, default_model=self.DEFAULT_MODEL, precision="fp32" if self.FP32 else "auto",
                         output_dir=self.OUTPUT_DIR, tile_pad=self.TILE_PAD, memory_reserve=self.GPU_MEMORY_RESERVE,
                         memory_share=1.0 / self.CONCURRENCY_LIMIT,
                         clear_device_cache=self.ENABLE_MEMORY_OPTIMIZATION,
                         faces_enabled=self.ENABLE_FACE_ENHANCEMENT, allow_downloads=self.ALLOW_DOWNLOADS)


def documented_settings() -> list[tuple[str, Any, str]]:
    """(variable, default, description) for every setting: the source of `.env.example`."""
    return [(PREFIX + f.name, f.default, f.metadata["doc"]) for f in dataclasses.fields(AppConfig)]


_loaded: AppConfig | None = None


def __getattr__(name: str) -> AppConfig:
    # `from config import Config` (the seed's spelling) gives the configuration of this process,
    # read on first use so that importing the module never fails on a bad environment.
    global _loaded
    if name == "Config":
        if _loaded is None:
            _loaded = AppConfig.from_env()
        return _loaded
    raise AttributeError(name)


def load_or_report(config: AppConfig | None = None) -> AppConfig | None:
    """`config`, else the environment's; None, with the reason on stderr, when a setting is invalid."""
    try:
        return config or AppConfig.from_env()
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return None
