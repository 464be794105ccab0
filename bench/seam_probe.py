"""python -m bench.seam_probe: how much overlap each architecture needs for tiles that join unseen.

For each model: one photo crop upscaled whole (no tiling) and tiled (`--tile` px tiles) with each
overlap in `--pads`, everything else equal (the same mirrored border, the app's precision); prints
the PSNR of tiled against whole. The profiles' `overlap_px` (engine/models/profiles.py) is meant to
be the smallest overlap at or above 45 dB; a smaller overlap means less work repeated per tile.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import finish, print_markdown  # noqa: E402

SEAM_FREE_DB = 45.0


def seam_section(weights: Path, models: tuple[str, ...], side: int, tile: int, pads: tuple[int, ...]) -> list[dict]:
    from skimage import data

    from engine.models.manager import ModelManager
    from engine.pixels.upscale import UpscaleOptions, upscale_pixels
    from utils.metrics import psnr
    rgb = np.ascontiguousarray(data.astronaut()[40:40 + side, 140:140 + side])
    edge = max(pads)
    manager = ModelManager(weights_dir=weights)
    rows = []
    for name in models:
        model = manager.load_model(name)
        whole, _ = upscale_pixels(model, rgb, UpscaleOptions(outscale=model.scale, tile_px=0, edge_px=edge))
        for pad in pads:
            tiled, report = upscale_pixels(model, rgb, UpscaleOptions(outscale=model.scale, tile_px=tile, pad_px=pad,
                                                                      edge_px=edge))
            row = {"model": name, "architecture": model.architecture, "precision": model.precision,
                   "input": f"{side}x{side}", "tile_px": tile, "tiles": report.tiles, "pad_px": pad,
                   "psnr_tiled_vs_whole_db": psnr(whole, tiled), "load_avg_1min": os.getloadavg()[0]}
            rows.append(row)
            print(f"  {name} ({model.architecture}, {model.precision}) pad {pad}: {row['psnr_tiled_vs_whole_db']:.1f} dB "
                  f"({report.tiles} tiles)", flush=True)
    return rows


def print_table(rows: list[dict]) -> None:
    print_markdown(["model", "tile", "overlap", "tiled vs whole", f"seam-free (>= {SEAM_FREE_DB:.0f} dB)"],
                   [[f"{r['model']} ({r['architecture']}, {r['precision']})", f"{r['tile_px']} px ({r['tiles']} tiles)",
                     f"{r['pad_px']} px", f"{r['psnr_tiled_vs_whole_db']:.1f} dB",
                     "yes" if r["psnr_tiled_vs_whole_db"] >= SEAM_FREE_DB else "no"] for r in rows])


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.seam_probe", description=__doc__)
    parser.add_argument("--model", action="append", help="repeatable (default: realesr-animevideov3 and the anime 6B)")
    parser.add_argument("--side", type=int, default=128)
    parser.add_argument("--tile", type=int, default=64)
    parser.add_argument("--pads", default="4,8,12,16,24,32")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "seams.json")
    args = parser.parse_args()
    models = tuple(args.model or ("realesr-animevideov3", "RealESRGAN_x4plus_anime_6B"))
    with tempfile.TemporaryDirectory() as tmp:
        rows = seam_section(Path(tmp) / "weights", models, args.side, args.tile,
                            tuple(int(p) for p in args.pads.split(",")))
    print_table(rows)
    return finish(args.out, "seams", rows)


if __name__ == "__main__":
    sys.exit(main())
