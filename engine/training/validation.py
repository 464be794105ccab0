"""Validation: PSNR/SSIM of the fine-tuned model against the starting model on held-back images,
and a before/after grid (degraded input | starting model | fine-tuned | original)."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from engine.training.losses import ssim
from utils.metrics import psnr

GRID_CELL_PX = 192
GRID_LABELS = ("degraded input", "starting model", "fine-tuned", "original")


@dataclass(frozen=True)
class ValidationRow:
    image: str
    base_psnr_db: float
    tuned_psnr_db: float
    base_ssim: float
    tuned_ssim: float


@dataclass(frozen=True)
class ValidationReport:
    rows: tuple[ValidationRow, ...]
    grid: np.ndarray  # uint8 RGB

    @property
    def base_psnr_db(self) -> float:
        return float(np.mean([r.base_psnr_db for r in self.rows]))

    @property
    def tuned_psnr_db(self) -> float:
        return float(np.mean([r.tuned_psnr_db for r in self.rows]))

    @property
    def base_ssim(self) -> float:
        return float(np.mean([r.base_ssim for r in self.rows]))

    @property
    def tuned_ssim(self) -> float:
        return float(np.mean([r.tuned_ssim for r in self.rows]))

    def table(self) -> str:
        """The per-image figures and their mean, as a plain-text table."""
        lines = [f"{'image':<28} {'PSNR base':>10} {'PSNR tuned':>11} {'SSIM base':>10} {'SSIM tuned':>11}"]
        for r in self.rows + (ValidationRow("mean", self.base_psnr_db, self.tuned_psnr_db, self.base_ssim,
                                            self.tuned_ssim),):
            lines.append(f"{r.image[:28]:<28} {r.base_psnr_db:>7.2f} dB {r.tuned_psnr_db:>8.2f} dB "
                         f"{r.base_ssim:>10.4f} {r.tuned_ssim:>11.4f}")
        margin = self.tuned_psnr_db - self.base_psnr_db
        lines.append(f"fine-tuned vs starting model: {margin:+.2f} dB PSNR, "
                     f"{self.tuned_ssim - self.base_ssim:+.4f} SSIM")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {"images": [r.__dict__ for r in self.rows],
                "mean": {"base_psnr_db": round(self.base_psnr_db, 3), "tuned_psnr_db": round(self.tuned_psnr_db, 3),
                         "base_ssim": round(self.base_ssim, 4), "tuned_ssim": round(self.tuned_ssim, 4)}}


def to_tensor(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """(B, H, W, 3) or (H, W, 3) float 0..1 -> (B, 3, H, W) float32 on `device`."""
    if images.ndim == 3:
        images = images[None]
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).to(device)


@torch.no_grad()
def upscale_rgb8(net: torch.nn.Module, lr: np.ndarray, device: torch.device) -> np.ndarray:
    """Run `net` in float32 on one float 0..1 image; uint8 RGB out (as a saved result would be)."""
    out = net(to_tensor(lr, device)).float().clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy()
    return np.rint(out * 255).astype(np.uint8)


def ssim_rgb8(a: np.ndarray, b: np.ndarray) -> float:
    return float(ssim(to_tensor(a.astype(np.float32) / 255, torch.device("cpu")),
                      to_tensor(b.astype(np.float32) / 255, torch.device("cpu"))))


def validate(base: torch.nn.Module, tuned: torch.nn.Module, pairs: list[tuple[np.ndarray, np.ndarray]],
             names: list[str], device: torch.device, grid_rows: int = 3) -> ValidationReport:
    """Both models on each (lr, hr) pair; PSNR (dB) and SSIM against the original, as uint8 RGB."""
    rows, cells = [], []
    tuned_was_training = tuned.training
    tuned.eval()
    try:
        for (lr, hr), name in zip(pairs, names):
            truth = np.rint(hr * 255).astype(np.uint8)
            before, after = upscale_rgb8(base, lr, device), upscale_rgb8(tuned, lr, device)
            rows.append(ValidationRow(name, round(float(psnr(truth, before)), 3), round(float(psnr(truth, after)), 3),
                                      round(ssim_rgb8(truth, before), 4), round(ssim_rgb8(truth, after), 4)))
            if len(cells) < grid_rows:
                cells.append((np.rint(lr * 255).astype(np.uint8), before, after, truth))
    finally:
        tuned.train(tuned_was_training)
    return ValidationReport(tuple(rows), before_after_grid(cells))


def before_after_grid(rows: list[tuple[np.ndarray, ...]], cell_px: int = GRID_CELL_PX) -> np.ndarray:
    """One row per image: its cells resized to `cell_px` (nearest, so pixels stay visible), under a
    label bar naming the columns."""
    bar = 28
    columns = len(GRID_LABELS)
    grid = np.full((bar + max(1, len(rows)) * cell_px, columns * cell_px, 3), 255, np.uint8)
    for c, label in enumerate(GRID_LABELS):
        cv2.putText(grid, label, (c * cell_px + 6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (20, 20, 20), 1, cv2.LINE_AA)
    for r, cells in enumerate(rows):
        for c, cell in enumerate(cells):
            top, left = bar + r * cell_px, c * cell_px
            grid[top:top + cell_px, left:left + cell_px] = cv2.resize(cell, (cell_px, cell_px),
                                                                      interpolation=cv2.INTER_NEAREST)
    return grid
