"""Real-ESRGAN's second-order degradation as pure numpy/OpenCV functions.

Given a sharp high-resolution patch, `degrade` makes the low-resolution input the model learns to
restore: blur, random resize, Gaussian or Poisson noise and JPEG, twice over, then a final resize to
1/scale with a sinc (ringing) filter and a last JPEG, in random order, as in Real-ESRGAN's training
(Wang et al. 2021, `realesrgan/models/realesrgan_model.py` and `basicsr/data/degradations.py`).
Every random choice comes from the numpy `Generator` passed in, so one seed gives one result.
Images are float32 RGB in 0..1, shape (H, W, 3).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.special import j1

KERNEL_KINDS = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")
KERNEL_PROBS = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)  # Real-ESRGAN's kernel_prob
RESIZE_MODES = (cv2.INTER_AREA, cv2.INTER_LINEAR, cv2.INTER_CUBIC)


@dataclass(frozen=True)
class DegradationStage:
    """The ranges of one of the two degradation rounds (Real-ESRGAN's defaults)."""
    blur_prob: float
    blur_sigma: tuple[float, float]
    sinc_prob: float
    resize_probs: tuple[float, float, float]  # up, down, keep
    resize_range: tuple[float, float]
    gaussian_noise_prob: float
    noise_sigma_255: tuple[float, float]
    poisson_scale: tuple[float, float]
    gray_noise_prob: float
    jpeg_range: tuple[int, int]


FIRST = DegradationStage(1.0, (0.2, 3.0), 0.1, (0.2, 0.7, 0.1), (0.15, 1.5), 0.5, (1, 30), (0.05, 3.0), 0.4,
                         (30, 95))
SECOND = DegradationStage(0.8, (0.2, 1.5), 0.1, (0.3, 0.4, 0.3), (0.3, 1.2), 0.5, (1, 25), (0.05, 2.5), 0.4,
                          (30, 95))
FINAL_SINC_PROB = 0.8


# -- kernels -----------------------------------------------------------------------------------
def _grid(size: int) -> np.ndarray:
    ax = np.arange(-(size // 2), size // 2 + 1, dtype=np.float64)
    xx, yy = np.meshgrid(ax, ax)
    return np.stack([xx, yy], axis=-1)  # (size, size, 2)


def _inverse_covariance(sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    covariance = rotation @ np.diag([sigma_x ** 2, sigma_y ** 2]) @ rotation.T
    return np.linalg.inv(covariance)


def _quadratic_form(size: int, sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    grid = _grid(size)
    return np.einsum("...i,ij,...j->...", grid, _inverse_covariance(sigma_x, sigma_y, theta), grid)


def gaussian_kernel(size: int, sigma_x: float, sigma_y: float, theta: float = 0.0) -> np.ndarray:
    """An (an)isotropic Gaussian blur kernel, `size` odd, summing to 1; sigmas in pixels, theta in radians."""
    kernel = np.exp(-0.5 * _quadratic_form(size, sigma_x, sigma_y, theta))
    return (kernel / kernel.sum()).astype(np.float32)


def generalized_gaussian_kernel(size: int, sigma_x: float, sigma_y: float, theta: float, beta: float) -> np.ndarray:
    """exp(-0.5 * q^beta): beta < 1 gives a peakier kernel, beta > 1 a flatter top (beta 0.5..4)."""
    kernel = np.exp(-0.5 * np.power(_quadratic_form(size, sigma_x, sigma_y, theta), beta))
    return (kernel / kernel.sum()).astype(np.float32)


def plateau_kernel(size: int, sigma_x: float, sigma_y: float, theta: float, beta: float) -> np.ndarray:
    """1 / (1 + q^beta): a flat-topped kernel with heavy tails (beta 1..2)."""
    kernel = np.reciprocal(np.power(_quadratic_form(size, sigma_x, sigma_y, theta), beta) + 1)
    return (kernel / kernel.sum()).astype(np.float32)


def sinc_kernel(size: int, cutoff: float) -> np.ndarray:
    """The ideal circular low-pass filter (2D sinc), cutoff in radians per pixel (0..pi), summing to 1.
    Convolving with it makes the ringing and overshoot artefacts of real resizers and codecs."""
    grid = _grid(size)
    radius = np.hypot(grid[..., 0], grid[..., 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        kernel = cutoff * j1(cutoff * radius) / (2 * np.pi * radius)
    kernel[size // 2, size // 2] = cutoff ** 2 / (4 * np.pi)
    return (kernel / kernel.sum()).astype(np.float32)


def random_kernel_size(rng: np.random.Generator) -> int:
    return int(rng.choice(np.arange(7, 22, 2)))  # 7, 9, ..., 21 as in Real-ESRGAN


def random_blur_kernel(rng: np.random.Generator, stage: DegradationStage) -> np.ndarray:
    size = random_kernel_size(rng)
    if rng.random() < stage.sinc_prob:
        cutoff = rng.uniform(np.pi / 3, np.pi) if size < 13 else rng.uniform(np.pi / 5, np.pi)
        return sinc_kernel(size, cutoff)
    kind = KERNEL_KINDS[int(rng.choice(len(KERNEL_KINDS), p=KERNEL_PROBS))]
    sigma_x = rng.uniform(*stage.blur_sigma)
    if kind.endswith("_iso") or kind == "iso":
        sigma_y, theta = sigma_x, 0.0
    else:
        sigma_y, theta = rng.uniform(*stage.blur_sigma), rng.uniform(-np.pi, np.pi)
    if kind.startswith("generalized"):
        return generalized_gaussian_kernel(size, sigma_x, sigma_y, theta, rng.uniform(0.5, 4.0))
    if kind.startswith("plateau"):
        return plateau_kernel(size, sigma_x, sigma_y, theta, rng.uniform(1.0, 2.0))
    return gaussian_kernel(size, sigma_x, sigma_y, theta)


# -- image operations --------------------------------------------------------------------------
def blur(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve each channel with `kernel` (reflected borders, as Real-ESRGAN's filter2D)."""
    return cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT_101)


def resize_to(image: np.ndarray, height: int, width: int, mode: int) -> np.ndarray:
    return cv2.resize(image, (max(1, width), max(1, height)), interpolation=mode)


def add_gaussian_noise(image: np.ndarray, sigma_255: float, gray: bool, rng: np.random.Generator) -> np.ndarray:
    """Additive white noise with standard deviation `sigma_255` on the 0..255 scale; `gray`: the
    same noise in every channel (sensor luminance noise)."""
    shape = image.shape[:2] + (1,) if gray else image.shape
    noise = rng.standard_normal(shape)
    return image + (noise * sigma_255 / 255.0).astype(np.float32)


def add_poisson_noise(image: np.ndarray, scale: float, gray: bool, rng: np.random.Generator) -> np.ndarray:
    """Shot noise: counts drawn from Poisson(image * levels), levels = 2^ceil(log2(unique values)) as
    in basicsr, the difference scaled by `scale` (0.05..3)."""
    source = np.clip(image, 0, 1)
    if gray:
        source = cv2.cvtColor(source, cv2.COLOR_RGB2GRAY)[..., None]
    levels = 2 ** np.ceil(np.log2(max(len(np.unique(np.round(source * 255))), 2)))
    noisy = rng.poisson(source * levels) / levels
    return image + ((noisy - source) * scale).astype(np.float32)


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Round-trip through an 8-bit JPEG at `quality` (1..100) with OpenCV's encoder."""
    bgr = cv2.cvtColor(np.clip(np.rint(image * 255), 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV's JPEG encoder does not fail on an 8-bit RGB array
        raise RuntimeError("JPEG encoding failed")
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0


def _random_resize(image: np.ndarray, stage: DegradationStage, rng: np.random.Generator,
                   base: tuple[int, int]) -> np.ndarray:
    kind = int(rng.choice(3, p=stage.resize_probs))
    factor = (rng.uniform(1, stage.resize_range[1]) if kind == 0 else
              rng.uniform(stage.resize_range[0], 1) if kind == 1 else 1.0)
    mode = RESIZE_MODES[int(rng.integers(len(RESIZE_MODES)))]
    return resize_to(image, int(base[0] * factor), int(base[1] * factor), mode)


def _noise(image: np.ndarray, stage: DegradationStage, rng: np.random.Generator) -> np.ndarray:
    gray = bool(rng.random() < stage.gray_noise_prob)
    if rng.random() < stage.gaussian_noise_prob:
        return add_gaussian_noise(image, rng.uniform(*stage.noise_sigma_255), gray, rng)
    return add_poisson_noise(image, rng.uniform(*stage.poisson_scale), gray, rng)


def _stage(image: np.ndarray, stage: DegradationStage, rng: np.random.Generator,
           base: tuple[int, int]) -> np.ndarray:
    if rng.random() < stage.blur_prob:
        image = blur(image, random_blur_kernel(rng, stage))
    image = _random_resize(image, stage, rng, base)
    image = np.clip(_noise(image, stage, rng), 0, 1)
    return jpeg(image, int(rng.integers(stage.jpeg_range[0], stage.jpeg_range[1] + 1)))


def degrade(hr: np.ndarray, scale: int, rng: np.random.Generator) -> np.ndarray:
    """The low-resolution (H/scale, W/scale) input for a high-resolution patch `hr` (float32 RGB
    0..1, sides divisible by `scale`), made with Real-ESRGAN's second-order degradation."""
    height, width = hr.shape[:2]
    if height % scale or width % scale:
        raise ValueError(f"patch {width}x{height} is not divisible by the scale {scale}")
    target = (height // scale, width // scale)
    image = _stage(np.ascontiguousarray(hr, dtype=np.float32), FIRST, rng, (height, width))
    # The second round resizes relative to the target size, as Real-ESRGAN's does (ori/scale * factor).
    if rng.random() < SECOND.blur_prob:
        image = blur(image, random_blur_kernel(rng, SECOND))
    image = _random_resize(image, SECOND, rng, target)
    image = np.clip(_noise(image, SECOND, rng), 0, 1)
    final_kernel = (sinc_kernel(size := random_kernel_size(rng),
                                rng.uniform(np.pi / 3, np.pi) if size < 13 else rng.uniform(np.pi / 5, np.pi))
                    if rng.random() < FINAL_SINC_PROB else None)
    mode = RESIZE_MODES[int(rng.integers(len(RESIZE_MODES)))]
    quality = int(rng.integers(SECOND.jpeg_range[0], SECOND.jpeg_range[1] + 1))
    if rng.random() < 0.5:  # resize + sinc, then JPEG
        image = resize_to(image, *target, mode)
        if final_kernel is not None:
            image = blur(image, final_kernel)
        image = jpeg(np.clip(image, 0, 1), quality)
    else:  # JPEG, then resize + sinc
        image = jpeg(np.clip(image, 0, 1), quality)
        image = resize_to(image, *target, mode)
        if final_kernel is not None:
            image = blur(image, final_kernel)
    return np.clip(image, 0, 1).astype(np.float32)
