"""python -m bench.forward_watch [--sides PX...] [--rounds N] [--threads N] [--out FILE]: what the
cancel hooks (engine/models/forward_watch.py) cost.

The same tiles through `run_batch` with and without a stop check (a real `JobControl`: cancel flag,
a client-gone callable, a time limit, as a web job has), alternated in one process and timed in
this process's CPU seconds, which other programs on a shared machine do not inflate as they do the
wall clock (one torch thread by default, so no OpenMP spin-waiting either); the median ratio of
back-to-back pairs is "cost (ratio)". On a busy machine that ratio still moves by a percent or two,
more than the hooks cost, so the parts are also measured alone: one hook call (a stack of 1x1
convolutions on a 1x1 input, where the hook is most of the time) times the checks a forward makes,
plus registering and removing the hooks: "cost (parts)". The hooks go on and off at every forward
here, as for a batch of video frames: an upper bound, since an image's tiles share one registration.
"""
from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import finish, print_markdown  # noqa: E402
from engine.jobs.job_control import JobControl  # noqa: E402
from engine.models.forward_watch import watched_forward, weighted_layers  # noqa: E402
from engine.models.manager import ModelManager  # noqa: E402
from engine.pixels.inference import run_batch  # noqa: E402

MODELS = ("RealESRGAN_x4plus", "realesr-animevideov3")


def stop_check() -> JobControl:
    flag = threading.Event()
    return JobControl(cancelled=flag.is_set, client_gone=lambda: False, time_limit_s=3600)


def hook_call_seconds(layers: int = 100, rounds: int = 30) -> float:
    """Seconds one hook call adds to a layer: best of `rounds`, with and without the hooks."""
    import torch
    stack = torch.nn.Sequential(*[torch.nn.Conv2d(1, 1, 1) for _ in range(layers)])
    x = torch.zeros(1, 1, 1, 1)
    check = stop_check()

    def best(context) -> float:
        times = []
        for _ in range(rounds):
            started = time.process_time()
            with torch.inference_mode(), context():
                for _ in range(10):
                    stack(x)
            times.append(time.process_time() - started)
        return min(times) / (10 * layers)
    plain = best(contextlib.nullcontext)
    return max(0.0, best(lambda: watched_forward(stack, check)) - plain)


def measure(manager: ModelManager, name: str, side: int, rounds: int, hook_s: float) -> dict:
    model = manager.load_model(name)
    from skimage import data
    tile = np.ascontiguousarray(data.astronaut()[40:40 + side, 150:150 + side])
    check = stop_check()
    calls = 0

    def counted() -> bool:
        nonlocal calls
        calls += 1
        return check()
    run_batch(model, [tile], 255, measure=False)  # the device's first-call work, in neither figure
    plain, watched = [], []
    for round_ in range(rounds):
        pair = [(plain, {}), (watched, {"should_cancel": counted})]
        for times, kwargs in pair if round_ % 2 == 0 else pair[::-1]:  # either may go first
            started = time.process_time()
            run_batch(model, [tile], 255, measure=False, **kwargs)
            times.append(time.process_time() - started)
    network = model.descriptor.model
    started = time.process_time()
    for _ in range(200):  # registering and removing the hooks, once per forward
        with watched_forward(network, check):
            pass
    setup_s = (time.process_time() - started) / 200
    plain_s, watched_s = min(plain), min(watched)
    # each pair ran back to back: the median of their ratios cancels slow drifts in the machine's load
    paired = statistics.median(w / p for p, w in zip(plain, watched))
    return {"model": name, "side_px": side, "device": str(model.device), "precision": model.precision,
            "weighted_layers": len(weighted_layers(model.descriptor.model)), "checks_per_forward": calls // rounds,
            "plain_s": round(plain_s, 4), "watched_s": round(watched_s, 4),
            "overhead_pct": round(100 * (paired - 1), 2),
            "hook_call_us": round(hook_s * 1e6, 2),
            "setup_us": round(setup_s * 1e6, 1),
            "estimated_pct": round(100 * (hook_s * (calls // rounds) + setup_s) / plain_s, 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[64, 192],
                        help="tile sides in input pixels (64: a small tile; 192: a small image or video frame)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: no OpenMP spin-waiting in the CPU seconds; 0: torch's default)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "forward_watch.json")
    args = parser.parse_args(argv)
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as weights:
        manager = ModelManager(weights_dir=weights)
        hook_s = hook_call_seconds()
        rows = [measure(manager, name, side, args.rounds, hook_s) for name in MODELS for side in args.sides]
    print_markdown(["model", "tile", "device", "checks/forward", "plain CPU s", "watched CPU s", "cost (ratio)",
                    "one hook call", "hooks on+off", "cost (parts)"],
                   [[r["model"], f"{r['side_px']} px", f"{r['device']} {r['precision']}", str(r["checks_per_forward"]),
                     f"{r['plain_s']:.4f}", f"{r['watched_s']:.4f}", f"{r['overhead_pct']:+.2f} %",
                     f"{r['hook_call_us']:.2f} us", f"{r['setup_us']:.0f} us", f"{r['estimated_pct']:.3f} %"]
                    for r in rows])
    return finish(args.out, "forward_watch", rows)


if __name__ == "__main__":
    sys.exit(main())
