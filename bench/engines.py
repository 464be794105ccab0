"""The three engines measured side by side on the same images and the same weights."""
from __future__ import annotations

import contextlib
import io
import sys
import time
from pathlib import Path

import numpy as np
import torch

from engine.models import ncnn_pack
from engine.models.manager import LoadedModel
from engine.models.registry import MODELS
from engine.pixels.tiling import plan_tiles
from engine.pixels.inference import upscale_rgb


def ours(model: LoadedModel, rgb: np.ndarray, tile_px: int = 0, pad_px: int = 32) -> np.ndarray:
    return upscale_rgb(model, rgb, plan_tiles(*rgb.shape[:2], tile_px, pad_px))


class Reference:
    """realesrgan.RealESRGANer with its defaults for the device (fp32 on CPU, fp16 on CUDA),
    fed our converted bundled weights written as an official-layout .pth."""

    def __init__(self, name: str, weights_dir: Path, tile: int = 0, tile_pad: int = 10):
        sys.modules.setdefault("torchvision.transforms.functional_tensor",
                               __import__("torchvision.transforms.functional", fromlist=["x"]))
        from basicsr.archs.rrdbnet_arch import RRDBNet
        from realesrgan import RealESRGANer
        from realesrgan.archs.srvgg_arch import SRVGGNetCompact
        from safetensors.torch import load_file
        state = load_file(str(weights_dir / "bundled" / f"{name}.safetensors"))
        pth = weights_dir / f"reference-{name}.pth"
        torch.save({"params_ema": state}, pth)
        if MODELS[name].architecture == "ESRGAN":
            blocks = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("body."))
            net = RRDBNet(num_in_ch=3, num_out_ch=3, num_feat=64, num_block=blocks, num_grow_ch=32, scale=4)
        else:
            convs = (max(int(k.split(".")[1]) for k in state if k.startswith("body.")) - 2) // 2
            net = SRVGGNetCompact(num_in_ch=3, num_out_ch=3, num_feat=64, num_conv=convs, upscale=4, act_type="prelu")
        half = torch.cuda.is_available()
        self.upsampler = RealESRGANer(scale=4, model_path=str(pth), model=net, tile=tile, tile_pad=tile_pad,
                                      pre_pad=0, half=half)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        with contextlib.redirect_stdout(io.StringIO()):  # it prints a line per tile
            out, _ = self.upsampler.enhance(bgr, outscale=4)
        return np.ascontiguousarray(out[..., ::-1])


class Ncnn:
    """The ncnn CPU runtime on the pack's own .param/.bin (fp32 arithmetic, all cores)."""

    def __init__(self, name: str, threads: int):
        import ncnn
        self.ncnn = ncnn
        stem = MODELS[name].bundled.stem
        folder = ncnn_pack.pack_dir()
        self.net = ncnn.Net()
        self.net.opt.use_vulkan_compute = False
        self.net.opt.num_threads = threads
        self.net.load_param(str(folder / f"{stem}.param"))
        self.net.load_model(str(folder / f"{stem}.bin"))

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        chw = np.ascontiguousarray(rgb.transpose(2, 0, 1).astype(np.float32) / 255)
        extractor = self.net.create_extractor()
        extractor.input("data", self.ncnn.Mat(chw))
        _, out = extractor.extract("output")
        out = np.clip(np.array(out), 0, 1).transpose(1, 2, 0)
        return np.rint(out * 255).astype(np.uint8)


def timed(fn, images: list[np.ndarray], repeats: int = 1) -> tuple[float, list[np.ndarray]]:
    """Best-of-`repeats` seconds for all images, after one warm-up on the first image."""
    fn(images[0])
    best, outputs = float("inf"), []
    for _ in range(repeats):
        started = time.perf_counter()
        outputs = [fn(image) for image in images]
        best = min(best, time.perf_counter() - started)
    return best, outputs
