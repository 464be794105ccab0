"""The start-up warm-up: it runs beside the server (never before it answers), leaves the default
model in the manager's cache for the first job, and a server without weights starts all the same."""
from __future__ import annotations

import dataclasses
import logging
import threading
import urllib.request

from engine.models.manager import ModelManager
from engine.models.warm_up import THREAD_NAME, start_warm_up, warm_up
from tests.app_server import app_config_for

MODEL = "realesr-animevideov3"  # the small bundled model


def test_warm_up_runs_in_the_background_and_leaves_the_model_cached(weights_dir, anime_video_model):
    manager = ModelManager(weights_dir=weights_dir, allow_downloads=False)  # a fresh, empty cache
    release, entered = threading.Event(), threading.Event()
    load = manager.load_model

    def held_load(*args, **kwargs):  # the warm-up's load waits until the test lets it go
        entered.set()
        assert release.wait(120)
        return load(*args, **kwargs)

    manager.load_model = held_load
    thread = start_warm_up(manager, MODEL)
    # start_warm_up has returned while its load is still held: it did not run on the caller's thread
    assert entered.wait(120)
    assert thread.is_alive() and thread.daemon and thread.name == THREAD_NAME
    assert thread is not threading.current_thread()
    assert manager.loaded_models() == []
    release.set()
    thread.join(300)
    assert not thread.is_alive()
    cached = manager.loaded_models()
    assert [m.name for m in cached] == [MODEL]
    assert load(MODEL) is cached[0]  # the first job gets the warmed object itself, not a new load
    assert cached[0].scale == 4


def test_warm_up_gives_way_to_a_job_running_on_the_same_network(weights_dir, caplog):
    import numpy as np

    from engine.pixels.inference import run_batch
    manager = ModelManager(weights_dir=weights_dir, allow_downloads=False)
    model = manager.load_model(MODEL)
    inside, release = threading.Event(), threading.Event()

    def hold_at_first_layer(layer):  # the job's forward waits inside its first layer's hook
        if layer == 1:
            inside.set()
            assert release.wait(120)
    pixels = np.random.default_rng(3).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    results = []
    job = threading.Thread(target=lambda: results.append(run_batch(model, [pixels], 255, on_layer=hold_at_first_layer)))
    job.start()
    try:
        assert inside.wait(120) and model.running.count == 1
        with caplog.at_level(logging.INFO, logger="engine.models.warm_up"):
            assert warm_up(manager, MODEL) is model  # returns at once: no forward of its own ran to the end
        assert "gave way to a job" in caplog.text
        assert model.speed.seconds_per_megapixel is None  # the warm-up measured nothing
    finally:
        release.set()
        job.join(300)
    assert model.running.count == 0 and len(results) == 1
    fresh = ModelManager(weights_dir=weights_dir, allow_downloads=False).load_model(MODEL)
    assert (results[0] == run_batch(fresh, [pixels], 255)).all()  # the job's result is untouched
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="engine.models.warm_up"):
        warm_up(manager, MODEL)  # with no job running, both its forwards run to the end
    assert "first forward in" in caplog.text and "gave way" not in caplog.text


def test_warm_up_skips_a_model_without_weights(tmp_path):
    manager = ModelManager(weights_dir=tmp_path, allow_downloads=False)
    assert warm_up(manager, "RealESRGAN_x4plus_netD_missing") is None  # not a model at all
    manager.models = {**manager.models, MODEL: dataclasses.replace(manager.models[MODEL], bundled=None)}
    assert warm_up(manager, MODEL) is None  # neither in the folder nor bundled: nothing downloaded
    assert manager.loaded_models() == []
    assert list(tmp_path.iterdir()) == []


def test_warm_up_failure_is_logged_not_raised(weights_dir, caplog):
    manager = ModelManager(weights_dir=weights_dir, allow_downloads=False)

    def broken(*args, **kwargs):
        raise RuntimeError("device lost")

    manager.load_model = broken
    with caplog.at_level(logging.WARNING, logger="engine.models.warm_up"):
        thread = start_warm_up(manager, MODEL)
        thread.join(120)
    assert not thread.is_alive()
    assert "warm-up of realesr-animevideov3 failed" in caplog.text


def test_server_warms_the_default_model_and_starts_without_weights(tmp_path, weights_dir, anime_video_model,
                                                                    root_logging):
    from ui.app import serve
    # the second default is neither in the folder nor bundled, and the server never downloads on its own
    for default, expected in ((MODEL, [MODEL]), ("RealESRGAN_x2plus", [])):
        config = app_config_for(tmp_path / default, weights_dir).replace(DEFAULT_MODEL=default)
        demo = serve(config, block=False)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{config.SERVER_PORT}/", timeout=60) as page:
                assert page.status == 200
            demo.warm_up.join(300)
            assert not demo.warm_up.is_alive()
            assert [m.name for m in demo.manager.loaded_models()] == expected
        finally:
            demo.close()
            demo.rest_api.state.jobs.shutdown()


def test_warm_up_can_be_switched_off(tmp_path, weights_dir, root_logging):
    from ui.app import serve
    config = app_config_for(tmp_path, weights_dir, REALESRGAN_WARM_UP="false")
    demo = serve(config, block=False)
    try:
        assert getattr(demo, "warm_up", None) is None
        assert demo.manager.loaded_models() == []
    finally:
        demo.close()
        demo.rest_api.state.jobs.shutdown()
