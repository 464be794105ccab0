"""Compare models on one region of an image: each model's result and time, and a labelled grid."""
from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np

from engine.pixels.inference import CancelCheck
from engine.models.manager import ModelManager
from engine.pixels.upscale import UpscaleOptions, default_pad_px, upscale_pixels
from utils.errors import Cancelled, InvalidInput, UserError
from utils.gpu import DeviceRequest
from utils.images import resize, to_rgb8

DEFAULT_REGION_PX = 256
MAX_REGION_PX = 1024
MAX_MODELS = 6
CELL_PX = 384


@dataclass(frozen=True)
class Comparison:
    model: str
    image: np.ndarray | None
    seconds: float
    error: str = ""


def crop_region(pixels: np.ndarray, region: tuple[int, int, int, int] | None = None,
                size: int = DEFAULT_REGION_PX) -> np.ndarray:
    """The region (x, y, width, height), clipped to the image and to `MAX_REGION_PX` a side; by
    default the centre `size` square."""
    height, width = pixels.shape[:2]
    size = min(int(size), MAX_REGION_PX)
    if region is None:
        w, h = min(size, width), min(size, height)
        region = ((width - w) // 2, (height - h) // 2, w, h)
    x, y, w, h = (int(v) for v in region)
    w, h = min(w, MAX_REGION_PX), min(h, MAX_REGION_PX)
    x0, y0 = max(0, min(x, width - 1)), max(0, min(y, height - 1))
    x1, y1 = min(width, x0 + max(1, w)), min(height, y0 + max(1, h))
    if x1 - x0 < 4 or y1 - y0 < 4:
        raise InvalidInput("The comparison region is too small; choose at least 4x4 pixels inside the image.")
    return np.ascontiguousarray(pixels[y0:y1, x0:x1])


def compare_models(pixels: np.ndarray, model_names: list[str], *, model_manager: ModelManager,
                   region: tuple[int, int, int, int] | None = None, gpu_id: DeviceRequest = None,
                   on_progress=None, should_cancel: CancelCheck | None = None) -> tuple[np.ndarray, list[Comparison]]:
    """Run each model at its own scale on the region (tiled like any job); unavailable models are
    listed with the reason. A model named twice runs once; at most `MAX_MODELS` models."""
    model_names = list(dict.fromkeys(model_names or []))
    if not model_names:
        raise InvalidInput("Choose at least one model to compare.")
    if len(model_names) > MAX_MODELS:
        raise InvalidInput(f"{len(model_names)} models were chosen; compare at most {MAX_MODELS} at a time.")
    crop = crop_region(pixels, region)
    results = []
    for index, name in enumerate(model_names):
        if should_cancel and should_cancel():
            raise Cancelled("Cancelled; nothing was written.")
        if on_progress:
            on_progress(index, len(model_names), f"comparing {name}")
        started = time.perf_counter()
        try:
            model = model_manager.load_model(name, gpu_id)
            out, _ = upscale_pixels(model, crop, UpscaleOptions(outscale=model.scale, tile_px=None,
                                                                pad_px=default_pad_px(model.architecture)),
                                    should_cancel=should_cancel)
            results.append(Comparison(name, out, time.perf_counter() - started))
        except UserError as error:
            results.append(Comparison(name, None, 0.0, str(error)))
    if on_progress:
        on_progress(len(model_names), len(model_names), "done")
    return crop, results


def comparison_grid(crop: np.ndarray, results: list[Comparison], cell_px: int = CELL_PX) -> np.ndarray:
    """Input (nearest-neighbour enlarged) then each model, side by side in rows of 3, labelled."""
    cells = [(cv2.resize(to_rgb8(crop), (cell_px, cell_px), interpolation=cv2.INTER_NEAREST), "input")]
    for r in results:
        if r.image is None:
            cell = np.full((cell_px, cell_px, 3), 40, np.uint8)
            label = f"{r.model}: not available"
        else:
            cell = to_rgb8(resize(r.image, cell_px, cell_px))
            label = f"{r.model}  {r.seconds:.2f} s"
        cells.append((cell, label))
    columns = min(3, len(cells))
    rows = -(-len(cells) // columns)
    bar = 28
    grid = np.full((rows * (cell_px + bar), columns * cell_px, 3), 255, np.uint8)
    for i, (cell, label) in enumerate(cells):
        r, c = divmod(i, columns)
        top, left = r * (cell_px + bar), c * cell_px
        grid[top + bar: top + bar + cell_px, left: left + cell_px] = cell
        cv2.putText(grid, label[:48], (left + 6, top + 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (20, 20, 20), 1, cv2.LINE_AA)
    return grid
