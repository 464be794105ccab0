"""python -m bench.tile_shape: the model's speed by tile size, and the tile that tiles fastest.

For each tile side in `--sides` (input pixels, square, the tile's context included): one random
photo crop of that size through the app's own `run_batch` (the app's precision), best of
`--repeats` passes taken in turn across the sizes (so a busy machine slows every size alike).
Prints input pixels per second by size; then, for a `--image` x `--image` picture and each tile
core up to `--max-tile`, the cost of its plan (every tile's padded pixels at the measured speed of
its size, interpolated) against one untiled pass at the speed of the largest measured size: the
tile the engine should choose and its overhead.
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


def speeds_by_side(model, sides: list[int], repeats: int) -> dict[int, float]:
    from skimage import data

    from engine.pixels.inference import run_batch
    photo = np.tile(data.astronaut(), (3, 3, 1))
    best = {side: float("inf") for side in sides}
    run_batch(model, [np.ascontiguousarray(photo[:64, :64])], 255)  # the first call's set-up, untimed
    for _ in range(repeats):
        for side in sides:
            crop = np.ascontiguousarray(photo[7:7 + side, 11:11 + side])
            started = time.perf_counter()
            run_batch(model, [crop], 255)
            best[side] = min(best[side], time.perf_counter() - started)
            print(f"  {side}x{side}: {side * side / best[side]:,.0f} px/s (load {os.getloadavg()[0]:.1f})", flush=True)
    return {side: side * side / seconds for side, seconds in best.items()}


def speed_at(speeds: dict[int, float], side: float) -> float:
    sides = sorted(speeds)
    return float(np.interp(side, sides, [speeds[s] for s in sides]))


def plan_cost(speeds: dict[int, float], image: int, tile: int, pad: int) -> float:
    from engine.pixels.tiling import plan_tiles
    plan = plan_tiles(image, image, tile, pad)
    return sum(y.length * x.length / speed_at(speeds, (y.length * x.length) ** 0.5)
               for y in plan.rows for x in plan.cols)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.tile_shape", description=__doc__)
    parser.add_argument("--model", default="RealESRGAN_x4plus")
    parser.add_argument("--sides", default="128,192,256,384,512,640,768")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--image", type=int, default=2048)
    parser.add_argument("--max-tile", type=int, default=1024)
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "tile_shape.json")
    args = parser.parse_args()
    from engine.models.manager import ModelManager
    from engine.pixels.upscale import default_pad_px
    with tempfile.TemporaryDirectory() as tmp:
        model = ModelManager(weights_dir=args.weights or Path(tmp)).load_model(args.model)
        speeds = speeds_by_side(model, [int(s) for s in args.sides.split(",")], args.repeats)
    pad = default_pad_px(model.architecture)
    whole = args.image * args.image / speeds[max(speeds)]
    plans = [{"tile": tile, "cost_s": plan_cost(speeds, args.image, tile, pad)}
             for tile in range(128, args.max_tile + 1, 64)]
    for plan in plans:
        plan["overhead"] = plan["cost_s"] / whole - 1
    print_markdown(["tile side (with context)", "input px/s"], [[f"{s}", f"{v:,.0f}"] for s, v in sorted(speeds.items())])
    print_markdown([f"tile core ({args.image}x{args.image}, overlap {pad})", "predicted s", "vs one pass at the largest size"],
                   [[str(p["tile"]), f"{p['cost_s']:.0f}", f"{p['overhead']:+.1%}"] for p in plans])
    best = min(plans, key=lambda p: p["cost_s"])
    print(f"fastest plan: {best['tile']} px tiles, {best['overhead']:+.1%}")
    return finish(args.out, "tile_shape", {"model": args.model, "precision": model.precision, "pad": pad,
                                           "speeds_px_s": speeds, "plans": plans, "best": best,
                                           "load_avg_1min": os.getloadavg()[0]})


if __name__ == "__main__":
    sys.exit(main())
