"""Tile plans and blend windows: pure functions over sizes and arrays.

An image is cut into a grid of tiles. Each tile is run with `pad_px` of context on its inner
sides; in the output, neighbouring tiles overlap by 2*pad*scale pixels and are cross-faded with
linear ramps. The windows are normalised per axis, and because the grid is a Cartesian product and
each window is separable, the 2D weights sum to exactly 1 everywhere: no weight map is needed.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Segment:
    """One tile's extent along an axis, in input pixels: [start, stop) with context."""
    start: int
    stop: int
    core_start: int
    core_stop: int

    @property
    def length(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class Tile:
    row: int
    col: int
    y: Segment
    x: Segment


@dataclass(frozen=True)
class TilePlan:
    height: int
    width: int
    tile_px: int
    pad_px: int
    rows: tuple[Segment, ...]
    cols: tuple[Segment, ...]

    @property
    def count(self) -> int:
        return len(self.rows) * len(self.cols)

    def tiles(self) -> Iterator[Tile]:
        for r, y in enumerate(self.rows):
            for c, x in enumerate(self.cols):
                yield Tile(r, c, y, x)

    def input_pixels(self) -> int:
        """Pixels the model sees, context included (the cost of the plan)."""
        return sum(s.length for s in self.rows) * sum(s.length for s in self.cols)


def plan_axis(length: int, tile_px: int, pad_px: int, edge_px: int = 0) -> tuple[Segment, ...]:
    """Equal cores of at most `tile_px` covering [0, length), each widened by `pad_px` of context.

    `edge_px` of `length` at each end is a mirrored border, not picture: it is context for the
    outer tiles, so the cores are sized on the picture (`length - 2 * edge_px`) and a border never
    adds a tile (a 2048 px picture with a 32 px border takes two 1024 px tiles, not three)."""
    if length < 1:
        raise ValueError("length must be positive")
    content = length - 2 * edge_px
    if content < 1:
        raise ValueError("the border leaves no picture")
    if tile_px <= 0 or tile_px >= content:
        return (Segment(0, length, 0, length),)
    count = math.ceil(content / tile_px)
    core = math.ceil(content / count)
    bounds = [0] + [edge_px + i * core for i in range(1, count) if i * core < content] + [length]
    return tuple(Segment(max(0, start - pad_px), min(length, stop + pad_px), start, stop)
                 for start, stop in zip(bounds, bounds[1:]))


def plan_tiles(height: int, width: int, tile_px: int, pad_px: int = 16, edge_px: int = 0) -> TilePlan:
    """`tile_px` 0 means one tile (no tiling); `edge_px`: the mirrored border included in the sizes."""
    if tile_px < 0 or pad_px < 0 or edge_px < 0:
        raise ValueError("tile_px, pad_px and edge_px must be >= 0")
    return TilePlan(height, width, tile_px, pad_px,
                    plan_axis(height, tile_px, pad_px, edge_px), plan_axis(width, tile_px, pad_px, edge_px))


def axis_windows(segments: tuple[Segment, ...], scale: int, ramp_fraction: float = 0.5) -> list[np.ndarray]:
    """Per-segment 1D weights in output pixels; they sum to 1 at every output position.

    Across each overlap the two tiles cross-fade linearly over the central `ramp_fraction` of it:
    the pixels nearest a tile's own border (those with the least context) get no weight.
    """
    if len(segments) == 1:
        return [np.ones(segments[0].length * scale, dtype=np.float32)]
    total = segments[-1].stop * scale
    raw = []
    sums = np.zeros(total, dtype=np.float64)
    for i, seg in enumerate(segments):
        pos = np.arange(seg.start * scale, seg.stop * scale, dtype=np.float64) + 0.5
        window = np.ones_like(pos)
        if i > 0:  # fade in across the overlap with the previous tile
            centre = seg.core_start * scale
            width = max(1.0, 2.0 * (seg.core_start - seg.start) * scale * ramp_fraction)
            window = np.minimum(window, np.clip((pos - centre) / width + 0.5, 0.0, 1.0))
        if i < len(segments) - 1:  # fade out across the overlap with the next tile
            centre = seg.core_stop * scale
            width = max(1.0, 2.0 * (seg.stop - seg.core_stop) * scale * ramp_fraction)
            window = np.minimum(window, np.clip((centre - pos) / width + 0.5, 0.0, 1.0))
        window = np.maximum(window, 1e-6)  # every covered pixel keeps a defined weight
        raw.append(window)
        sums[seg.start * scale: seg.stop * scale] += window
    return [(w / sums[s.start * scale: s.stop * scale]).astype(np.float32) for w, s in zip(raw, segments)]


def auto_tile_px(height: int, width: int, free_bytes: int, bytes_per_pixel: float, *,
                 pad_px: int = 16, max_tile_px: int = 1024, min_tile_px: int = 64) -> int:
    """Largest tile whose padded input fits in `free_bytes`; 0 (no tiling) if the whole image fits.

    `bytes_per_pixel` is the model's peak working memory per input pixel at the chosen precision.
    """
    if height * width * bytes_per_pixel <= free_bytes and max(height, width) <= max_tile_px:
        return 0
    side = int(math.sqrt(max(free_bytes, 1) / bytes_per_pixel)) - 2 * pad_px
    side = max(min_tile_px, min(max_tile_px, side))
    return side // 8 * 8
