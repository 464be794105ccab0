"""Noise and compression measurements on 8-bit images, not fooled by texture.

Noise sigma is estimated the way published for textured images: patches of the image are
projected on their principal components; texture is structured, so it fills a few components,
while white Gaussian noise adds the same variance sigma^2 to every one of them. Patches are first
restricted to the weakly textured ones (Liu, Tanaka & Okutomi, "Single-image noise level
estimation for blind denoising", IEEE TIP 2013: keep the patches whose gradient energy is what
noise alone would give), then sigma^2 is the mean of the trailing eigenvalues where their mean
meets their median (Chen, Zhu & Heng, "An efficient statistical method for image noise level
estimation", ICCV 2015), which tells the noise-only components from texture without a threshold.
Texture so fine that no patch is weak (grass, gravel) is told from noise by a second estimate on
2x2-averaged copies: noise shrinks there, texture does not (`estimate_noise_sigma`).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

NOISE_CROP = 256  # noise and blockiness on up to 5 full-resolution crops of this size
PATCH = 6  # noise patches are PATCH x PATCH x channels
PATCH_PIXELS = 12_000  # patches are taken every k pixels, k chosen to give about this many
TEXTURE_CONFIDENCE = 0.99  # share of pure-noise patches the weak-texture threshold keeps
WEAK_TEXTURE_ROUNDS = 3
CLIP_MARGIN = 2.5  # weak-texture patches whose mean is within this many sigma of 0 or 255 are left out
# how much the texture's part of the noise estimate grows when the image is halved (2^a for a 1/f^a
# spectrum, a near 2): 3 measured best on the bench's noisy textured tiles (2 read sigma 15 on the
# gravel photo as 10.4; 4 read the clean grass photo at half size as 4.4)
TEXTURE_GROWTH = 3.0


def sample_windows(shape: tuple[int, ...], size: int) -> list[tuple[int, int, int, int]]:
    """(y0, y1, x0, x1) of the centre and four quadrant centres, each `size` square, or the whole
    image when it is small."""
    h, w = shape[:2]
    if h <= size * 2 and w <= size * 2:
        return [(0, h, 0, w)]
    half = size // 2
    centres = [(h // 2, w // 2), (h // 4, w // 4), (h // 4, 3 * w // 4), (3 * h // 4, w // 4), (3 * h // 4, 3 * w // 4)]
    return [(max(0, y - half), y + half, max(0, x - half), x + half) for y, x in centres]


def sample_crops(image: np.ndarray, size: int) -> list[np.ndarray]:
    return [image[y0:y1, x0:x1] for y0, y1, x0, x1 in sample_windows(image.shape, size)]


def patches_and_texture(crop: np.ndarray, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, PATCH*PATCH*channels) patches of a float32 HxWxC crop (0-255), every `stride` pixels,
    and each patch's gradient energy (sum of squared central differences inside it, all channels)."""
    h, w, c = crop.shape
    windows = np.lib.stride_tricks.sliding_window_view(crop, (PATCH, PATCH), axis=(0, 1))
    windows = windows[::stride, ::stride]  # (ny, nx, C, PATCH, PATCH)
    patches = windows.reshape(-1, c * PATCH * PATCH)
    gx = (crop[:, 2:] - crop[:, :-2]) / 2
    gy = (crop[2:] - crop[:-2]) / 2
    energy_x = (gx * gx).sum(axis=2)  # column j is the gradient at column j+1
    energy_y = (gy * gy).sum(axis=2)
    # sum over each patch's interior: a box sum of the gradient energy
    sx = cv2.boxFilter(energy_x, -1, (PATCH - 2, PATCH), normalize=False, anchor=(0, 0),
                       borderType=cv2.BORDER_CONSTANT)
    sy = cv2.boxFilter(energy_y, -1, (PATCH, PATCH - 2), normalize=False, anchor=(0, 0),
                       borderType=cv2.BORDER_CONSTANT)
    ny, nx = windows.shape[:2]
    texture = sx[:ny * stride:stride, :nx * stride:stride] + sy[:ny * stride:stride, :nx * stride:stride]
    return patches, texture.reshape(-1)


def texture_threshold_factor(channels: int) -> float:
    """tau / sigma^2: the TEXTURE_CONFIDENCE quantile of a patch's gradient energy under noise
    alone. Each central difference of white noise has variance sigma^2 / 2; there are
    2 * PATCH * (PATCH - 2) * channels of them; Liu et al. approximate their sum by a gamma law
    with that mean and shape (number of pixels) / 2."""
    terms = 2 * PATCH * (PATCH - 2) * channels
    mean = terms / 2
    shape = PATCH * PATCH * channels / 2
    from scipy.stats import gamma  # on use: scipy.stats is 1.5 s of a server's start-up imports
    return float(gamma.ppf(TEXTURE_CONFIDENCE, shape, scale=mean / shape))


def eigen_tail_variance(patches: np.ndarray) -> float:
    """Chen et al. (2015): the noise variance is the mean of the smallest eigenvalues of the patch
    covariance, taking as many as keep their mean equal to their median."""
    if len(patches) < patches.shape[1] * 2:
        return float("nan")
    centred = patches.astype(np.float64)
    centred -= centred.mean(axis=0)
    # OpenCV's product, not numpy's: on a busy machine multithreaded BLAS can take 20x longer; and
    # on float64 input (float32 input with a float64 result takes 7x longer)
    covariance = cv2.mulTransposed(centred, True) / (len(patches) - 1)
    eigenvalues = np.clip(np.linalg.eigvalsh(covariance), 0, None)  # ascending
    for keep in range(len(eigenvalues), 0, -1):
        tail = eigenvalues[:keep]
        tau = tail.mean()
        if (tail > tau).sum() >= (tail < tau).sum():
            return float(tau)
    return float(eigenvalues[0])


def crops_noise_variance(crops: list[np.ndarray]) -> float:
    """Noise variance of float32 HxWxC crops: weak-texture patches (Liu et al. 2013), variance from
    the patch covariance's eigenvalue tail (Chen et al. 2015); nan when there are too few patches."""
    # every pixel's patch on small crops, fewer on large ones: enough for the covariance, fast
    stride = max(1, round(math.sqrt(sum(c.shape[0] * c.shape[1] for c in crops) / PATCH_PIXELS)))
    all_patches, all_texture = [], []
    for crop in crops:
        patches, texture = patches_and_texture(crop, stride)
        all_patches.append(patches)
        all_texture.append(texture)
    patches, texture = np.concatenate(all_patches), np.concatenate(all_texture)
    unclipped = (patches.min(axis=1) > 0) & (patches.max(axis=1) < 255)
    if unclipped.sum() >= patches.shape[1] * 4:  # clipping at 0 or 255 hides part of the noise
        patches, texture = patches[unclipped], texture[unclipped]
    variance = eigen_tail_variance(patches)
    factor = texture_threshold_factor(crops[0].shape[2])
    means = patches.mean(axis=1)
    for _ in range(WEAK_TEXTURE_ROUNDS):
        if not math.isfinite(variance):
            break
        weak = texture < variance * factor
        # and not so near black or white that clipping cut the noise short
        margin = CLIP_MARGIN * math.sqrt(variance)
        away = weak & (means > margin) & (means < 255 - margin)
        if away.sum() >= patches.shape[1] * 4:
            weak = away
        refined = eigen_tail_variance(patches[weak])
        if not math.isfinite(refined) or abs(refined - variance) < 1e-6:
            variance = refined if math.isfinite(refined) else variance
            break
        variance = refined
    return variance


def halved(crop: np.ndarray) -> np.ndarray:
    """The mean of each 2x2 block (float32): white noise keeps a quarter of its variance."""
    h, w = crop.shape[0] // 2 * 2, crop.shape[1] // 2 * 2
    c = crop[:h, :w]
    return (c[0::2, 0::2] + c[0::2, 1::2] + c[1::2, 0::2] + c[1::2, 1::2]) / 4


def estimate_noise_sigma(rgb: np.ndarray) -> float:
    """Gaussian noise sigma per colour channel, in 0-255 units, of an 8-bit RGB or gray image.

    The weak-texture estimate (`crops_noise_variance`) is taken on up to 5 full-resolution crops,
    v1, and on their 2x2-averaged copies, v2. Averaging 2x2 pixels divides white noise's variance
    by 4, while the part of the estimate that fine texture makes grows: halving an image makes its
    texture finer at the pixel level (scikit-image's grass reads 4.8 at full size, 7.2 at half and
    14.4 at a quarter, where real noise would halve each time). Natural images' power spectra fall
    as 1/f^a with a near 2 (van der Schaaf & van Hateren, Vision Research 1996), so the texture
    term grows by about 2^a per halving; with v1 = s^2 + t and v2 = s^2 / 4 + TEXTURE_GROWTH * t,
    s^2 = (v1 - v2 / TEXTURE_GROWTH) / (1 - 1 / (4 * TEXTURE_GROWTH)), kept within 0 .. v1."""
    image = np.asarray(rgb)
    if image.ndim == 2:
        image = image[..., None]
    crops = [c for c in sample_crops(image, NOISE_CROP) if min(c.shape[:2]) >= PATCH * 3]
    if not crops:
        return 0.0
    if image.shape[2] == 3 and all(np.array_equal(c[..., 0], c[..., 1]) and np.array_equal(c[..., 0], c[..., 2])
                                   for c in crops):
        crops = [c[..., :1] for c in crops]  # gray stored as RGB: one channel holds all there is
    crops = [np.ascontiguousarray(c, dtype=np.float32) for c in crops]
    full = crops_noise_variance(crops)
    if not math.isfinite(full):
        return 0.0
    halves = [halved(c) for c in crops if min(c.shape[:2]) >= PATCH * 6]
    half = crops_noise_variance(halves) if halves else float("nan")
    if not math.isfinite(half):
        return math.sqrt(full)
    k = TEXTURE_GROWTH
    return math.sqrt(min(full, max(0.0, (full - half / k) / (1 - 1 / (4 * k)))))


def jpeg_blockiness(rgb: np.ndarray) -> float:
    """Mean jump across 8-px block borders over the mean jump elsewhere (1.0: no blocking)."""
    ratios = []
    for crop in sample_crops(rgb, NOISE_CROP):  # only the crops are converted to gray
        if min(crop.shape[:2]) < 24:
            continue
        gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY) if crop.ndim == 3 else crop
        gray = gray.astype(np.float32)
        for diffs in (np.abs(np.diff(gray, axis=1)).mean(axis=0), np.abs(np.diff(gray, axis=0)).mean(axis=1)):
            border = diffs[7::8].mean()
            inside = np.delete(diffs, np.s_[7::8]).mean()
            ratios.append(border / (inside + 1e-3))
    return float(np.mean(ratios)) if ratios else 1.0
