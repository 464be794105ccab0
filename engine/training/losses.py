"""The training loss: L1 + (1 - SSIM), and SSIM itself for validation.

Real-ESRGAN fine-tunes with L1 + a VGG-19 perceptual loss (+ a GAN). The VGG's ImageNet weights are
a download (torchvision fetches them at first use) and this project downloads nothing it does not
pin and verify, so the perceptual term is SSIM (Wang et al. 2004), which needs no weights and still
rewards local structure that the per-pixel L1 alone averages away.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

SSIM_WINDOW_PX = 7
SSIM_WEIGHT = 0.2


def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of two (B, C, H, W) batches in 0..1, computed in float32; 1 for identical images.
    The definition is scikit-image's `structural_similarity` default (a uniform 7x7 window, sample
    covariance, the valid region only), so the two agree; a uniform window is an average pool,
    several times cheaper on a CPU than a Gaussian's depthwise convolution, forward and back."""
    x, y = x.float(), y.float()
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    n = SSIM_WINDOW_PX ** 2
    unbiased = n / (n - 1)

    def mean(t: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(t, SSIM_WINDOW_PX, stride=1)
    mu_x, mu_y = mean(x), mean(y)
    var_x = unbiased * (mean(x * x) - mu_x ** 2)
    var_y = unbiased * (mean(y * y) - mu_y ** 2)
    cov = unbiased * (mean(x * y) - mu_x * mu_y)
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))
    return ssim_map.mean()


def training_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 + 0.2 * (1 - SSIM), both on 0..1 images, in float32 whatever the autocast precision."""
    output, target = output.float(), target.float()
    return F.l1_loss(output, target) + SSIM_WEIGHT * (1 - ssim(output, target))
