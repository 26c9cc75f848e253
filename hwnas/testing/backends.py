"""What every profiler backend must do, as a pytest suite: subclass :class:`BackendConformance` and give it a
``backend`` fixture returning a fresh backend with a quick protocol::

    class TestMyBackend(BackendConformance):
        @pytest.fixture
        def backend(self):
            return create_backend("mine", protocol=QUICK)

A backend that passes can stand behind ``hwnas profile``, ``measure-archs`` and the search: its measurements are
finite and ordered, its settings say what makes them comparable and survive JSON, and it measures a list of jobs
in order (interleaved rounds included, where it times runs itself)."""

from __future__ import annotations

import json
import math

import pytest
from torch import nn

from ..errors import UsageError
from ..profilers.base import Backend, create_backend
from ..profilers.records import COMPARABLE_FIELDS
from ..space import build_layer, get_space


def _tiny_layers() -> list[nn.Module]:
    space = get_space("tiny")
    return [space.layer_keys()[i] for i in (0, 2, 3)]


class BackendConformance:
    @pytest.fixture
    def backend(self) -> Backend:  # pragma: no cover - supplied by the subclass
        raise NotImplementedError("subclass BackendConformance and define a `backend` fixture")

    def _check(self, stats) -> None:
        values = (stats.min_ms, stats.median_ms, stats.mean_ms, stats.p90_ms)
        assert all(math.isfinite(v) for v in values) and stats.min_ms > 0
        assert stats.min_ms <= stats.median_ms <= stats.p90_ms
        assert 1 <= stats.n <= stats.n_raw

    def test_measures_a_layer_with_finite_ordered_statistics(self, backend):
        key = _tiny_layers()[1]
        self._check(backend.measure_key(key))

    def test_a_bigger_layer_takes_longer(self, backend):
        # 64 px: 0.56 vs 5.6 MMACs, far enough apart that a runtime's fixed per-call cost and a shared machine's
        # noise cannot swap them (at 32 px the remote stand-in swapped them in 1 of 4 runs)
        space = get_space("tiny", resolution=64)
        keys = [k for k in space.layer_keys() if k.op == "expanded_conv"]
        small = min(keys, key=lambda k: k.macs())
        big = max(keys, key=lambda k: k.macs())
        # the least disturbed of 3 interleaved pairs: one pair's medians were swapped once in a CI run (2026-12-01)
        pairs = [(backend.measure_key(big).median_ms, backend.measure_key(small).median_ms) for _ in range(3)]
        assert min(b for b, _ in pairs) > min(s for _, s in pairs), pairs

    def test_settings_say_what_makes_measurements_comparable(self, backend):
        s = backend.settings()
        assert s["backend"] == backend.name
        assert all(f in s for f in COMPARABLE_FIELDS) and "protocol" in s
        assert json.loads(json.dumps(s)) == s  # stored in every table's metadata

    def test_environment_names_the_device(self, backend):
        env = backend.environment()
        assert isinstance(env.get("device_model"), str) and env["device_model"]
        json.dumps(env)

    def test_measure_many_yields_every_job_once_in_order(self, backend):
        jobs = [lambda k=k: (build_layer(k), k.input_shape) for k in _tiny_layers()]
        got = list(backend.measure_many(jobs))
        assert [i for i, _, _ in got] == [0, 1, 2]
        for _, stats, ref in got:
            self._check(stats)
            assert math.isnan(ref)  # no reference probe was asked for

    def test_interleaved_rounds_pool_their_samples(self, backend):
        if type(backend).measure is not Backend.measure:
            pytest.skip(f"the {backend.name} backend times runs with its own tool: no interleaved rounds")
        from dataclasses import replace

        backend.protocol = replace(backend.protocol, rounds=2)
        jobs = [lambda k=k: (build_layer(k), k.input_shape) for k in _tiny_layers()]
        got = list(backend.measure_many(jobs))
        assert [i for i, _, _ in got] == [0, 1, 2]
        assert all(stats.n_raw >= 2 * backend.protocol.repeats for _, stats, _ in got)

    def test_is_registered_and_refuses_unknown_options(self, backend):
        with pytest.raises(UsageError, match="no option"):
            create_backend(backend.name, frobnicate=1)
