"""A deterministic stand-in device: latency from the module's structure, no real timing.

It lets the whole pipeline (tables, predictors, search) run in tests in milliseconds, and it can model a
non-additive whole-network effect that isolated block measurements miss, like real devices do.
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

import numpy as np
import torch
from torch import nn

from .base import Backend, Runner, register_backend
from .protocol import QUICK


def structure(module: nn.Module, input_shape: tuple[int, ...]) -> tuple[float, float, int]:
    """(MACs, activation elements written by every leaf module, number of conv/linear layers)."""
    macs = act = 0.0
    layers = 0

    def hook(mod: nn.Module, inp, out) -> None:
        nonlocal macs, act, layers
        if not isinstance(out, torch.Tensor):  # e.g. an input choice of no input returns None
            return
        act += out.numel()
        if isinstance(mod, nn.Conv2d):
            layers += 1
            macs += mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups * out.numel()
        elif isinstance(mod, nn.Linear):
            layers += 1
            macs += mod.in_features * mod.out_features * out.shape[0]

    leaves = [m for m in module.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        with torch.no_grad():
            module.eval()(torch.zeros(input_shape))
    finally:
        for h in handles:
            h.remove()
    return macs, act, layers


class _FakeRunner(Runner):
    def __init__(self, latency_ms: float, noise: float, seed: int, delay_s: float):
        self.latency_ms, self.noise, self.delay_s = latency_ms, noise, delay_s
        self.rng = np.random.default_rng(seed)

    def __call__(self) -> float:
        if self.delay_s:
            time.sleep(self.delay_s)
        return self.latency_ms * (1.0 + self.noise * abs(self.rng.standard_normal()))


@register_backend("fake")
class FakeBackend(Backend):
    """latency = ms_per_mmac·MACs/1e6 + ms_per_melem·activations/1e6 + ms_per_layer·layers, then scaled by
    ``1 + nonadditive·log(layers)`` (so a network is slower than the sum of its blocks), plus noise."""

    def __init__(self, *, ms_per_mmac: float = 0.004, ms_per_melem: float = 0.5, ms_per_layer: float = 0.01,
                 nonadditive: float = 0.0, noise: float = 0.0, delay_s: float | None = None, **kw: Any):
        kw.setdefault("protocol", QUICK)
        super().__init__(**kw)
        self.ms_per_mmac, self.ms_per_melem, self.ms_per_layer = ms_per_mmac, ms_per_melem, ms_per_layer
        if delay_s is None:  # lets tests slow a CLI run down to interrupt it
            delay_s = float(os.environ.get("HWNAS_FAKE_DELAY_S", "0"))
        self.nonadditive, self.noise, self.delay_s = nonadditive, noise, delay_s

    def true_latency_ms(self, module: nn.Module, input_shape: tuple[int, ...]) -> float:
        macs, act, layers = structure(module, input_shape)
        base = self.ms_per_mmac * macs / 1e6 + self.ms_per_melem * act / 1e6 + self.ms_per_layer * layers
        return base * (1.0 + self.nonadditive * np.log(max(layers, 1)))

    def prepare(self, module: nn.Module, input_shape: tuple[int, ...]) -> Runner:
        lat = self.true_latency_ms(module, input_shape)
        seed = int(hashlib.sha1(f"{lat:.9f}{input_shape}".encode()).hexdigest()[:8], 16)
        return _FakeRunner(lat, self.noise, seed, self.delay_s)

    def extra_settings(self) -> dict[str, Any]:
        return {"ms_per_mmac": self.ms_per_mmac, "ms_per_melem": self.ms_per_melem,
                "ms_per_layer": self.ms_per_layer, "nonadditive": self.nonadditive, "noise": self.noise}

    def environment(self) -> dict[str, Any]:
        env = super().environment()
        env["device_model"] = "fake"
        return env
