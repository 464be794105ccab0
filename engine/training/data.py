"""Training data from a folder of sharp images: a held-back validation split, random patches, and
their degraded low-resolution inputs, all decided by a seed.

A batch depends only on (seed, step): the same seed gives the same patches whether a run goes on
uninterrupted or resumes from a checkpoint, with no random-number state to save.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.training.degradation import degrade
from utils.errors import InvalidInput
from utils.images import ACCEPTED_EXTENSIONS, read_image, to_rgb8

MIN_IMAGES = 2  # at least one to train on and one held back


@dataclass(frozen=True)
class DataSplit:
    train: tuple[Path, ...]
    validation: tuple[Path, ...]


def images_in_folder(folder: str | Path) -> list[Path]:
    """The image files directly inside `folder`, sorted by name (links out of it are skipped)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidInput(f"There is no folder {folder}; name a folder of sharp images.")
    root = folder.resolve()
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in ACCEPTED_EXTENSIONS
                  and p.resolve().is_relative_to(root))


def split_images(paths: list[Path], validation_fraction: float = 0.1) -> DataSplit:
    """Hold back the last `validation_fraction` of the images in name order (at least one): photos
    and frames named in shooting order then keep their near-duplicate neighbours on one side."""
    if len(paths) < MIN_IMAGES:
        raise InvalidInput(f"Training needs at least {MIN_IMAGES} images (one is held back to measure the "
                           f"result) but the folder has {len(paths)}; add more sharp images.")
    held = min(len(paths) - 1, max(1, math.ceil(len(paths) * validation_fraction)))
    return DataSplit(tuple(paths[:-held]), tuple(paths[-held:]))


class ImageSource:
    """Decoded training images as 8-bit RGB, with a small cache so a large folder is never held in
    memory at once (8-bit: a 24 MP photo is 72 MB, not 288 as float). Every format `read_image`
    reads works (16-bit, gray, alpha dropped)."""

    def __init__(self, paths: tuple[Path, ...] | list[Path], min_side: int, *, max_pixels: int | None = None,
                 cache_size: int = 16):
        self.paths = tuple(paths)
        self.min_side = min_side
        self.max_pixels = max_pixels
        self.cache_size = cache_size
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self.paths)

    def image(self, index: int) -> np.ndarray:
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        path = self.paths[index]
        pixels = to_rgb8(read_image(path, max_pixels=self.max_pixels).pixels)
        if min(pixels.shape[:2]) < self.min_side:
            raise InvalidInput(f"{path.name} is {pixels.shape[1]}x{pixels.shape[0]}, smaller than the "
                               f"{self.min_side}-pixel patch; remove it or choose a smaller patch size.")
        image = pixels
        self._cache[index] = image
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return image

    def check_all(self) -> None:
        """Decode every image once, so a bad file stops the run before training, not at step 900."""
        for index in range(len(self.paths)):
            self.image(index)


def batch_rng(seed: int, step: int) -> np.random.Generator:
    return np.random.default_rng([seed, step])


def sample_batch(source: ImageSource, *, seed: int, step: int, batch_size: int, patch_px: int,
                 scale: int) -> tuple[np.ndarray, np.ndarray]:
    """(lr, hr) for one step: `batch_size` random `patch_px` crops (random flips and 90-degree
    turns) and their degraded inputs. Shapes (B, patch/scale, patch/scale, 3) and (B, patch, patch, 3)."""
    rng = batch_rng(seed, step)
    hrs, lrs = [], []
    for _ in range(batch_size):
        image = source.image(int(rng.integers(len(source))))
        top = int(rng.integers(image.shape[0] - patch_px + 1))
        left = int(rng.integers(image.shape[1] - patch_px + 1))
        patch = image[top:top + patch_px, left:left + patch_px].astype(np.float32) / 255.0
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        patch = np.ascontiguousarray(np.rot90(patch, int(rng.integers(4))))
        hrs.append(patch)
        lrs.append(degrade(patch, scale, rng))
    return np.stack(lrs), np.stack(hrs)


def validation_pairs(source: ImageSource, *, seed: int, crop_px: int, scale: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(lr, hr) per held-back image: its centre crop (at most `crop_px`, sides divisible by `scale`)
    and one fixed degradation of it, the same for the starting and the fine-tuned model."""
    pairs = []
    for index in range(len(source)):
        image = source.image(index)
        height = min(crop_px, image.shape[0]) // scale * scale
        width = min(crop_px, image.shape[1]) // scale * scale
        top, left = (image.shape[0] - height) // 2, (image.shape[1] - width) // 2
        hr = image[top:top + height, left:left + width].astype(np.float32) / 255.0
        pairs.append((degrade(hr, scale, np.random.default_rng([seed, 1 << 30, index])), hr))
    return pairs
