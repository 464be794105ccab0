"""A bounded burst of concurrent requests against a running server with its queue limits."""
import statistics
import threading
import time

import psutil
import pytest
from PIL import Image

from ..app_server import app_config_for, running_app

REQUESTS = 20
pytestmark = pytest.mark.slow


def test_burst_of_requests_completes_or_is_told_busy(tmp_path_factory, weights_dir, chelsea, capsys):
    from gradio_client import Client, handle_file
    root = tmp_path_factory.mktemp("load")
    images = []
    for i in range(4):
        path = root / f"small{i}.png"
        Image.fromarray(chelsea[i * 40: i * 40 + 48, 100:164]).save(path)
        images.append(path)
    config = app_config_for(root, weights_dir, REALESRGAN_QUEUE_MAX_SIZE="8", REALESRGAN_CONCURRENCY_LIMIT="1")
    with running_app(config) as url:
        client = Client(url, verbose=False)
        process = psutil.Process()
        for path in images:  # warm-up: model loaded, caches filled
            client.predict(handle_file(str(path)), model_name="realesr-animevideov3", scale=2, api_name="/enhance_image")
        warm_rss = process.memory_info().rss
        outcomes, latencies, lock = [], [], threading.Lock()

        def one(i: int) -> None:
            started = time.perf_counter()
            try:
                Client(url, verbose=False).predict(handle_file(str(images[i % 4])), model_name="realesr-animevideov3",
                                                   scale=2, api_name="/enhance_image")
                outcome = "ok"
            except Exception as error:
                outcome = "busy" if "full" in str(error).lower() or "busy" in str(error).lower() else repr(error)
            with lock:
                outcomes.append(outcome)
                latencies.append(time.perf_counter() - started)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(REQUESTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert not any(t.is_alive() for t in threads)
        assert len(outcomes) == REQUESTS and set(outcomes) <= {"ok", "busy"}, outcomes
        assert outcomes.count("ok") >= 8
        # still serving afterwards, and memory stayed bounded
        assert client.predict(handle_file(str(images[0])), model_name="realesr-animevideov3", scale=1,
                              api_name="/enhance_image")[0]
        assert process.memory_info().rss <= 1.5 * warm_rss
        ordered = sorted(latencies)
        with capsys.disabled():  # the figures belong in the CI log
            print(f"\n{REQUESTS} concurrent requests: {outcomes.count('ok')} ok, {outcomes.count('busy')} busy; "
                  f"p50 {statistics.median(ordered):.2f} s, p95 {ordered[int(0.95 * (len(ordered) - 1))]:.2f} s; "
                  f"RSS {warm_rss / 2**20:.0f} -> {process.memory_info().rss / 2**20:.0f} MB")
