"""Compare models on a region: each model's output and time, missing models listed, a labelled grid."""
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from engine.jobs.compare import compare_models, comparison_grid, crop_region
from engine.models.manager import ModelManager
from utils.errors import InvalidInput

from tests.conftest import ROOT


def test_centre_region_and_explicit_region(chelsea):
    assert crop_region(chelsea).shape == (256, 256, 3)
    assert np.array_equal(crop_region(chelsea, (10, 20, 30, 40)), chelsea[20:60, 10:40])
    assert crop_region(chelsea, (440, 290, 100, 100)).shape == (10, 11, 3)  # clipped to the image
    with pytest.raises(InvalidInput, match="too small"):
        crop_region(chelsea, (450, 299, 5, 5))


def test_models_side_by_side_with_missing_ones_listed(chelsea, weights_dir):
    manager = ModelManager(weights_dir=weights_dir, allow_downloads=False)
    crop, results = compare_models(chelsea, ["realesr-animevideov3", "RealESRGAN_x2plus"], model_manager=manager,
                                   region=(100, 100, 32, 32))
    fast, missing = results
    assert fast.image.shape == (128, 128, 3) and fast.seconds > 0
    assert missing.image is None and "RealESRGAN_x2plus.pth" in missing.error
    grid = comparison_grid(crop, results, cell_px=64)
    assert grid.shape == (64 + 28, 3 * 64, 3)


def test_compare_command(tmp_path, cli_env, chelsea):
    source = tmp_path / "cat.png"
    Image.fromarray(chelsea).save(source)
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "compare", str(source), "-o", str(tmp_path / "out"),
                             "-m", "realesr-animevideov3", "RealESRGAN_x4plus_anime_6B", "--region", "150,80,48,48"],
                            env=cli_env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "out" / "cat_compare.png").size == (3 * 384, 384 + 28)
    assert Image.open(tmp_path / "out" / "cat_realesr-animevideov3.png").size == (192, 192)
    assert "realesr-animevideov3" in result.stdout and " s" in result.stdout
