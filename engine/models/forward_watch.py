"""A job's stop check inside a forward pass: cancel within one layer, not one tile.

A tile of RealESRGAN_x4plus takes seconds on a CPU, so a check between tiles leaves the user
waiting. `watched_forward` registers a forward pre-hook on every layer with a weight matrix or
kernel (the convolutions, linear and modulated layers: where the time goes) for the duration of
one job's pass over an image (or one forward), and removes them after. Before each such layer the
hook calls the job's `should_cancel` (a `JobControl` raises its own error for a gone client or the
time limit; True means the user cancelled and the hook raises `Cancelled`) and `on_layer`, e.g. a
progress heartbeat.

A cached model is shared by every job that uses it, and two jobs may run it at once in two threads.
Each job's hooks act only in the thread that registered them, so each forward answers to its own
job's check, never to another's, and nothing global is consulted.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

from utils.errors import Cancelled

log = logging.getLogger(__name__)

CANCELLED_NOTE = "Cancelled; nothing was written."
CancelCheck = Callable[[], bool]
LayerFn = Callable[[int], None]


def weighted_layers(network: torch.nn.Module) -> tuple[torch.nn.Module, ...]:
    """The modules with a weight matrix or kernel of their own (a parameter of two or more
    dimensions: convolutions, linear and modulated layers, where the time goes; not PReLU or norm
    layers, whose 1-D weights cost little to apply), in registration order. Walked once per image
    pass or batch of frames (about 90 us for realesr-animevideov3 on a CPU), so nothing is kept."""
    return tuple(m for m in network.modules() if any(p.dim() >= 2 for p in m.parameters(recurse=False)))


@contextmanager
def watched_forward(network: torch.nn.Module, should_cancel: CancelCheck | None = None,
                    on_layer: LayerFn | None = None) -> Iterator[None]:
    """Within the block, every weighted layer that `network` runs in this thread first calls
    `on_layer(n)` (n: layers started so far in this block, from 1) and then `should_cancel()`;
    True raises `Cancelled` there, before the layer runs. Other threads' forwards are untouched."""
    if should_cancel is None and on_layer is None:
        yield
        return
    owner = threading.get_ident()
    started = 0

    def before_layer(module: torch.nn.Module, _inputs) -> None:
        nonlocal started
        if threading.get_ident() != owner:  # another job's forward on the same cached network
            return
        started += 1
        if on_layer is not None:
            on_layer(started)
        if should_cancel is not None and should_cancel():
            log.info("cancelled inside a forward pass, before layer %d (%s)", started, type(module).__name__)
            raise Cancelled(CANCELLED_NOTE)

    handles = [layer.register_forward_pre_hook(before_layer) for layer in weighted_layers(network)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
