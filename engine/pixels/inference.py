"""Tiled inference of one RGB image: tiles in, blended output band by band, on the CPU.

The output is assembled on the CPU a band of tile rows at a time, so memory stays bounded by the
tile size (plus the final image), whatever the device. A failing tile fails the image: nothing is
pasted from a previous tile. The job's stop check runs before every tile and, through
`watched_forward`, before every weighted layer inside a tile's forward; every completed forward
records the model's measured speed (`LoadedModel.speed`) for time estimates.
"""
from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable

import numpy as np
import torch

from engine.models.forward_watch import CANCELLED_NOTE, LayerFn, watched_forward
from engine.models.manager import LoadedModel
from engine.pixels.tiling import Tile, TilePlan, axis_windows
from utils.errors import Cancelled

log = logging.getLogger(__name__)

TileProgress = Callable[[int, int], None]
CancelCheck = Callable[[], bool]


class DeviceOutOfMemory(RuntimeError):
    """The device could not hold a tile; the caller retries with smaller tiles."""


def is_out_of_memory(error: BaseException) -> bool:
    if isinstance(error, torch.OutOfMemoryError):
        return True
    text = str(error).lower()
    return isinstance(error, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def autocast_for(model: LoadedModel):
    if model.precision == "bf16" and model.device.type == "cpu":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def input_dtype(model: LoadedModel) -> torch.dtype:
    return torch.float16 if model.precision == "fp16" else torch.float32


def run_batch(model: LoadedModel, tiles: list[np.ndarray], max_value: int, *,
              should_cancel: CancelCheck | None = None, on_layer: LayerFn | None = None,
              measure: bool = True) -> torch.Tensor:
    """Run same-shaped HxWx3 integer tiles; returns N x 3 x H*s x W*s float32 in [0, 1] on the CPU.
    `should_cancel` and `on_layer` are called before every weighted layer (see `watched_forward`);
    with `measure`, the forward's time per input pixel is recorded in `model.speed`."""
    started = time.perf_counter()
    batch = torch.from_numpy(np.stack(tiles)).to(model.device, non_blocking=True)
    batch = batch.permute(0, 3, 1, 2).to(input_dtype(model)).div_(max_value)
    batch = batch.contiguous(memory_format=torch.channels_last)
    try:
        with model.running.one(), torch.inference_mode(), autocast_for(model), \
                watched_forward(model.descriptor.model, should_cancel, on_layer):
            # spandrel's descriptor pads to the model's size requirements and clamps to [0, 1]
            out = model.descriptor(batch).float().cpu()  # .cpu() waits for the device: the time is real
    except Exception as error:
        if is_out_of_memory(error):
            raise DeviceOutOfMemory(str(error)) from error
        raise
    if measure:
        model.speed.record(time.perf_counter() - started, batch.shape[0] * batch.shape[2] * batch.shape[3])
    return out


def upscale_rgb(model: LoadedModel, rgb: np.ndarray, plan: TilePlan, *, batch_size: int = 1,
                on_tile: TileProgress | None = None, should_cancel: CancelCheck | None = None,
                on_layer: LayerFn | None = None) -> np.ndarray:
    """Upscale an HxWx3 uint8/uint16 image by `model.scale`; returns the same dtype. `should_cancel`
    is checked before every tile and every weighted layer, `on_layer` called before every layer."""
    # the hooks go on once for the whole image, not once a tile: a small tile's forward is short
    with watched_forward(model.descriptor.model, should_cancel, on_layer):
        return _upscale_tiles(model, rgb, plan, batch_size=batch_size, on_tile=on_tile, should_cancel=should_cancel)


def _upscale_tiles(model: LoadedModel, rgb: np.ndarray, plan: TilePlan, *, batch_size: int,
                   on_tile: TileProgress | None, should_cancel: CancelCheck | None) -> np.ndarray:
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError("upscale_rgb takes an HxWx3 array")
    s = model.scale
    top = 65535 if rgb.dtype == np.uint16 else 255
    out = np.empty((plan.height * s, plan.width * s, 3), dtype=rgb.dtype)
    wy_all, wx_all = axis_windows(plan.rows, s), axis_windows(plan.cols, s)
    done = 0
    band = None  # float32 accumulator for the output rows of the current tile row
    band_start = 0
    for r, y in enumerate(plan.rows):
        new_band = np.zeros((y.length * s, plan.width * s, 3), dtype=np.float32)
        if band is not None:  # rows above this tile row are final; the overlap carries over
            finish = y.start * s
            store_rows(out, band[: finish - band_start], band_start, top)
            new_band[: band_start + band.shape[0] - finish] = band[finish - band_start:]
        band, band_start = new_band, y.start * s
        tiles = [t for t in _row_tiles(plan, r)]
        for group in _batches(tiles, batch_size):
            if should_cancel and should_cancel():
                raise Cancelled(CANCELLED_NOTE)
            inputs = [rgb[t.y.start:t.y.stop, t.x.start:t.x.stop] for t in group]
            outputs = run_batch(model, inputs, top)
            wy = torch.from_numpy(wy_all[r])[:, None]
            for t, result in zip(group, outputs):
                weighted = (result * wy * torch.from_numpy(wx_all[t.col])[None, :]).permute(1, 2, 0)
                band[:, t.x.start * s: t.x.stop * s] += weighted.numpy()
            done += len(group)
            if on_tile:
                on_tile(done, plan.count)
    store_rows(out, band, band_start, top)
    return out


def _row_tiles(plan: TilePlan, row: int) -> list[Tile]:
    return [t for t in plan.tiles() if t.row == row]


def _batches(tiles: list[Tile], batch_size: int) -> list[list[Tile]]:
    """Consecutive tiles of one shape, at most `batch_size` at a time."""
    groups: list[list[Tile]] = []
    for tile in tiles:
        last = groups[-1] if groups else None
        if last and len(last) < batch_size and last[0].x.length == tile.x.length:
            last.append(tile)
        else:
            groups.append([tile])
    return groups


def store_rows(out: np.ndarray, values: np.ndarray, start: int, top: int) -> None:
    """Model output (floats in [0, 1], changed in place) as whole numbers up to `top` into `out`'s rows
    from `start`: the one float-to-pixel conversion of every path."""
    rows = values.shape[0]
    np.multiply(values, top, out=values)
    np.rint(values, out=values)
    np.clip(values, 0, top, out=values)
    out[start:start + rows] = values
