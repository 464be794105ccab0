"""Pixels: forward passes, tiling, upscaling with borders and alpha, blending two models."""
