"""Convolution FLOPs of a model, and the machine's measured peak for a 3x3 64-channel conv."""
from __future__ import annotations

import contextlib
import time

import torch


def conv_flops_per_input_pixel(module: torch.nn.Module, scale_probe_px: int = 16) -> float:
    """Multiply-adds x 2 of every Conv2d, per input pixel, counted with hooks on a small input."""
    total = 0

    def hook(conv, inputs, output):
        nonlocal total
        _, c_out, h, w = output.shape
        kh, kw = conv.kernel_size
        total += 2 * conv.in_channels // conv.groups * c_out * kh * kw * h * w

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, torch.nn.Conv2d)]
    try:
        with torch.inference_mode():
            module(torch.rand(1, 3, scale_probe_px, scale_probe_px))
    finally:
        for handle in handles:
            handle.remove()
    return total / scale_probe_px ** 2


def conv_peak_gflops(precision: str, side: int = 256, repeats: int = 12) -> float:
    """GFLOP/s of one 3x3 64->64 convolution at the engine's precision and memory format."""
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).eval().to(memory_format=torch.channels_last)
    x = torch.rand(1, 64, side, side).contiguous(memory_format=torch.channels_last)
    context = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
    flops = 2 * 64 * 64 * 9 * side * side
    with torch.inference_mode(), context:
        conv(x)
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            conv(x)
            best = min(best, time.perf_counter() - started)
    return flops / best / 1e9
