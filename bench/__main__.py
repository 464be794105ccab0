"""python -m bench [--out FILE] [--quick] [--full]: our engine against the reference RealESRGANer
and the ncnn runtime, in one run, on the same images and the same weights. Prints a table and
writes the figures as JSON."""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import write_figures  # noqa: E402
from bench.cold_start import cold_start_section  # noqa: E402
from bench.cold_start import print_table as print_cold_start  # noqa: E402
from bench.int8 import int8_section  # noqa: E402
from bench.int8 import print_table as print_int8  # noqa: E402
from bench.engines import Ncnn, Reference, ours, timed  # noqa: E402
from bench.flops import conv_flops_per_input_pixel, conv_peak_gflops  # noqa: E402
from engine.models.manager import ModelManager  # noqa: E402
from utils.gpu import cpu_model_name, cpu_supports_bf16  # noqa: E402
from utils.metrics import psnr  # noqa: E402

MODELS = ("RealESRGAN_x4plus", "RealESRGAN_x4plus_anime_6B", "realesr-animevideov3")


def bench_images(side: int) -> list[np.ndarray]:
    """Crops of two real photos shipped with scikit-image."""
    from skimage import data
    return [np.ascontiguousarray(data.astronaut()[60:60 + side, 150:150 + side]),
            np.ascontiguousarray(data.chelsea()[60:60 + side, 120:120 + side])]


def engine_section(manager: ModelManager, weights: Path, side: int, repeats: int, fp32: bool = False) -> list[dict]:
    images = bench_images(side)
    rows = []
    for name in MODELS:
        model = manager.load_model(name, fp32=fp32)
        flops = conv_flops_per_input_pixel(manager.load_model(name, fp32=True).descriptor.model) * side * side
        ours_s, ours_out = timed(lambda im: ours(model, im), images, repeats)
        ref_s, ref_out = timed(Reference(name, weights, tile=0), images, repeats)
        ref_tiled_s, _ = timed(Reference(name, weights, tile=400, tile_pad=10), images, repeats)
        ncnn_s, _ = timed(Ncnn(name, torch.get_num_threads()), images, repeats)
        n = len(images)
        rows.append({
            "model": name, "input": f"{side}x{side}", "images": n, "precision": model.precision,
            "ours_images_per_s": n / ours_s, "reference_images_per_s": n / ref_s,
            "reference_tiled_images_per_s": n / ref_tiled_s, "ncnn_images_per_s": n / ncnn_s,
            "speedup_vs_reference": ref_s / ours_s, "speedup_vs_reference_tiled": ref_tiled_s / ours_s,
            "speedup_vs_ncnn": ncnn_s / ours_s,
            "psnr_vs_reference_db": float(np.mean([psnr(r, o) for r, o in zip(ref_out, ours_out)])),
            "ours_gflops": flops * n / ours_s / 1e9,
        })
        print(f"  {name}: ours {n / ours_s:.3f} img/s, reference {n / ref_s:.3f}, ncnn {n / ncnn_s:.3f}", flush=True)
    return rows


def probe(name: str, weights: Path, size: int, tile: str) -> dict:
    """One bench/tiling_probe.py run in a fresh process (its peak RSS is then its own)."""
    line = subprocess.run([sys.executable, str(ROOT / "bench" / "tiling_probe.py"), "--model", name,
                           "--weights", str(weights), "--size", str(size), "--tile", tile],
                          capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    return json.loads(line)


def untiled_side(model, size: int) -> int:
    """The largest side, `size` halved until it fits, at which `model` runs untiled in this
    machine's free memory (its profile's bytes per input pixel, with the mirrored border)."""
    from engine.pixels.upscale import UpscaleOptions, bytes_per_input_pixel, default_pad_px, edge_px_for
    from utils.gpu import free_memory_bytes
    per_pixel = bytes_per_input_pixel(model.architecture, model.precision)
    edge = edge_px_for(UpscaleOptions(pad_px=default_pad_px(model.architecture)))
    free = free_memory_bytes(torch.device("cpu"))
    while size > 256 and (size + 2 * edge) ** 2 * per_pixel > free:
        size //= 2
    return size


def tiling_section(manager: ModelManager, weights: Path, models: list[str], size: int = 2048) -> list[dict]:
    """The automatic tiles at `size` x `size` against the same picture untiled. Where the untiled
    run does not fit in memory (x4plus at 2048 needs about 35 GB), the reference is that many
    untiled runs of the largest side that fits: a convolution's cost is linear in pixels, so
    (2048/1024)^2 untiled 1024 px runs do the untiled 2048 px run's work with no repeated context."""
    rows = []
    for name in models:
        side = untiled_side(manager.load_model(name), size)
        tiled = probe(name, weights, size, "auto")
        print(f"  {name} {size}x{size} auto tiles: {tiled['seconds']:.1f} s ({tiled['tiles']} tiles of "
              f"{tiled['tile']} px), peak RSS {tiled['peak_rss_mb']:.0f} MB", flush=True)
        untiled = probe(name, weights, side, "none")
        runs = (size // side) ** 2
        print(f"  {name} {side}x{side} untiled: {untiled['seconds']:.1f} s (x{runs}), "
              f"peak RSS {untiled['peak_rss_mb']:.0f} MB", flush=True)
        rows.append({"model": name, "input": f"{size}x{size}", "auto_tile_px": tiled["tile"],
                     "tiles": tiled["tiles"], "tiled_seconds": tiled["seconds"],
                     "untiled_side": side, "untiled_runs": runs, "untiled_run_seconds": untiled["seconds"],
                     "untiled_seconds": untiled["seconds"] * runs,
                     "overhead": tiled["seconds"] / (untiled["seconds"] * runs),
                     "tiled_peak_rss_mb": tiled["peak_rss_mb"], "untiled_peak_rss_mb": untiled["peak_rss_mb"]})
    return rows


def load_section(weights_root: Path) -> list[dict]:
    rows = []
    for name in MODELS:
        fresh = weights_root / f"load-{name}"
        started = time.perf_counter()
        ModelManager(weights_dir=fresh).load_model(name)
        first = time.perf_counter() - started
        manager = ModelManager(weights_dir=fresh)
        started = time.perf_counter()
        manager.load_model(name)
        from_disk = time.perf_counter() - started
        started = time.perf_counter()
        manager.load_model(name)
        in_memory = time.perf_counter() - started
        rows.append({"model": name, "first_load_s": first, "disk_cached_load_s": from_disk,
                     "memory_cached_load_s": in_memory})
    return rows


def print_tables(result: dict) -> None:
    print(f"\n{result['machine']['cpu']} ({result['machine']['threads']} threads), torch {result['machine']['torch']}, "
          f"peak 3x3x64 conv: {result['conv_peak_gflops']:.0f} GFLOP/s ({result['machine']['precision']})\n")
    print("| model | input | ours img/s | reference img/s (tile 0 / 400) | ncnn img/s | vs reference | vs ncnn | "
          "PSNR vs reference | ours GFLOP/s (% of peak) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in result["engines"]:
        print(f"| {r['model']} | {r['input']} | {r['ours_images_per_s']:.3f} | {r['reference_images_per_s']:.3f} / "
              f"{r['reference_tiled_images_per_s']:.3f} | {r['ncnn_images_per_s']:.3f} | "
              f"{r['speedup_vs_reference']:.2f}x | {r['speedup_vs_ncnn']:.2f}x | {r['psnr_vs_reference_db']:.1f} dB | "
              f"{r['ours_gflops']:.0f} ({100 * r['ours_gflops'] / result['conv_peak_gflops']:.0f}%) |")
    if result.get("tiling"):
        print("\n| model (2048x2048 at x4) | auto tile | tiled s | untiled s | overhead | peak RSS tiled / untiled |")
        print("|---|---|---|---|---|---|")
        for r in result["tiling"]:
            untiled = (f"{r['untiled_seconds']:.1f}" if r["untiled_runs"] == 1 else
                       f"{r['untiled_seconds']:.1f} ({r['untiled_runs']} x {r['untiled_run_seconds']:.1f} "
                       f"at {r['untiled_side']} px)")
            print(f"| {r['model']} | {r['auto_tile_px']} px ({r['tiles']} tiles) | {r['tiled_seconds']:.1f} | "
                  f"{untiled} | {100 * (r['overhead'] - 1):+.1f}% | "
                  f"{r['tiled_peak_rss_mb'] / 1024:.2f} / {r['untiled_peak_rss_mb'] / 1024:.2f} GB |")
    print("\n| model | first load (convert) | from disk cache | from memory cache |")
    print("|---|---|---|---|")
    for r in result["loading"]:
        print(f"| {r['model']} | {r['first_load_s']:.2f} s | {r['disk_cached_load_s']:.2f} s | "
              f"{1000 * r['memory_cached_load_s']:.2f} ms |")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    parser.add_argument("--side", type=int, default=128, help="input crop size for the engine comparison")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="64 px crops, no 2048x2048 runs")
    parser.add_argument("--full", action="store_true", help="also time RealESRGAN_x4plus at 2048x2048 (slow on CPU)")
    parser.add_argument("--fp32", action="store_true",
                        help="our engine in fp32, as on a CPU without bf16 (engines and loading only)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "weights"
        manager = ModelManager(weights_dir=weights)
        precision = manager.device_for(fp32=args.fp32).precision
        result = {"machine": {"cpu": cpu_model_name(), "threads": torch.get_num_threads(), "bf16": cpu_supports_bf16(),
                              "precision": precision, "torch": torch.__version__, "python": platform.python_version(),
                              "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
                  "when": time.strftime("%Y-%m-%d %H:%M:%S")}
        print("convolution peak...", flush=True)
        result["conv_peak_gflops"] = conv_peak_gflops(precision)
        print("engines...", flush=True)
        result["engines"] = engine_section(manager, weights, 64 if args.quick else args.side, args.repeats, args.fp32)
        if not args.quick and not args.fp32:
            print("tiling at 2048x2048...", flush=True)
            models = ["realesr-animevideov3"] + (["RealESRGAN_x4plus"] if args.full else [])
            result["tiling"] = tiling_section(manager, weights, models)
        print("model loading...", flush=True)
        result["loading"] = load_section(Path(tmp))
        print("int8 against bf16 and fp32...", flush=True)
        result["int8"] = int8_section(weights, models=("realesr-animevideov3",) if args.quick else MODELS)
        print("cold vs warm server...", flush=True)
        result["cold_start"] = (cold_start_section(weights, "realesr-animevideov3", 64, 3) if args.quick
                                else cold_start_section(weights))
    print_tables(result)
    print_int8(result["int8"])
    print_cold_start(result["cold_start"])
    write_figures(args.out, result)
    print(f"\nfigures written to {args.out}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TQDM_DISABLE", "1")
    sys.exit(main())
