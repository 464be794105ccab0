"""Cancel takes effect inside a forward pass, between two layers, not after the current tile; two
jobs sharing one cached network each answer to their own stop check. Deterministic: the test's own
hooks on the real bundled network set the flag at a chosen layer and count the layers that ran."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from engine.jobs.image import enhance_image_direct
from engine.jobs.job_control import JobControl, TimeLimitExceeded
from engine.models.forward_watch import watched_forward, weighted_layers
from engine.models.manager import ModelManager
from engine.pixels.inference import run_batch
from utils.errors import Cancelled

from tests.clock import ManualClock
from tests.layer_spy import LayerSpy

MODEL = "realesr-animevideov3"  # the small bundled model: 18 convolutions (and 17 PReLUs, not watched)


def all_hooks(network: torch.nn.Module) -> int:
    return sum(len(m._forward_pre_hooks) + len(m._forward_hooks) for m in network.modules())


def one_tile_image(chelsea) -> np.ndarray:
    return np.ascontiguousarray(chelsea[100:148, 200:248])  # 48x48: one tile, whatever the machine


def test_a_cancel_set_inside_the_forward_stops_it_at_the_next_layer(tmp_path, manager, chelsea, app_config):
    model = manager.load_model(MODEL)
    network = model.descriptor.model
    layers = len(weighted_layers(network))
    flag = threading.Event()
    spy = LayerSpy(network, at_layer=lambda n: flag.set() if n == 10 else None)
    try:
        with pytest.raises(Cancelled, match="Cancelled; nothing was written."):
            enhance_image_direct(one_tile_image(chelsea), MODEL, 4, model_manager=manager, config=app_config,
                                 output_dir=tmp_path, should_cancel=JobControl(cancelled=flag.is_set))
    finally:
        spy.remove()
    assert layers == 18
    assert (spy.started, spy.finished) == (10, 9)  # the 10th layer and the 8 after it never ran
    assert list(tmp_path.iterdir()) == []
    assert all_hooks(network) == 0  # the job's hooks went with it

    # the same cached network then runs a whole job, and gives what a freshly loaded one gives
    again = enhance_image_direct(one_tile_image(chelsea), MODEL, 4, model_manager=manager, config=app_config,
                                 save=False, should_cancel=JobControl(cancelled=threading.Event().is_set))
    fresh_manager = ModelManager(weights_dir=manager.weights_dir, allow_downloads=False)
    fresh = enhance_image_direct(one_tile_image(chelsea), MODEL, 4, model_manager=fresh_manager, config=app_config,
                                 save=False)
    assert fresh_manager.load_model(MODEL).descriptor is not model.descriptor
    assert again.image.shape == (192, 192, 3)
    assert np.array_equal(again.image, fresh.image)


def test_the_time_limit_also_stops_a_forward_between_layers(manager, chelsea):
    model = manager.load_model(MODEL)
    clock = ManualClock()
    control = JobControl(cancelled=lambda: False, time_limit_s=60, clock=clock)

    def pass_the_limit(n):
        if n == 12:
            clock.now += 61
    spy = LayerSpy(model.descriptor.model, at_layer=pass_the_limit)
    try:
        with pytest.raises(TimeLimitExceeded, match="1-minute limit"):
            run_batch(model, [one_tile_image(chelsea)], 255, should_cancel=control)
    finally:
        spy.remove()
    assert (spy.started, spy.finished) == (12, 11)


def test_two_jobs_on_one_cached_network_each_answer_to_their_own_check(manager, chelsea):
    model = manager.load_model(MODEL)
    network = model.descriptor.model
    tile = one_tile_image(chelsea)
    alone = run_batch(model, [tile], 255)
    both_inside = threading.Barrier(2, timeout=120)
    flags = {"cancelled": threading.Event(), "running": threading.Event()}
    checked_in: dict[str, set[int]] = {"cancelled": set(), "running": set()}
    names: dict[int, str] = {}
    outcome: dict[str, object] = {}

    def meet_at_layer_5(n_in_any_thread):
        # each thread's 5th layer: both jobs are inside the forward, with both jobs' hooks on it
        name = names.get(threading.get_ident())
        if name and n_in_thread[name] == 4:
            both_inside.wait()
            if name == "cancelled":
                flags["cancelled"].set()
        if name:
            n_in_thread[name] += 1
    n_in_thread = {"cancelled": 0, "running": 0}
    spy = LayerSpy(network, at_layer=meet_at_layer_5)

    def job(name: str) -> None:
        names[threading.get_ident()] = name

        def check() -> bool:
            checked_in[name].add(threading.get_ident())
            return flags[name].is_set()
        try:
            outcome[name] = run_batch(model, [tile], 255, should_cancel=check)
        except Cancelled as error:
            outcome[name] = error
    threads = [threading.Thread(target=job, args=(name,)) for name in ("cancelled", "running")]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
    finally:
        spy.remove()
    assert isinstance(outcome["cancelled"], Cancelled)
    assert isinstance(outcome["running"], torch.Tensor)
    assert torch.equal(outcome["running"], alone)  # ran to the end, untouched by the other's cancel
    # each check was called from its own job's thread only
    assert [len(threads_seen) for threads_seen in checked_in.values()] == [1, 1]
    assert checked_in["cancelled"] != checked_in["running"]
    assert all_hooks(network) == 0


def test_hooks_stay_out_of_a_forward_without_a_check(manager):
    network = manager.load_model(MODEL).descriptor.model
    with watched_forward(network, None, None):
        assert all_hooks(network) == 0
    with watched_forward(network, lambda: False):
        assert all_hooks(network) == len(weighted_layers(network))
    assert all_hooks(network) == 0


@pytest.mark.parametrize("frame_batch", [1, 3])  # one frame a forward (as an image), or frames in one batch
def test_a_video_job_stops_inside_a_frame(tmp_path, manager, frame_batch):
    from engine.jobs.video import enhance_video_direct
    from tests.video_samples import make_video
    source = make_video(tmp_path / "moving.mp4", frames=6)
    network = manager.load_model(MODEL).descriptor.model
    flag = threading.Event()
    # the 2nd forward's 10th layer: one forward has finished (a frame or a batch), the next is midway
    spy = LayerSpy(network, at_layer=lambda n: flag.set() if n == 18 + 10 else None)
    out = tmp_path / "out"
    try:
        with pytest.raises(Cancelled):
            enhance_video_direct(source, MODEL, 2, model_manager=manager, output_dir=out, frame_batch=frame_batch,
                                 should_cancel=JobControl(cancelled=flag.is_set))
    finally:
        spy.remove()
    assert (spy.started, spy.finished) == (28, 27)
    assert not out.exists() or list(out.iterdir()) == []


@pytest.mark.parametrize("architecture", ["GFPGAN", "RestoreFormer"])
def test_a_face_restorer_pass_stops_inside_its_forward(architecture):
    """The face restorers the registry loads, built by spandrel from stand-in (random) weights."""
    from spandrel.architectures.GFPGAN import GFPGAN
    from spandrel.architectures.RestoreFormer import RestoreFormer

    from engine.faces.restore import run_restorer
    from engine.models.manager import LoadedModel, build_descriptor, prepare_for_device
    from utils.gpu import choose_device
    torch.manual_seed(0)
    network = GFPGAN(out_size=512, num_style_feat=512, channel_multiplier=2, decoder_load_path=None, fix_decoder=False,
                     num_mlp=8, input_is_latent=True, different_w=True, narrow=1, sft_half=True) \
        if architecture == "GFPGAN" else RestoreFormer()
    descriptor, precision = prepare_for_device(build_descriptor(network.state_dict(), architecture, "face"),
                                               choose_device("cpu", None, True))
    model = LoadedModel(architecture, descriptor, descriptor.scale, torch.device("cpu"), precision, "custom", 0.0)
    assert model.architecture == architecture
    layers = len(weighted_layers(descriptor.model))
    flag = threading.Event()
    spy = LayerSpy(descriptor.model, at_layer=lambda n: flag.set() if n == 6 else None)
    face = np.random.default_rng(0).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    try:
        with pytest.raises(Cancelled):
            run_restorer(model, face, should_cancel=JobControl(cancelled=flag.is_set))
    finally:
        spy.remove()
    assert (spy.started, spy.finished) == (6, 5) and layers > 50
    assert all_hooks(descriptor.model) == 0


def test_a_batch_stops_inside_the_current_image_and_keeps_the_finished_ones(tmp_path, manager, chelsea):
    from PIL import Image

    from engine.jobs.batch import process_batch
    inputs = []
    for i, name in enumerate(("first", "second", "third")):
        path = tmp_path / f"{name}.png"
        Image.fromarray(np.ascontiguousarray(chelsea[100 + 20 * i:148 + 20 * i, 200:248])).save(path)
        inputs.append(path)
    network = manager.load_model(MODEL).descriptor.model
    flag = threading.Event()
    spy = LayerSpy(network, at_layer=lambda n: flag.set() if n == 18 + 4 else None)  # the second image's 4th layer
    out = tmp_path / "out"
    try:
        result = process_batch(inputs, model_manager=manager, output_dir=out, model_name=MODEL, outscale=2,
                               should_cancel=JobControl(cancelled=flag.is_set))
    finally:
        spy.remove()
    assert [(item.input_path.name, item.status) for item in result.items] == [("first.png", "ok")]
    assert (spy.started, spy.finished) == (22, 21)
    images = sorted(p.name for p in out.rglob("*") if p.is_file() and not p.name.startswith("."))
    assert images == ["first_out.png"]  # (beside the resume list)
