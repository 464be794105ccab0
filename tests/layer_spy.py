"""Test hooks that count the layers a real network runs (and act before a chosen one): how tests
see where inside a forward pass a job stopped, on any machine, without timing."""
from __future__ import annotations

import torch

from engine.models.forward_watch import weighted_layers


class LayerSpy:
    """Test hooks on every weighted layer of `network`: counts the layers started and finished (in
    every thread) and runs `at_layer(n)` before the n-th one starts."""

    def __init__(self, network: torch.nn.Module, at_layer=None):
        self.started = self.finished = 0
        self.at_layer = at_layer
        self.handles = []
        for layer in weighted_layers(network):
            self.handles.append(layer.register_forward_pre_hook(self.before))
            self.handles.append(layer.register_forward_hook(self.after))

    def before(self, _module, _inputs):
        self.started += 1
        if self.at_layer:
            self.at_layer(self.started)

    def after(self, _module, _inputs, _output):
        self.finished += 1

    def remove(self):
        for handle in self.handles:
            handle.remove()
