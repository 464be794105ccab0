"""The server settings a job reads, as typed slices of the app's configuration (`config.py`).

`AppConfig.engine` builds one `JobConfig` from the environment; the engine never reads the app's
configuration itself, and a job given none uses these defaults (the same as `config.py`'s).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from config import AppConfig


@dataclass(frozen=True)
class Limits:
    """What a job refuses before doing any work (None: no limit)."""
    max_image_bytes: int | None = 100 * 1024 * 1024
    max_image_pixels: int | None = 50_000_000
    max_output_pixels: int | None = 400_000_000
    max_video_bytes: int | None = 1000 * 1024 * 1024
    max_video_seconds: float | None = 3600.0
    max_video_frames: int | None = 200_000


@dataclass(frozen=True)
class JobConfig:
    limits: Limits = field(default_factory=Limits)
    default_model: str | None = None  # images' default model; None: RealESRGAN_x4plus (video has its own)
    precision: str = "auto"  # the default precision: "fp32" with REALESRGAN_FP32
    output_dir: Path = Path("outputs")
    tile_pad: int | None = None  # None: each architecture's own overlap (engine/models/profiles.py)
    memory_reserve: float = 0.1  # share of device memory kept free when sizing tiles
    memory_share: float = 1.0  # share of the rest one job may plan its tiles with (1 / jobs running at once)
    clear_device_cache: bool = True  # free the GPU's cache after each job
    faces_enabled: bool = True
    allow_downloads: bool = False  # a library caller's default; the app's comes from REALESRGAN_ALLOW_DOWNLOADS


def job_config(config: "JobConfig | AppConfig | None") -> JobConfig:
    """`config` as a JobConfig: itself, the defaults for None, or an AppConfig's `engine` slice
    (the seed passes its `Config` to the entry points)."""
    if config is None:
        return JobConfig()
    if isinstance(config, JobConfig):
        return config
    engine = getattr(type(config), "engine", None)
    if not isinstance(engine, property):
        raise TypeError(f"config must be a JobConfig or an AppConfig, not {type(config).__name__}")
    return config.engine
