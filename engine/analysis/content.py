"""Content type (drawing or photo) of an image, the same whatever its size.

Every image is first brought to one analysis scale: its long side area-averaged down to
ANALYSIS_SIDE (by way of a `preview` reduced by a whole factor), so that a photo and its half-size
copy are measured alike, and then to one sharpness: a Gaussian blur that brings every copy to the
same total blur, ANALYSIS_BLUR analysis pixels. Area averaging leaves a blur that depends on the
copy it starts from (a 160 px copy reduced to 128 px is softer than a 640 px one reduced by 5, and
thin dark lines then read lighter); the added blur is several times larger than that difference,
so the copies measure alike. (Smaller images get the same blur at their own size: upsampling them
to ANALYSIS_SIDE measured worse in the cross-validation.) Features are computed on the whole
analysis copy and on a 3x3 grid of overlapping half-size crops of it; a logistic regression over
the features and their squares (coefficients in `content_model.json`, fit by
`python -m bench.content_model`) scores each view, the scores are averaged, and a temperature
fitted on out-of-source scores turns the mean into a calibrated probability. Below the fitted
confidence threshold the content is called unclear, and so is grayscale content (no colour cues)
and content smaller than any training copy.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

ANALYSIS_SIDE = 128  # long side of the analysis copy, in pixels
ANALYSIS_BLUR = 1.0  # total blur of the analysis copy (Gaussian sigma, in its pixels)
PIXEL_BLUR = 0.29  # the blur a one-pixel box (area averaging, a sensor's pixel) leaves: 1 / sqrt(12)
PREVIEW_SIDE = 1280  # larger images are first reduced by a whole factor to at most this
GRAY_CHROMA = 3.0  # below this mean chroma (Lab, 5x5-averaged) the image is grayscale: no colour cues
MIN_SIDE = 40  # below this long side no training copy exists: the answer is never clear
MODEL_FILE = Path(__file__).with_name("content_model.json")
LUMA_STEPS = (1.0, 3.0, 8.0, 20.0)  # gradient histogram bin edges, in levels per pixel
CHROMA_STEPS = (1.0, 3.0, 8.0)
COLOUR_FEATURES = ("line_density", "flat", "chroma_luma", "hue_entropy", "saturation", "palette",
                   "edge_contrast", "gray_palette", "luma_0", "luma_1", "luma_2", "luma_3",
                   "chroma_0", "chroma_1", "chroma_2")


@dataclass(frozen=True)
class ContentGuess:
    content_type: str  # "anime" or "photo"
    confidence: float  # 0.5 .. 1, calibrated on cross-validated scores
    features: dict[str, float]
    clear: bool = True  # False below the model's confidence threshold: "content unclear"
    gray: bool = False  # grayscale content: no colour cues, always unclear
    tiny: bool = False  # smaller than MIN_SIDE: always unclear


def reduced(pixels: np.ndarray, side: int, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    """`pixels` with the long side at most `side` (itself when it is no larger)."""
    h, w = pixels.shape[:2]
    factor = side / max(h, w)
    if factor >= 1:
        return pixels
    return cv2.resize(pixels, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=interpolation)


def preview(rgb: np.ndarray, opaque: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """The first step of the analysis copy: an image longer than PREVIEW_SIDE reduced by the
    smallest whole factor n that brings it within (the mean of each n x n block; the last rows
    and columns that do not fill a block are left out). Whole factors take OpenCV's fast path
    (12 MP to 1000x750 in a quarter of the time 1280x960 takes), and the copy is large enough for
    the OpenCV face detector too, so an analysis that needs both reduces a large image once."""
    h, w = rgb.shape[:2]
    n = math.ceil(max(h, w) / PREVIEW_SIDE)
    if n == 1:
        return rgb, opaque
    size = (max(1, w // n), max(1, h // n))  # a strip thinner than n keeps one row
    small = cv2.resize(rgb[:size[1] * n, :size[0] * n], size, interpolation=cv2.INTER_AREA)
    return small, None if opaque is None else opaque[:size[1] * n:n, :size[0] * n:n]


def analysis_copy(rgb: np.ndarray, opaque: np.ndarray | None = None,
                  side: int = ANALYSIS_SIDE) -> tuple[np.ndarray, np.ndarray]:
    """The image with its long side at most `side` (area averaging, by way of the `preview`, so
    that the preview gives the same copy as the image), blurred to ANALYSIS_BLUR in all, and
    where it is opaque at that size."""
    rgb, opaque = preview(rgb, opaque)
    small = reduced(rgb, side)
    small = cv2.GaussianBlur(small, (0, 0), math.sqrt(ANALYSIS_BLUR ** 2 - PIXEL_BLUR ** 2))
    where = np.ones(small.shape[:2], bool) if opaque is None else \
        reduced(opaque.astype(np.uint8), side, cv2.INTER_NEAREST) > 0
    return small, where


def views(small: np.ndarray, where: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """The whole analysis copy and a 3x3 grid of overlapping crops (half of each side)."""
    h, w = small.shape[:2]
    ch, cw = max(8, h // 2), max(8, w // 2)
    out = [(small, where)]
    if h >= 32 and w >= 32:
        for y in (0, (h - ch) // 2, h - ch):
            for x in (0, (w - cw) // 2, w - cw):
                out.append((small[y:y + ch, x:x + cw], where[y:y + ch, x:x + cw]))
    return out


def local_std(channel: np.ndarray, size: int) -> np.ndarray:
    mean = cv2.blur(channel, (size, size))
    return np.sqrt(np.maximum(cv2.blur(channel * channel, (size, size)) - mean * mean, 0))


def hue_entropy(hues: np.ndarray, bins: int = 30) -> float:
    """Entropy in bits of a histogram of OpenCV hues (0..179); 0 for fewer than 50 pixels."""
    if hues.size < 50:
        return 0.0
    counts = np.bincount(hues.astype(np.int64) * bins // 180, minlength=bins).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def top_share(codes: np.ndarray, top: int) -> float:
    """Share of the pixels that the `top` most frequent codes cover."""
    if codes.size == 0:
        return 0.0
    counts = np.bincount(codes.ravel())
    return float(np.sort(counts)[-top:].sum() / codes.size)


def view_features(rgb: np.ndarray, where: np.ndarray) -> dict[str, float]:
    """What tells drawings from photos, over the `where` pixels of one analysis-scale view:
    - line_density: thin dark strokes (a morphological black-hat over 40 levels), line art's ink;
    - flat: pixels whose 3x3 neighbourhood is nearly constant (std < 2 levels), flat fills;
    - chroma_luma: local colour variation over local brightness variation (5x5): in drawings the
      colour changes only where the brightness does; in photos texture and light move it everywhere;
    - hue_entropy: entropy (bits) of the hue histogram of the saturated pixels;
    - saturation: mean HSV saturation;
    - palette: share of pixels in the 8 most used colours (4 levels per channel): fills;
    - edge_contrast: mean of the strongest 5% of gradients over the mean gradient: drawings have
      few, hard edges; photos many soft ones;
    - gray_palette: share of pixels in the 4 most used of 32 brightness levels;
    - colourfulness: mean Lab chroma after a 5x5 average (which averages noise away), not a model
      feature: below GRAY_CHROMA the image is grayscale."""
    if not where.any():
        where = np.ones_like(where)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    blackhat = cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, np.ones((5, 5), np.uint8))
    grayf = gray.astype(np.float32)
    flat = local_std(grayf, 3) < 2.0
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)  # 8-bit Lab: a, b centred on 128
    luma = local_std(lab[..., 0], 5)
    chroma = np.hypot(local_std(lab[..., 1], 5), local_std(lab[..., 2], 5))
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    gradient = np.hypot(cv2.Sobel(grayf, cv2.CV_32F, 1, 0), cv2.Sobel(grayf, cv2.CV_32F, 0, 1))[where]
    strong = np.sort(gradient)[-max(1, gradient.size // 20):]
    codes = (rgb[where] // 64).astype(np.int64) @ np.array([16, 4, 1])
    luma_steps = np.searchsorted(LUMA_STEPS, gradient / 8)  # Sobel gain 8: levels per pixel
    chroma_gradient = np.hypot(*(np.hypot(cv2.Sobel(lab[..., c], cv2.CV_32F, 1, 0), cv2.Sobel(lab[..., c], cv2.CV_32F, 0, 1))
                                 for c in (1, 2)))[where] / 8
    chroma_steps = np.searchsorted(CHROMA_STEPS, chroma_gradient)
    shares = {f"luma_{i}": float((luma_steps == i).mean()) for i in range(len(LUMA_STEPS))}
    shares.update({f"chroma_{i}": float((chroma_steps == i).mean()) for i in range(len(CHROMA_STEPS))})
    smooth_ab = cv2.blur(lab[..., 1:], (5, 5)) - 128
    return shares | {
            "colourfulness": float(np.hypot(smooth_ab[..., 0], smooth_ab[..., 1])[where].mean()),
            "line_density": float((blackhat[where] > 40).mean()), "flat": float(flat[where].mean()),
            "chroma_luma": float(chroma[where].mean() / (luma[where].mean() + 1e-3)),
            "hue_entropy": hue_entropy(hsv[..., 0][where & (hsv[..., 1] > 60)]),
            "saturation": float(hsv[..., 1][where].mean() / 255),
            "palette": top_share(codes, 8),
            "edge_contrast": float(strong.mean() / (gradient.mean() + 1e-3)),
            "gray_palette": top_share(gray[where] // 8, 4)}


def content_views(rgb: np.ndarray, opaque: np.ndarray | None = None) -> list[dict[str, float]]:
    """Features of each view of the analysis copy of 8-bit RGB pixels."""
    return [view_features(v, m) for v, m in views(*analysis_copy(rgb, opaque))]


def content_features(rgb: np.ndarray, opaque: np.ndarray | None = None) -> dict[str, float]:
    """The mean of each feature over the views (what the analysis reports)."""
    per_view = content_views(rgb, opaque)
    return {name: float(np.mean([f[name] for f in per_view])) for name in per_view[0]}


@lru_cache(maxsize=1)
def content_model() -> dict:
    """The fitted coefficients and the confidence threshold (see `bench.content_model`)."""
    return json.loads(MODEL_FILE.read_text())


def term(features: dict[str, float], name: str) -> float:
    """A model term: a feature ("flat") or a product of features ("flat*flat")."""
    return math.prod(features[factor] for factor in name.split("*"))


def view_score(model: dict, features: dict[str, float]) -> float:
    """Log-odds of "anime" for one view: a logistic regression over the standardised features and
    their squares (the boundary between drawings and photos is not a straight one)."""
    return model["bias"] + sum(w * (term(features, name) - m) / s for name, m, s, w in
                               zip(model["terms"], model["mean"], model["sd"], model["weight"]))


def probability_anime(model: dict, per_view: list[dict[str, float]]) -> float:
    """The calibrated probability of "anime" from the mean view score: sigmoid(a * score + b)
    (the fit uses temperature scaling: b = 0)."""
    mean_score = float(np.mean([view_score(model, f) for f in per_view]))
    a, b = model["calibration"]
    return 1.0 / (1.0 + math.exp(-(a * mean_score + b)))


def is_gray(per_view: list[dict[str, float]]) -> bool:
    return float(np.mean([f["colourfulness"] for f in per_view])) < GRAY_CHROMA


def guess(per_view: list[dict[str, float]], model: dict, long_side: int = ANALYSIS_SIDE) -> ContentGuess:
    """The answer for the views' features. Grayscale content has none of the colour cues, and no
    labelled grayscale drawing exists to learn others from: it is a photo (most grayscale images
    are scans and photos), reported as unclear with no confidence either way (50 %). Images whose
    `long_side` is under MIN_SIDE are smaller than anything the model was fit on: unclear."""
    features = {name: round(float(np.mean([f[name] for f in per_view])), 4) for name in per_view[0]}
    if is_gray(per_view):
        return ContentGuess("photo", 0.5, features, clear=False, gray=True)
    p = probability_anime(model, per_view)
    confidence = round(max(p, 1 - p), 2)
    tiny = long_side < MIN_SIDE
    return ContentGuess("anime" if p >= 0.5 else "photo", confidence, features,
                        clear=confidence >= model["threshold"] and not tiny, tiny=tiny)


def classify_rgb(rgb: np.ndarray, opaque: np.ndarray | None = None) -> ContentGuess:
    """Anime or photo for 8-bit RGB pixels, counting only the `opaque` ones when given."""
    return guess(content_views(rgb, opaque), content_model(), max(rgb.shape[:2]))
