"""python -m bench.int8: would an int8 "fast" precision pay here? Speed against bf16, PSNR against fp32.

For each bundled model: torch.ao's FX graph-mode post-training quantisation with the x86 backend
(oneDNN/fbgemm; per-channel int8 weights and per-tensor uint8 activations for the convolutions, the
default x86 qconfig), calibrated on crops of scikit-image photos and of `../shared/testdata`'s
images; then, on a crop that was not in the calibration, its time against our bf16 autocast (best of
N, interleaved) and the PSNR of both against fp32. The app would offer "fast" only for a model where
int8 is faster AND at least 40 dB from fp32 (DESIGN: beyond that it visibly changes the picture).

Figures only; the decision they led to is in the README ("Performance"). torch 2.14 marks this
FX path deprecated in favour of torchao's pt2e (a separate package, fast only under torch.compile).
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import finish, print_markdown  # noqa: E402

MODELS = ("realesr-animevideov3", "RealESRGAN_x4plus_anime_6B", "RealESRGAN_x4plus")
MIN_PSNR_DB = 40.0
TESTDATA = ROOT.parent / "shared" / "testdata"


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float().div(255)


def to_pixels(batch: torch.Tensor) -> np.ndarray:
    return (batch.clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def calibration_crops(side: int) -> list[torch.Tensor]:
    from PIL import Image
    from skimage import data
    photos = [data.astronaut()[:side, :side], data.chelsea()[:side, :side], data.coffee()[:side, :side]]
    for path in sorted(TESTDATA.glob("**/*.png"))[:6] if TESTDATA.is_dir() else []:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"))
        if rgb.shape[0] >= side and rgb.shape[1] >= side:
            photos.append(rgb[:side, :side])
    return [to_tensor(p) for p in photos]


def quantised(net: torch.nn.Module, calibration: list[torch.Tensor]) -> torch.nn.Module:
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
    torch.backends.quantized.engine = "x86"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = prepare_fx(copy.deepcopy(net), get_default_qconfig_mapping("x86"), (calibration[0],))
        with torch.inference_mode():
            for crop in calibration:
                prepared(crop)
        return convert_fx(prepared)


def best_of(runs: int, *calls) -> list[float]:
    """Best seconds of each call, the calls interleaved so a change in the machine's load hits all."""
    best = [float("inf")] * len(calls)
    for _ in range(runs):
        for i, call in enumerate(calls):
            started = time.perf_counter()
            call()
            best[i] = min(best[i], time.perf_counter() - started)
    return best


def int8_section(weights: Path, side: int = 64, runs: int = 3, models: tuple[str, ...] = MODELS) -> list[dict]:
    from engine.models.manager import ModelManager
    from utils.metrics import psnr
    from skimage import data
    calibration = calibration_crops(side)
    probe = to_tensor(data.astronaut()[100:100 + side, 200:200 + side])  # not a calibration crop
    rows = []
    for name in models:
        net = ModelManager(weights_dir=weights).load_model(name, fp32=True).descriptor.model
        net = copy.deepcopy(net).eval().to(memory_format=torch.contiguous_format)
        int8_net = quantised(net, calibration)

        def fp32():
            with torch.inference_mode():
                return net(probe)

        def bf16():
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                return net(probe.contiguous(memory_format=torch.channels_last)).float()

        def int8():
            with torch.inference_mode():
                return int8_net(probe)

        reference, bf16_out, int8_out = to_pixels(fp32()), to_pixels(bf16()), to_pixels(int8())
        bf16_s, int8_s = best_of(runs, bf16, int8)
        row = {"model": name, "input": f"{side}x{side}", "bf16_s": bf16_s, "int8_s": int8_s,
               "int8_speedup_over_bf16": bf16_s / int8_s, "int8_psnr_vs_fp32_db": psnr(reference, int8_out),
               "bf16_psnr_vs_fp32_db": psnr(reference, bf16_out), "load_avg_1min": os.getloadavg()[0]}
        row["offered"] = row["int8_speedup_over_bf16"] > 1 and row["int8_psnr_vs_fp32_db"] >= MIN_PSNR_DB
        rows.append(row)
        print(f"  {name} {side}x{side}: int8 {row['int8_speedup_over_bf16']:.2f}x bf16's speed, "
              f"{row['int8_psnr_vs_fp32_db']:.1f} dB from fp32 (bf16 {row['bf16_psnr_vs_fp32_db']:.1f} dB), "
              f"load average {row['load_avg_1min']:.1f}", flush=True)
    return rows


def print_table(rows: list[dict]) -> None:
    print_markdown(["model", "input", "int8 speed-up over bf16", "int8 PSNR vs fp32", "bf16 PSNR vs fp32", "load avg",
                    "fast offered"],
                   [[r["model"], r["input"], f"{r['int8_speedup_over_bf16']:.2f}x", f"{r['int8_psnr_vs_fp32_db']:.1f} dB",
                     f"{r['bf16_psnr_vs_fp32_db']:.1f} dB", f"{r['load_avg_1min']:.1f}", "yes" if r["offered"] else "no"]
                    for r in rows])
    if not any(r["offered"] for r in rows):
        faster = [r["model"] for r in rows if r["int8_speedup_over_bf16"] > 1]
        print(f"\nNo \"fast\" precision: torch.ao's int8 is faster than bf16 for {', '.join(faster) or 'no model'} "
              f"here, but no bundled model keeps {MIN_PSNR_DB:.0f} dB from fp32 with it.")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.int8", description=__doc__)
    parser.add_argument("--side", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", action="append", choices=MODELS, help="one model (repeatable; default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "int8.json")
    args = parser.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        rows = int8_section(Path(tmp) / "weights", args.side, args.runs, tuple(args.model or MODELS))
    print_table(rows)
    return finish(args.out, "int8", rows)


if __name__ == "__main__":
    sys.exit(main())
