"""python -m bench.cold_start: the first result of a fresh server against a warm one.

Starts `python main.py` (the real server, in its own process, its own folders, the weights already
converted to the disk cache as on an installed machine), times how long until the address answers
(the starting page, ui/starting_page.py) and until the app's page answers, then sends one small
image to the REST API (`POST /api/v1/upscale`, the default model) the moment the page answers (the
worst case: a user takes longer to pick a file), and the same image again until the tenth result;
once with the start-up warm-up (REALESRGAN_WARM_UP=true, the default) and once without. Prints the
page time, the first result, the median of the later ones (a warm server's result) and their ratio,
with the 1-minute load average beside each server (on a shared machine the ratios inside one server
are what to read, not the absolute seconds).
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import finish, print_markdown  # noqa: E402
from tests.app_server import free_port  # noqa: E402


def png_bytes(side: int) -> bytes:
    import numpy as np
    from PIL import Image
    from skimage import data
    crop = np.ascontiguousarray(data.astronaut()[60:60 + side, 150:150 + side])
    buffer = io.BytesIO()
    Image.fromarray(crop).save(buffer, format="PNG")
    return buffer.getvalue()


def serve_and_time(root: Path, weights: Path, model: str, image: bytes, results: int, warm_up: bool,
                   think_s: float = 0.0, start_timeout_s: float = 600) -> dict:
    """One fresh server: seconds to the page, and each result's seconds (sent one after another)."""
    import httpx
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("REALESRGAN_")},
           "REALESRGAN_WEIGHTS_DIR": str(weights), "REALESRGAN_OUTPUT_DIR": str(root / "outputs"),
           "REALESRGAN_INPUT_DIR": str(root / "inputs"), "REALESRGAN_DATA_DIR": str(root / "data"),
           "REALESRGAN_ALLOW_DOWNLOADS": "false", "REALESRGAN_SERVER_PORT": str(port),
           "REALESRGAN_DEFAULT_MODEL": model, "REALESRGAN_WARM_UP": "true" if warm_up else "false",
           "REALESRGAN_LOG_LEVEL": "warning"}
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, str(ROOT / "main.py")], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with httpx.Client(timeout=600) as client:
            address_s = None  # the first answer of any kind: the starting page (503) while it imports
            while True:
                if server.poll() is not None:
                    raise RuntimeError(f"the server exited with {server.returncode} before answering")
                try:
                    status = client.get(f"{url}/").status_code
                    address_s = address_s or time.perf_counter() - started
                    if status == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.perf_counter() - started > start_timeout_s:
                    raise RuntimeError("the server did not answer in time")
                time.sleep(0.05)
            page_s = time.perf_counter() - started
            time.sleep(think_s)  # a user picking a file; 0: the worst case, a request the moment the page opens
            load = os.getloadavg()[0]
            seconds = []
            for _ in range(results):
                sent = time.perf_counter()
                answer = client.post(f"{url}/api/v1/upscale", files={"image": ("bench.png", image, "image/png")},
                                     data={"model": model})
                answer.raise_for_status()
                seconds.append(time.perf_counter() - sent)
    finally:
        server.terminate()
        server.wait(60)
    warm = statistics.median(seconds[1:] or seconds)  # one slow result among the warm ones moves it little
    return {"warm_up": warm_up, "address_s": address_s, "page_s": page_s, "result_s": seconds, "first_s": seconds[0],
            "warm_s": warm, "first_over_warm": seconds[0] / warm, "load_avg_1min": load}


def prepare_weights(weights: Path, model: str) -> None:
    """Convert the bundled pack into the disk cache once, as the first run on a machine does."""
    from engine.models.manager import ModelManager
    ModelManager(weights_dir=weights).resolve(ModelManager().spec(model))


def cold_start_section(weights: Path, model: str = "RealESRGAN_x4plus", side: int = 160, results: int = 10,
                       think_s: float = 0.0) -> list[dict]:
    prepare_weights(weights, model)
    image = png_bytes(side)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for warm_up in (True, False):
            row = serve_and_time(Path(tmp) / f"warm-{warm_up}", weights, model, image, results, warm_up, think_s)
            row.update(model=model, input=f"{side}x{side}", think_s=think_s)
            rows.append(row)
            print(f"  {model} {side}x{side}, warm-up {'on' if warm_up else 'off'}: starting page "
                  f"{row['address_s']:.2f} s, app {row['page_s']:.1f} s, "
                  f"first result {row['first_s']:.2f} s, results 2-{results} {row['warm_s']:.2f} s (median), "
                  f"ratio {row['first_over_warm']:.2f}x (load average {row['load_avg_1min']:.1f})", flush=True)
    return rows


def print_table(rows: list[dict]) -> None:
    print_markdown(["server (fresh process)", "starting page", "app page", "first result",
                    "warm result (median of the rest)", "first / warm", "load avg"],
                   [[f"{r['model']} {r['input']}, warm-up {'on' if r['warm_up'] else 'off'}",
                     f"{r['address_s']:.2f} s", f"{r['page_s']:.1f} s",
                     f"{r['first_s']:.2f} s", f"{r['warm_s']:.2f} s (#2-{len(r['result_s'])})",
                     f"{r['first_over_warm']:.2f}x", f"{r['load_avg_1min']:.1f}"] for r in rows])


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cold_start", description=__doc__)
    parser.add_argument("--model", default="RealESRGAN_x4plus")
    parser.add_argument("--side", type=int, default=160)
    parser.add_argument("--results", type=int, default=10)
    parser.add_argument("--weights", type=Path, default=None, help="a weights folder to reuse (default: a new one)")
    parser.add_argument("--think", type=float, default=0.0,
                        help="seconds between the page answering and the first request (default 0: at once)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "cold_start.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = cold_start_section(args.weights or Path(tmp) / "weights", args.model, args.side, args.results,
                                  args.think)
    print_table(rows)
    return finish(args.out, "cold_start", rows)


if __name__ == "__main__":
    sys.exit(main())
