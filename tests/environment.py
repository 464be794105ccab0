"""The one isolated environment every test builds the app's configuration from: its own folders
under `root`, the session's converted weights, no downloads."""
from __future__ import annotations

from pathlib import Path


def isolated_env(root: Path, weights_dir: Path, **extra: str) -> dict[str, str]:
    """REALESRGAN_* variables for an app whose outputs, inputs and data live under `root`."""
    return {"REALESRGAN_WEIGHTS_DIR": str(weights_dir), "REALESRGAN_OUTPUT_DIR": str(root / "outputs"),
            "REALESRGAN_INPUT_DIR": str(root / "inputs"), "REALESRGAN_DATA_DIR": str(root / "data"),
            "REALESRGAN_ALLOW_DOWNLOADS": "false", **extra}
