"""From any decoded image to its upscaled pixels: channels, alpha, bit depth, outscale, tiling.

Gray stays gray, gray+alpha and RGBA keep their alpha (upscaled by the model or bicubic), 16-bit
stays 16-bit, and any outscale in [1, 8] is reached by the model pass plus a high-quality resize.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import torch

from engine.pixels.inference import CancelCheck, DeviceOutOfMemory, run_batch, store_rows, upscale_rgb
from engine.models.manager import LoadedModel
from engine.models.profiles import profile_of
from engine.pixels.tiling import auto_tile_px, plan_tiles
from utils.errors import InvalidInput, OutOfMemory
from utils.gpu import GPUDetector, free_memory_bytes
from utils.images import resize
from utils.progress import TileReport

log = logging.getLogger(__name__)

AlphaUpsampler = Literal["realesrgan", "bicubic"]
ALPHA_UPSAMPLERS: tuple[str, ...] = ("realesrgan", "bicubic")
ProgressFn = Callable[[int, int, str], None]
MIN_OUTSCALE, MAX_OUTSCALE = 1.0, 8.0
MIN_TILE_PX = 32
MIN_EDGE_PX = 8
# Tiles repeat their overlap, so fewer, larger tiles cost less: x4plus runs about as many pixels per
# second on a 1088 px tile as on a 576 px one (README, Performance), and a 2048 px picture in 2x2
# tiles repeats 6% of its pixels where 4x4 repeated 19%. Memory bounds it further (`auto_tile_px`);
# cancelling does not wait for the tile (the job's check runs inside the forward).
CPU_MAX_TILE_PX = 1024


@dataclass(frozen=True)
class UpscaleOptions:
    outscale: float = 4.0
    tile_px: int | None = None  # None: automatic; 0: no tiling
    pad_px: int = 16
    alpha_upsampler: AlphaUpsampler = "realesrgan"
    batch_size: int = 1
    memory_reserve: float = 0.1
    memory_share: float = 1.0  # of the free memory, what this job may plan with (others run beside it)
    edge_px: int | None = None  # mirrored border around the image (None: pad_px, at least 8; 0: none)


@dataclass(frozen=True)
class UpscaleReport:
    tile_px: int
    tiles: int
    retries: int
    seconds: float


def output_size(width: int, height: int, outscale: float) -> tuple[int, int]:
    return max(1, round(width * outscale)), max(1, round(height * outscale))


def check_outscale(outscale: float) -> float:
    if not (isinstance(outscale, (int, float)) and math.isfinite(outscale)) or not \
            MIN_OUTSCALE <= outscale <= MAX_OUTSCALE:
        raise InvalidInput(f"Outscale {outscale} is out of range; use a value from {MIN_OUTSCALE:g} to {MAX_OUTSCALE:g}.")
    return float(outscale)


def default_pad_px(architecture: str) -> int:
    """The tile overlap a model of `architecture` (spandrel's id) needs for seamless tiles."""
    return profile_of(architecture).overlap_px


def bytes_per_input_pixel(architecture: str, precision: str = "fp32") -> int:
    profile = profile_of(architecture)
    return profile.bytes_per_input_pixel if precision == "fp32" else profile.bytes_per_input_pixel_half


def job_memory_bytes(device: torch.device, memory_reserve: float = 0.1, memory_share: float = 1.0) -> int:
    """The memory one job may plan with on `device`: what is free, less the reserve, times the job's
    share (jobs running at once each plan with theirs)."""
    return int(free_memory_bytes(device, memory_reserve) * min(1.0, max(memory_share, 0.0)))


def tile_for(architecture: str, device: torch.device, height: int, width: int, *, pad_px: int | None = None,
             memory_reserve: float = 0.1, precision: str = "fp32", memory_share: float = 1.0) -> int:
    """The automatic tile size for a model of `architecture` on `device` at `precision` (0: the
    whole image fits), planned with `memory_share` of the free memory (jobs running at once each
    plan with their share: running out of RAM on a CPU ends the process, it cannot be retried).
    The one tile function: processing, video and the analyser's "optimal tile" all ask it, with
    the architecture's own overlap unless `pad_px` says otherwise."""
    cap = CPU_MAX_TILE_PX if device.type == "cpu" else 2048
    pad_px = default_pad_px(architecture) if pad_px is None else pad_px
    measured = precision if device.type == "cpu" else "fp32"  # the half-precision figure is the CPU's
    return auto_tile_px(height, width, job_memory_bytes(device, memory_reserve, memory_share), bytes_per_input_pixel(architecture, measured), pad_px=pad_px,
                        max_tile_px=cap)


def choose_tile(model: LoadedModel, height: int, width: int, options: UpscaleOptions) -> int:
    if options.tile_px is not None:
        return options.tile_px
    return tile_for(model.architecture, model.device, height, width, pad_px=options.pad_px,
                    memory_reserve=options.memory_reserve, precision=model.precision,
                    memory_share=options.memory_share)


def upscale_batch(model: LoadedModel, frames: list[np.ndarray], options: UpscaleOptions, *,
                  should_cancel: CancelCheck | None = None) -> list[np.ndarray]:
    """Same-sized RGB frames (uint8 or uint16, each small enough to run whole) through the model in
    one batch, then to the outscale size; the dtype is kept. Each frame gets the same mirrored
    border as `upscale_pixels` gives a single image, so a video's edges do not depend on whether its
    frames were batched. `should_cancel` is checked before every weighted layer of the forward.
    Raises DeviceOutOfMemory for the caller to go on one frame at a time."""
    top = 65535 if frames[0].dtype == np.uint16 else 255
    edge = edge_px_for(options)
    height, width = frames[0].shape[:2]
    target = output_size(width, height, check_outscale(options.outscale))
    out = []
    for tensor in run_batch(model, [mirror_pad(frame, edge) for frame in frames], top, should_cancel=should_cancel):
        values = tensor.permute(1, 2, 0).numpy()
        pixels = np.empty(values.shape, frames[0].dtype)
        store_rows(pixels, values, 0, top)
        pixels = crop_edge(pixels, edge * model.scale)
        out.append(pixels if (pixels.shape[1], pixels.shape[0]) == target else resize(pixels, *target))
    return out


def upscale_pixels(model: LoadedModel, pixels: np.ndarray, options: UpscaleOptions, *,
                   on_progress: ProgressFn | None = None,
                   should_cancel: CancelCheck | None = None) -> tuple[np.ndarray, UpscaleReport]:
    """Upscale gray, gray+alpha, RGB or RGBA (uint8/uint16) to `options.outscale`."""
    started = time.perf_counter()
    outscale = check_outscale(options.outscale)
    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    color = pixels if pixels.ndim == 2 else pixels[..., :3 if channels >= 3 else 1]
    if color.ndim == 3 and color.shape[2] == 1:
        color = color[..., 0]
    alpha = pixels[..., -1] if channels in (2, 4) else None
    gray = color.ndim == 2
    if alpha is not None:  # what transparent pixels hide must not bleed into the visible edges
        color = fill_hidden_colour(color, alpha)
    rgb = np.ascontiguousarray(np.repeat(color[..., None], 3, axis=2) if gray else color)
    edge = edge_px_for(options)
    rgb = mirror_pad(rgb, edge)

    tile = choose_tile(model, height, width, options)
    passes = 2 if (alpha is not None and options.alpha_upsampler == "realesrgan") else 1
    retries = 0
    while True:
        try:
            plan = plan_tiles(height + 2 * edge, width + 2 * edge, tile, options.pad_px, edge)
            report = TileReport(on_progress, plan.count * passes, model.speed.expected_seconds(
                plan.input_pixels() * passes))
            report.start()
            heartbeat = report.heartbeat if on_progress else None
            up = upscale_rgb(model, rgb, plan, batch_size=options.batch_size, on_tile=report.tile_done,
                             should_cancel=should_cancel, on_layer=heartbeat)
            if alpha is not None:
                if options.alpha_upsampler == "realesrgan":
                    alpha_rgb = mirror_pad(np.ascontiguousarray(np.repeat(alpha[..., None], 3, axis=2)), edge)
                    up_alpha = upscale_rgb(model, alpha_rgb, plan, batch_size=options.batch_size,
                                           on_tile=lambda d, c: report.tile_done(plan.count + d, c),
                                           should_cancel=should_cancel, on_layer=heartbeat)
                    up_alpha = _to_gray(crop_edge(up_alpha, edge * model.scale))
                else:
                    up_alpha = cv2.resize(alpha, (width * model.scale, height * model.scale),
                                          interpolation=cv2.INTER_CUBIC)
            break
        except DeviceOutOfMemory:
            GPUDetector.clear_gpu_cache()
            smaller = (tile or max(height, width)) // 2
            if smaller < MIN_TILE_PX:
                raise OutOfMemory(f"{model.device.type.upper()} ran out of memory even with {MIN_TILE_PX} px tiles; "
                                  "close other programs, use a smaller image or outscale, or a lighter model.") from None
            log.warning("out of memory with tile %s; retrying with tile %s", tile or "off", smaller)
            tile, retries = smaller, retries + 1

    up = crop_edge(up, edge * model.scale)
    out = _to_gray(up) if gray else up
    if alpha is not None:
        out = np.dstack([out, up_alpha])
    target = output_size(width, height, outscale)
    if target != (out.shape[1], out.shape[0]):
        out = resize(out, *target)
    return out, UpscaleReport(tile, plan.count, retries, time.perf_counter() - started)


def edge_px_for(options: UpscaleOptions) -> int:
    """The mirrored border: the network's zero padding then falls outside the image, so edge pixels
    (and whole 1x1 images) keep their colour."""
    if options.edge_px is not None:
        return max(0, int(options.edge_px))
    return max(MIN_EDGE_PX, options.pad_px)


def mirror_pad(pixels: np.ndarray, edge: int) -> np.ndarray:
    """`pixels` (HxWxC) with `edge` pixels mirrored on every side (edge pixel repeated, then its
    neighbours; any size, 1x1 included)."""
    if edge <= 0:
        return pixels
    return np.pad(pixels, ((edge, edge), (edge, edge), (0, 0)), mode="symmetric")


def crop_edge(pixels: np.ndarray, edge: int) -> np.ndarray:
    if edge <= 0:
        return pixels
    return np.ascontiguousarray(pixels[edge:-edge, edge:-edge])


def fill_hidden_colour(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Colour (HxW or HxWxC) in which every fully transparent pixel takes the colour of the
    nearest visible one. Visible pixels are unchanged; an image with no visible pixel is returned
    as it is. Upscaling then sees no hidden colour beside the visible edges."""
    hidden = alpha == 0
    if not hidden.any() or hidden.all():
        return color
    # distanceTransform labels each pixel with its nearest zero (= visible) pixel; with
    # DIST_LABEL_PIXEL the labels number the zero pixels in row-major order from 1.
    _, labels = cv2.distanceTransformWithLabels(hidden.astype(np.uint8), cv2.DIST_L2, 5,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    visible_index = np.flatnonzero(~hidden.ravel())
    source = visible_index[labels.ravel() - 1]
    flat = color.reshape(hidden.size, -1)
    filled = flat[source].reshape(color.shape)
    return filled


def _to_gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
