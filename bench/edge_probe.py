"""python -m bench.edge_probe: how wide a mirrored border each architecture needs at the picture's edge.

A job gives the picture a mirrored border before the network (`edge_px_for`: 32 px for ESRGAN, 16
for Compact) so the network's zero padding falls outside it. For each model and each border width in
`--edges`: two photo crops upscaled whole, and the PSNR of the outer band (the outermost `--band`
input pixels, at the output's scale) against the same crop with a `--reference` px border, with the
time each took. The border costs pixels: a 160 px picture with a 32 px border runs as 224 px.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import finish, print_markdown  # noqa: E402


def band_mask(height: int, width: int, band: int) -> np.ndarray:
    mask = np.zeros((height, width), dtype=bool)
    mask[:band], mask[-band:], mask[:, :band], mask[:, -band:] = True, True, True, True
    return mask


def edge_section(weights: Path, models: tuple[str, ...], side: int, edges: tuple[int, ...], band: int,
                 reference: int) -> list[dict]:
    from skimage import data

    from engine.models.manager import ModelManager
    from engine.pixels.upscale import UpscaleOptions, default_pad_px, upscale_pixels
    from utils.metrics import psnr
    crops = {"astronaut": data.astronaut()[60:60 + side, 150:150 + side],
             "coffee": data.coffee()[100:100 + side, 200:200 + side]}
    manager = ModelManager(weights_dir=weights)
    rows = []
    for name in models:
        model = manager.load_model(name)

        def upscale(rgb: np.ndarray, edge: int) -> tuple[np.ndarray, float]:
            options = UpscaleOptions(outscale=model.scale, tile_px=0, pad_px=default_pad_px(model.architecture),
                                     edge_px=edge)
            started = time.perf_counter()
            out, _ = upscale_pixels(model, np.ascontiguousarray(rgb), options)
            return out, time.perf_counter() - started
        for crop, rgb in crops.items():
            wide, _ = upscale(rgb, reference)
            mask = band_mask(*wide.shape[:2], band * model.scale)
            for edge in edges:
                out, seconds = upscale(rgb, edge)
                row = {"model": name, "architecture": model.architecture, "crop": crop, "input": f"{side}x{side}",
                       "edge_px": edge, "reference_edge_px": reference, "band_px": band,
                       "band_psnr_db": psnr(wide[mask], out[mask]), "seconds": seconds,
                       "load_avg_1min": os.getloadavg()[0]}
                rows.append(row)
                print(f"  {name} {crop} border {edge} px: outer band {row['band_psnr_db']:.1f} dB, {seconds:.2f} s",
                      flush=True)
    return rows


def print_table(rows: list[dict]) -> None:
    print_markdown(["model", "crop", "border", "outer band vs widest border", "seconds"],
                   [[f"{r['model']} ({r['architecture']})", f"{r['crop']} {r['input']}", f"{r['edge_px']} px",
                     f"{r['band_psnr_db']:.1f} dB (vs {r['reference_edge_px']} px)", f"{r['seconds']:.2f}"]
                    for r in rows])


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.edge_probe", description=__doc__)
    parser.add_argument("--model", action="append", help="repeatable (default: realesr-animevideov3 and x4plus)")
    parser.add_argument("--side", type=int, default=96)
    parser.add_argument("--edges", default="0,8,16,24,32,48")
    parser.add_argument("--band", type=int, default=16, help="input pixels from the edge that are compared")
    parser.add_argument("--reference", type=int, default=64, help="the widest border, compared against")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "edges.json")
    args = parser.parse_args()
    models = tuple(args.model or ("realesr-animevideov3", "RealESRGAN_x4plus"))
    with tempfile.TemporaryDirectory() as tmp:
        rows = edge_section(Path(tmp) / "weights", models, args.side, tuple(int(e) for e in args.edges.split(",")),
                            args.band, args.reference)
    print_table(rows)
    return finish(args.out, "edges", rows)


if __name__ == "__main__":
    os.environ.setdefault("TQDM_DISABLE", "1")
    sys.exit(main())
