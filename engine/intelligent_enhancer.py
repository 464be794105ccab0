"""IntelligentEnhancer: analyse an image and recommend settings, each with a line of reasoning.

Measurements (all on arrays, no model runs):
- content type from line-art and colour statistics of a downscaled copy, over its opaque pixels (a
  small logistic regression with a confidence; see `content_features` and `bench/content_model.py`),
- faces with the same detector the face restorer uses (RetinaFace when its weights are present,
  else OpenCV's Haar cascade), on a copy at most 1280 px,
- noise: Immerkaer's fast estimator (1996) on full-resolution crops, excluding the more textured
  half of the pixels, giving sigma in 0-255 units,
- JPEG blockiness: the jump across 8x8 block borders relative to the jumps inside blocks,
- the tile size from free memory, the model and the image size.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from PIL import Image

from engine.registry import MODELS
from engine.upscale import tile_for
from utils.images import read_image, to_rgb8

log = logging.getLogger(__name__)

ANALYSIS_SIDE = 512  # content statistics on a copy at most this large
GRAY_SATURATION = 0.05  # below this mean saturation the content is treated as grayscale
# Fit by `python -m bench.content_model` on the labelled images, frames of the labelled anime
# video and scikit-image's photos: per feature (mean, standard deviation, weight).
# 27/27 of those coloured images right, 25/27 when each is left out of the fit.
CONTENT_MODEL: dict[str, Any] = {"bias": -1.6126, "features": {
    "line_density": (0.0627, 0.0929, 0.9258),
    "chroma_luma": (0.3019, 0.1270, -3.6877),
    "hue_entropy": (2.5467, 0.8669, 1.3394),
}}
NOISE_CROP = 256  # noise and blockiness on up to 5 full-resolution crops of this size
IMMERKAER_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
NOISY_SIGMA = 8.0  # sigma (0-255) from which a photo is treated as noisy
SMALL_SIDE, LARGE_MEGAPIXELS = 256, 4.0


@dataclass(frozen=True)
class ContentGuess:
    content_type: str  # "anime" or "photo"
    confidence: float  # 0.5 .. 1
    features: dict[str, float]


def as_pixels(image: Any) -> np.ndarray:
    """A path, PIL image or array as the decoded array (alpha and bit depth kept)."""
    if isinstance(image, (str, Path)):
        return read_image(image).pixels
    if isinstance(image, Image.Image):
        from utils.images import pillow_to_array
        return pillow_to_array(image)
    return image


def as_rgb8(image: Any) -> np.ndarray:
    """Accept a path, PIL image or array; return 8-bit RGB (alpha dropped, gray widened)."""
    return to_rgb8(as_pixels(image))


def opaque_mask(pixels: np.ndarray) -> np.ndarray | None:
    """Where a gray+alpha or RGBA image is at least half opaque; None without alpha or when
    almost nothing is opaque (then the colours underneath are all there is to analyse)."""
    if pixels.ndim != 3 or pixels.shape[2] not in (2, 4):
        return None
    mask = pixels[..., -1] > np.iinfo(pixels.dtype).max // 2
    return mask if mask.mean() >= 0.01 else None


def downscaled(rgb: np.ndarray, side: int, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    h, w = rgb.shape[:2]
    factor = min(1.0, side / max(h, w))
    if factor == 1.0:
        return rgb
    return cv2.resize(rgb, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=interpolation)


def local_std(channel: np.ndarray, size: int) -> np.ndarray:
    mean = cv2.blur(channel, (size, size))
    return np.sqrt(np.maximum(cv2.blur(channel * channel, (size, size)) - mean * mean, 0))


def content_features(rgb: np.ndarray, opaque: np.ndarray | None = None) -> dict[str, float]:
    """What tells drawings from photos, on a copy at most ANALYSIS_SIDE, over the opaque pixels:
    - line_density: thin dark strokes (a morphological black-hat over 40 levels), line art's ink;
    - flat: pixels whose 3x3 neighbourhood is nearly constant (std < 1.5 levels), flat fills;
    - chroma_luma: local colour variation over local brightness variation (5x5). In drawings the
      colour changes only where the brightness does (at the strokes); in photos texture, light
      and sensor noise move the colour everywhere;
    - hue_entropy: the entropy (bits) of the hue histogram of the saturated pixels: drawings use
      many distinct hues, many photos (foliage, skin, sky) a few;
    - saturation: the mean HSV saturation (grayscale content has none of the colour cues)."""
    small = downscaled(rgb, ANALYSIS_SIDE)
    where = np.ones(small.shape[:2], bool) if opaque is None else \
        downscaled(opaque.astype(np.uint8), ANALYSIS_SIDE, cv2.INTER_NEAREST) > 0
    gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
    blackhat = cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, np.ones((5, 5), np.uint8))
    flat = local_std(gray.astype(np.float32), 3) < 1.5
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)
    luma = local_std(lab[..., 0], 5)
    chroma = np.hypot(local_std(lab[..., 1], 5), local_std(lab[..., 2], 5))
    hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
    return {"line_density": float((blackhat[where] > 40).mean()), "flat": float(flat[where].mean()),
            "chroma_luma": float(chroma[where].mean() / (luma[where].mean() + 1e-3)),
            "hue_entropy": hue_entropy(hsv[..., 0][where & (hsv[..., 1] > 60)]),
            "saturation": float(hsv[..., 1][where].mean() / 255)}


def hue_entropy(hues: np.ndarray, bins: int = 30) -> float:
    """Entropy in bits of a histogram of OpenCV hues (0..179); 0 for fewer than 50 pixels."""
    if hues.size < 50:
        return 0.0
    counts = np.bincount(hues.astype(np.int64) * bins // 180, minlength=bins).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def content_score(features: dict[str, float]) -> float:
    """Log-odds of "anime": a logistic regression over the standardised colour features (fit by
    `python -m bench.content_model`, which prints these constants and its leave-one-out accuracy)."""
    return CONTENT_MODEL["bias"] + sum(weight * (features[name] - mean) / sd
                                       for name, (mean, sd, weight) in CONTENT_MODEL["features"].items())


def classify_content(image: Any) -> ContentGuess:
    pixels = as_pixels(image)
    return classify_rgb(to_rgb8(pixels), opaque_mask(pixels))


def classify_rgb(rgb: np.ndarray, opaque: np.ndarray | None = None) -> ContentGuess:
    """Anime or photo for 8-bit RGB pixels, counting only the `opaque` ones when given."""
    f = content_features(rgb, opaque)
    if f["saturation"] < GRAY_SATURATION:  # grayscale content: scans and photos far more often than anime
        return ContentGuess("photo", 0.7, f)
    probability = 1.0 / (1.0 + math.exp(-content_score(f)))
    kind = "anime" if probability >= 0.5 else "photo"
    return ContentGuess(kind, round(max(probability, 1 - probability), 2), f)


def estimate_noise_sigma(rgb: Any) -> float:
    """Gaussian noise sigma per colour channel, in 0-255 units: Immerkaer's estimator (1996) on
    full-resolution crops of each channel, over the flatter half of the pixels (so that texture is
    not mistaken for noise), averaged over the channels."""
    rgb = as_rgb8(rgb)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    channels = [rgb[..., 0]] if np.array_equal(rgb[..., 0], rgb[..., 2]) else [rgb[..., c] for c in range(3)]
    sums, count = 0.0, 0
    for (y0, y1, x0, x1) in sample_windows(gray.shape, NOISE_CROP):
        crop = gray[y0:y1, x0:x1]
        if min(crop.shape) < 8:
            continue
        gx, gy = cv2.Sobel(crop, cv2.CV_32F, 1, 0), cv2.Sobel(crop, cv2.CV_32F, 0, 1)
        magnitude = np.hypot(gx, gy)[1:-1, 1:-1]
        flat = magnitude <= np.percentile(magnitude, 50)
        for channel in channels:
            response = np.abs(cv2.filter2D(channel[y0:y1, x0:x1].astype(np.float32), -1, IMMERKAER_KERNEL))
            sums += float(response[1:-1, 1:-1][flat].sum())
            count += int(flat.sum())
    if not count:
        return 0.0
    return math.sqrt(math.pi / 2) * sums / count / 6


def sample_windows(shape: tuple[int, ...], size: int) -> list[tuple[int, int, int, int]]:
    """(y0, y1, x0, x1) of the centre and four quadrant centres, each `size` square, or the whole
    image when it is small."""
    h, w = shape[:2]
    if h <= size * 2 and w <= size * 2:
        return [(0, h, 0, w)]
    half = size // 2
    centres = [(h // 2, w // 2), (h // 4, w // 4), (h // 4, 3 * w // 4), (3 * h // 4, w // 4), (3 * h // 4, 3 * w // 4)]
    return [(max(0, y - half), y + half, max(0, x - half), x + half) for y, x in centres]


def sample_crops(gray: np.ndarray, size: int) -> list[np.ndarray]:
    return [gray[y0:y1, x0:x1] for y0, y1, x0, x1 in sample_windows(gray.shape, size)]


def jpeg_blockiness(rgb: np.ndarray) -> float:
    """Mean jump across 8-px block borders over the mean jump elsewhere (1.0: no blocking)."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    ratios = []
    for crop in sample_crops(gray, NOISE_CROP):
        if min(crop.shape) < 24:
            continue
        for diffs in (np.abs(np.diff(crop, axis=1)).mean(axis=0), np.abs(np.diff(crop, axis=0)).mean(axis=1)):
            border = diffs[7::8].mean()
            inside = np.delete(diffs, np.s_[7::8]).mean()
            ratios.append(border / (inside + 1e-3))
    return float(np.mean(ratios)) if ratios else 1.0


class IntelligentEnhancer:
    """The seed's analyser. `model_manager` (optional) tells which weights are available."""

    def __init__(self, model_manager=None, *, max_output_pixels: int = 400_000_000, memory_reserve: float = 0.1):
        self.model_manager = model_manager
        self.max_output_pixels = max_output_pixels
        self.memory_reserve = memory_reserve

    # -- the seed's methods ----------------------------------------------------------------------
    def detect_content_type(self, image: Any) -> str:
        return classify_content(image).content_type

    def detect_faces(self, image: Any) -> int:
        from engine.face_detection import OpenCVDetector, detect_faces, load_detector
        rgb = as_rgb8(image)
        detector = load_detector(self.model_manager, torch.device("cpu")) if self.model_manager else OpenCVDetector()
        return len(detect_faces(detector, rgb))

    def analyze_noise_level(self, image: Any) -> float:
        """0..1, where 1 means sigma >= 30 (in 0-255 units)."""
        return min(1.0, estimate_noise_sigma(as_rgb8(image)) / 30.0)

    def calculate_optimal_tile(self, image: Any, model_name: str = "RealESRGAN_x4plus") -> int:
        rgb = image if isinstance(image, np.ndarray) and image.ndim == 3 else as_rgb8(image)
        height, width = rgb.shape[:2]
        architecture = MODELS[model_name].architecture if model_name in MODELS else ""
        return tile_for(architecture, self._device(), height, width, memory_reserve=self.memory_reserve)

    def get_intelligent_settings(self, image: Any) -> dict[str, Any]:
        started = time.perf_counter()
        pixels = as_pixels(image)
        rgb = to_rgb8(pixels)
        height, width = rgb.shape[:2]
        content = classify_rgb(rgb, opaque_mask(pixels))
        sigma = estimate_noise_sigma(rgb)
        faces = self.detect_faces(rgb)
        blockiness = jpeg_blockiness(rgb)
        reasoning: list[str] = []
        settings = {"model": "RealESRGAN_x4plus", "scale": 4, "fp32": False, "face_enhance": False, "tile": 0,
                    "auto_tile": True, "denoise_strength": 0.5}

        if content.content_type == "anime":
            settings["model"] = "RealESRGAN_x4plus_anime_6B"
            reasoning.append(f"Looks like anime or illustration (confidence {content.confidence:.0%}): "
                             "RealESRGAN_x4plus_anime_6B keeps lines clean and fills flat.")
        elif sigma >= NOISY_SIGMA and self._available("realesr-general-x4v3"):
            settings["model"] = "realesr-general-x4v3"
            settings["denoise_strength"] = round(min(1.0, max(0.2, sigma / 25)), 2)
            reasoning.append(f"A noisy photo (noise sigma {sigma:.1f}): realesr-general-x4v3 with denoise strength "
                             f"{settings['denoise_strength']} removes the noise instead of sharpening it.")
        else:
            reasoning.append(f"Looks like a photo (confidence {content.confidence:.0%}): RealESRGAN_x4plus gives "
                             "the best general detail.")
            if sigma >= NOISY_SIGMA:
                reasoning.append(f"The photo is noisy (sigma {sigma:.1f}); realesr-general-x4v3 with its denoise "
                                 "strength would suit it better, but its weights are not downloaded "
                                 "(python main.py models download realesr-general-x4v3).")
        if blockiness > 1.3:
            reasoning.append(f"JPEG block artifacts are visible (blockiness {blockiness:.2f}); Real-ESRGAN models "
                             "were trained on them and will smooth them out.")

        if faces:
            if self._available("GFPGANv1.4"):
                settings["face_enhance"] = content.content_type == "photo"
                reasoning.append(f"{faces} face(s) found: face enhancement with GFPGANv1.4 restores them."
                                 if settings["face_enhance"] else
                                 f"{faces} face(s) found in a drawing: face restoration is made for photos, so it stays off.")
            else:
                spec = self.model_manager.models["GFPGANv1.4"] if self.model_manager else MODELS["GFPGANv1.4"]
                reasoning.append(f"{faces} face(s) found; face enhancement needs {spec.filename} "
                                 f"({spec.url}) in the weights folder, or download it from the System tab.")

        scale = 4
        if max(height, width) < SMALL_SIDE:
            reasoning.append(f"The image is small ({width}x{height}): x4 gives it a usable size.")
        elif width * height / 1e6 > LARGE_MEGAPIXELS:
            scale = 2
            reasoning.append(f"The image is already large ({width * height / 1e6:.1f} MP): x2 keeps the result "
                             "manageable; it is processed in tiles.")
        while scale > 1 and width * height * scale * scale > self.max_output_pixels:
            scale -= 1
        if width * height * 16 > self.max_output_pixels and scale < 4:
            reasoning.append(f"Outscale limited to x{scale} by the output pixel limit.")
        settings["scale"] = scale

        tile = self.calculate_optimal_tile(rgb, settings["model"])
        if tile:
            reasoning.append(f"Processed in {tile}px tiles to fit the available memory.")
        device = self._device()
        reasoning.append(f"Runs on {'the GPU (fp16)' if device.type == 'cuda' else 'the CPU'}; full precision "
                         "(fp32) is not needed for visually identical output.")
        analysis = {
            "content_type": content.content_type,
            "content_confidence": content.confidence,
            "faces": faces,
            "noise_level": f"{min(1.0, sigma / 30):.2f}",
            "noise_sigma": round(sigma, 2),
            "jpeg_blockiness": round(blockiness, 2),
            "resolution": f"{width}x{height}",
            "optimal_tile": tile,
            "analysis_ms": round((time.perf_counter() - started) * 1000, 1),
        }
        return {"settings": settings, "reasoning": reasoning, "analysis": analysis}

    # -- helpers ---------------------------------------------------------------------------------
    def _available(self, name: str) -> bool:
        return bool(self.model_manager and self.model_manager.is_available(name))

    def _device(self) -> torch.device:
        if self.model_manager is None:
            return torch.device("cpu")
        return self.model_manager.device_for().device
