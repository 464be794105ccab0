"""One upscale of a 2048x2048 image in a fresh process: seconds and peak RSS (ru_maxrss).
Run by `python -m bench`; prints one JSON line."""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--tile", choices=("auto", "none"), default="auto")
    args = parser.parse_args()
    import numpy as np
    from skimage import data

    from engine.models.manager import ModelManager
    from engine.pixels.upscale import UpscaleOptions, default_pad_px, upscale_pixels
    photo = data.astronaut()
    rgb = np.ascontiguousarray(np.tile(photo, (args.size // 512 + 1, args.size // 512 + 1, 1))[:args.size, :args.size])
    model = ModelManager(weights_dir=args.weights).load_model(args.model)
    baseline_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    options = UpscaleOptions(outscale=model.scale, tile_px=None if args.tile == "auto" else 0,
                             pad_px=default_pad_px(model.architecture))
    started = time.perf_counter()
    out, report = upscale_pixels(model, rgb, options)
    seconds = time.perf_counter() - started
    print(json.dumps({"model": args.model, "tile": report.tile_px, "tiles": report.tiles, "seconds": seconds,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "baseline_rss_mb": baseline_mb, "output": list(out.shape)}))


if __name__ == "__main__":
    main()
