"""Before/after figures for an enhanced image (the seed's metrics), computed in memory."""
from __future__ import annotations

import numpy as np
from PIL import Image

ImageLike = np.ndarray | Image.Image


def _size(image: ImageLike) -> tuple[int, int]:
    if isinstance(image, Image.Image):
        return image.size
    return int(image.shape[1]), int(image.shape[0])


def format_bytes(count: int | None) -> str:
    if count is None:
        return "n/a"
    for unit, factor in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if count >= factor:
            return f"{count / factor:.1f} {unit}"
    return f"{count} B"


def get_image_info(image: ImageLike) -> dict[str, str]:
    width, height = _size(image)
    if isinstance(image, Image.Image):
        mode, depth = image.mode, "16-bit" if image.mode.startswith("I;16") else "8-bit"
    else:
        channels = 1 if image.ndim == 2 else image.shape[2]
        mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}.get(channels, f"{channels}ch")
        depth = "16-bit" if image.dtype == np.uint16 else "8-bit"
    return {"size": f"{width}x{height}", "megapixels": f"{width * height / 1e6:.2f}", "mode": mode,
            "bit_depth": depth}


def calculate_image_metrics(original: ImageLike, enhanced: ImageLike, *, original_bytes: int | None = None,
                            enhanced_bytes: int | None = None) -> dict[str, str]:
    """Sizes, scale factor and file sizes before and after, as display strings."""
    ow, oh = _size(original)
    ew, eh = _size(enhanced)
    metrics = {
        "original_size": f"{ow}x{oh}",
        "enhanced_size": f"{ew}x{eh}",
        "scale_factor": f"{ew / ow:.1f}x" if ow else "n/a",
        "original_filesize": format_bytes(original_bytes),
        "enhanced_filesize": format_bytes(enhanced_bytes),
        "size_change": "n/a",
    }
    if original_bytes and enhanced_bytes is not None:
        metrics["size_change"] = f"{(enhanced_bytes - original_bytes) / original_bytes * 100:+.1f}%"
    return metrics


def psnr(reference: np.ndarray, test: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB for two arrays of one shape and dtype (inf when identical)."""
    if reference.shape != test.shape:
        raise ValueError(f"shapes differ: {reference.shape} vs {test.shape}")
    top = 65535.0 if reference.dtype == np.uint16 else 255.0
    mse = float(np.mean((reference.astype(np.float64) - test.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(top * top / mse)
