"""Regenerate the golden outputs: `python -m tests.golden.regenerate`.

Each bundled model upscales the same 32x32 crop of a real photo (scikit-image's cat) at fp32 on the
CPU, whole-image; the PNGs beside this file are what `tests/test_golden.py` compares against. Run
this only when a change to the outputs is intended, look at the new PNGs, and say so in the commit.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
BUNDLED_MODELS = ("RealESRGAN_x4plus", "RealESRGAN_x4plus_anime_6B", "realesr-animevideov3")
CROP = (slice(100, 132), slice(200, 232))  # rows, columns of chelsea.png: fur and a dark edge


def golden_input() -> np.ndarray:
    import skimage
    cat = np.asarray(Image.open(Path(skimage.__file__).parent / "data" / "chelsea.png").convert("RGB"))
    return np.ascontiguousarray(cat[CROP])


def golden_path(model_name: str) -> Path:
    return HERE / f"{model_name}.png"


def golden_output(manager, model_name: str) -> np.ndarray:
    from engine.jobs.image import enhance_image_direct
    return enhance_image_direct(golden_input(), model_name, 4, model_manager=manager, fp32=True, tile=0,
                                auto_tile=False, gpu_id="cpu", save=False).image


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from engine.models.manager import ModelManager
    with tempfile.TemporaryDirectory() as weights:
        manager = ModelManager(weights_dir=weights, allow_downloads=False)
        for name in BUNDLED_MODELS:
            Image.fromarray(golden_output(manager, name)).save(golden_path(name))
            print(f"regenerated {golden_path(name).relative_to(ROOT)}: review it and say so in the commit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
