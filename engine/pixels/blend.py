"""Blending two upscales and the double pass: the sizes they lead to and the weighted mix.

A blend is `(1 - weight) * first + weight * second`, computed in float and rounded back to the
images' bit depth; `weight` is the second model's visibility. A double pass runs the model over
its own output, so each pass applies the outscale (x4 twice is x16).
"""
from __future__ import annotations

import math

import numpy as np

from engine.pixels.upscale import output_size
from utils.errors import InvalidInput

BLEND_ROWS = 256


def final_size(width: int, height: int, outscale: float, double_pass: bool = False) -> tuple[int, int]:
    """The result's size, rounded the way the passes round it."""
    size = output_size(width, height, outscale)
    return output_size(*size, outscale) if double_pass else size


def pixel_limit_message(width: int, height: int, outscale: float, double_pass: bool,
                        max_output_pixels: int | None) -> str | None:
    """The one-sentence warning when the result would pass the output pixel limit, else None."""
    out_w, out_h = final_size(width, height, outscale, double_pass)
    if not max_output_pixels or out_w * out_h <= max_output_pixels:
        return None
    advice = "lower the outscale or turn off the double pass" if double_pass else "lower the outscale"
    return (f"The result would be {out_w}x{out_h} ({out_w * out_h / 1e6:.0f} MP), over the "
            f"{max_output_pixels / 1e6:.0f} MP output limit; {advice}.")


def intermediate_limit_message(width: int, height: int, model_scale: int, outscale: float, double_pass: bool,
                               max_output_pixels: int | None) -> str | None:
    """The warning when the model's own output (its native scale, before resizing to the outscale)
    would pass the pixel limit in any pass, else None: that image is held whole in memory."""
    if not max_output_pixels:
        return None
    sizes = [(width, height)]
    if double_pass:
        sizes.append(output_size(width, height, outscale))
    for pass_w, pass_h in sizes:
        made_w, made_h = pass_w * model_scale, pass_h * model_scale
        if made_w * made_h > max_output_pixels:
            return (f"The model makes a {made_w}x{made_h} ({made_w * made_h / 1e6:.0f} MP) image at its native "
                    f"x{model_scale} before resizing, over the {max_output_pixels / 1e6:.0f} MP limit; "
                    "use a smaller image (crop or downscale it) or a model with a smaller native scale.")
    return None


def check_blend_weight(weight: float) -> float:
    if not (isinstance(weight, (int, float)) and math.isfinite(weight)) or not 0.0 <= weight <= 1.0:
        raise InvalidInput(f"The second model's visibility {weight} is out of range; use 0 to 1.")
    return float(weight)


def blend_pixels(first: np.ndarray, second: np.ndarray, weight: float) -> np.ndarray:
    """`first` and `second` mixed, `weight` being `second`'s share; same shape and dtype as `first`."""
    weight = check_blend_weight(weight)
    if first.shape != second.shape or first.dtype != second.dtype:
        raise ValueError(f"cannot blend {first.shape} {first.dtype} with {second.shape} {second.dtype}")
    if weight == 0.0:
        return first
    if weight == 1.0:
        return second
    out = np.empty_like(first)
    top = np.iinfo(first.dtype).max
    for y in range(0, first.shape[0], BLEND_ROWS):  # in bands: float copies of a 256 MP image would need GBs
        rows = slice(y, y + BLEND_ROWS)
        mixed = first[rows].astype(np.float32) * (1.0 - weight)
        mixed += second[rows].astype(np.float32) * weight
        out[rows] = np.clip(np.rint(mixed), 0, top)
    return out
