"""A bounded burst of concurrent requests against a running server with its queue limits: all 20
send a file of the *same name* with different pixels; each gets its own result or a clear "busy"."""
import statistics
import threading
import time

import numpy as np
import psutil
import pytest
from PIL import Image

from tests.app_server import app_config_for, running_app

REQUESTS = 20
MODEL = "realesr-animevideov3"
pytestmark = pytest.mark.slow


def variants(root, chelsea) -> list:
    """REQUESTS different 48x64 images, each saved as photo.png in its own folder."""
    paths = []
    for i in range(REQUESTS):
        crop = chelsea[(i % 5) * 40: (i % 5) * 40 + 48, (i // 5) * 60: (i // 5) * 60 + 64].copy()
        crop[..., i % 3] = np.clip(crop[..., i % 3].astype(int) + 40 * (i // 3), 0, 255).astype(np.uint8)
        folder = root / f"client{i}"
        folder.mkdir()
        Image.fromarray(crop).save(folder / "photo.png")
        paths.append(folder / "photo.png")
    return paths


def closest_input(result_path, inputs: list[np.ndarray]) -> int:
    """Which input a result came from: the one its downscaled pixels are nearest to."""
    small = np.asarray(Image.open(result_path).convert("RGB").resize((64, 48), Image.BICUBIC), np.float32)
    return int(np.argmin([np.mean((small - a.astype(np.float32)) ** 2) for a in inputs]))


def test_burst_of_same_named_requests_each_gets_its_own_result_or_busy(tmp_path_factory, weights_dir, chelsea, capsys):
    from gradio_client import Client, handle_file
    root = tmp_path_factory.mktemp("load")
    paths = variants(root, chelsea)
    pixels = [np.asarray(Image.open(p)) for p in paths]
    config = app_config_for(root, weights_dir, REALESRGAN_QUEUE_MAX_SIZE="8", REALESRGAN_CONCURRENCY_LIMIT="1")
    with running_app(config) as url:
        client = Client(url, verbose=False)
        process = psutil.Process()
        for path in paths[:4]:  # warm-up: model loaded, caches filled
            client.predict(handle_file(str(path)), model_name=MODEL, scale=2, api_name="/enhance_image")
        warm_rss = process.memory_info().rss
        outcomes: dict[int, str] = {}
        results: dict[int, str] = {}
        latencies, lock = [], threading.Lock()

        def one(i: int) -> None:
            started = time.perf_counter()
            try:
                output = Client(url, verbose=False).predict(handle_file(str(paths[i])), model_name=MODEL, scale=2,
                                                            api_name="/enhance_image")[0]
                outcome = "ok"
                with open(output, "rb") as handle:  # read now: a later job must never replace it
                    results[i] = output
                    handle.read()
            except Exception as error:
                outcome = "busy" if "full" in str(error).lower() or "busy" in str(error).lower() else repr(error)
            with lock:
                outcomes[i] = outcome
                latencies.append(time.perf_counter() - started)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(REQUESTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
        assert not any(t.is_alive() for t in threads)
        assert len(outcomes) == REQUESTS and set(outcomes.values()) <= {"ok", "busy"}, outcomes
        ok = [i for i, outcome in outcomes.items() if outcome == "ok"]
        assert len(ok) >= 8
        for i in ok:  # each client got the result of *its* photo.png, at the size it asked for
            assert Image.open(results[i]).size == (128, 96)
            assert closest_input(results[i], pixels) == i
        made = sorted(config.OUTPUT_DIR.rglob("photo_out.png"))
        assert len(made) == 4 + len(ok) and len({p.parent for p in made}) == len(made)  # one folder a job
        # still serving afterwards, and memory stayed bounded
        assert client.predict(handle_file(str(paths[0])), model_name=MODEL, scale=1, api_name="/enhance_image")[0]
        assert process.memory_info().rss <= 1.5 * warm_rss
        ordered = sorted(latencies)
        with capsys.disabled():  # the figures belong in the CI log
            print(f"\n{REQUESTS} concurrent same-named requests: {len(ok)} ok (each its own result), "
                  f"{REQUESTS - len(ok)} busy; p50 {statistics.median(ordered):.2f} s, "
                  f"p95 {ordered[int(0.95 * (len(ordered) - 1))]:.2f} s; "
                  f"RSS {warm_rss / 2**20:.0f} -> {process.memory_info().rss / 2**20:.0f} MB")
