"""Shared fixtures: real models from the bundled pack (converted once per session into a temporary
weights directory), real images from scikit-image's wheel and, when present, ../shared/testdata."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.environment import isolated_env  # noqa: E402  (after the path insert)

TESTDATA = ROOT.parent / "shared" / "testdata"
needs_testdata = pytest.mark.skipif(not TESTDATA.is_dir(), reason="../shared/testdata is not beside this clone")


def skimage_data_dir() -> Path:
    import skimage
    return Path(skimage.__file__).parent / "data"


@pytest.fixture(scope="session")
def skimage_dir() -> Path:
    return skimage_data_dir()


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory) -> Path:
    """A weights directory shared by the session: bundled models are converted into it once."""
    return tmp_path_factory.mktemp("weights")


@pytest.fixture(scope="session")
def manager(weights_dir):
    from engine.models.manager import ModelManager
    return ModelManager(weights_dir=weights_dir, allow_downloads=False)


@pytest.fixture(scope="session")
def anime_video_model(manager):
    return manager.load_model("realesr-animevideov3")


@pytest.fixture(scope="session")
def anime_6b_model(manager):
    return manager.load_model("RealESRGAN_x4plus_anime_6B")


@pytest.fixture(scope="session")
def chelsea(skimage_dir) -> np.ndarray:
    """A real photo (the cat from scikit-image), RGB uint8, 300x451."""
    from utils.images import read_image
    return read_image(skimage_dir / "chelsea.png").pixels


@pytest.fixture
def app_config(tmp_path, weights_dir):
    from config import AppConfig
    return AppConfig.from_env(isolated_env(tmp_path, weights_dir), env_file="")


@pytest.fixture
def cli_env(tmp_path, weights_dir) -> dict[str, str]:
    """Environment for running `python main.py` as a user would, isolated in tmp_path."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("REALESRGAN_")}
    return {**inherited, **isolated_env(tmp_path, weights_dir)}


@pytest.fixture
def root_logging():
    """`serve` configures the root logger; put it back for the tests after this one."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)
