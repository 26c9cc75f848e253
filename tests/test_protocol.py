from __future__ import annotations

import numpy as np
import pytest

from hwnas.profilers import LatencyStats, Protocol
from hwnas.profilers.protocol import iqr_trim


def test_statistics_on_known_samples():
    st = LatencyStats.from_samples([1.0, 2.0, 3.0, 4.0, 5.0], trim=False)
    assert st.median_ms == 3.0 and st.mean_ms == 3.0 and st.min_ms == 1.0
    assert st.std_ms == pytest.approx(np.std([1, 2, 3, 4, 5], ddof=1))
    assert st.p90_ms == pytest.approx(4.6)
    assert st.n == st.n_raw == 5


def test_iqr_trimming_drops_outliers_but_keeps_min_of_raw():
    samples = [1.0, 1.1, 0.9, 1.0, 1.05, 0.95, 1.0, 30.0]
    st = LatencyStats.from_samples(samples)
    assert st.n == 7 and st.n_raw == 8
    assert st.mean_ms == pytest.approx(1.0, abs=0.01)
    assert st.p90_ms < 2
    assert len(iqr_trim(np.array([5.0, 5.0, 5.0, 5.0]))) == 4  # zero spread keeps everything


def test_bad_samples_are_refused():
    with pytest.raises(ValueError, match="no latency samples"):
        LatencyStats.from_samples([])
    with pytest.raises(ValueError, match="finite"):
        LatencyStats.from_samples([1.0, float("nan")])


def test_protocol_warms_up_then_repeats():
    calls = []

    def once():
        calls.append(1)
        return 10.0 if len(calls) <= 4 else 1.0  # slow first runs, as caches warm

    st = Protocol(warmup=4, warmup_s=0.0, repeats=20, min_time_s=0.0).run(once)
    assert len(calls) == 24 and st.n_raw == 20 and st.median_ms == 1.0 and st.min_ms == 1.0


def test_protocol_time_budget_extends_repeats():
    n = []
    Protocol(warmup=0, warmup_s=0.0, repeats=3, min_time_s=0.02, max_repeats=10_000).run(lambda: n.append(1) or 1.0)
    assert len(n) > 3


def test_protocol_validates():
    with pytest.raises(ValueError):
        Protocol(repeats=0)


# ---- interleaved rounds on a CPU with slow spells ------------------------------------------------------------
class _SpellRunner:
    def __init__(self, backend, base_ms):
        self.backend, self.base_ms = backend, base_ms

    def __call__(self):
        b = self.backend
        b.calls += 1
        b.order.append(self.base_ms)
        return self.base_ms * (1.4 if b.calls % 150 < 40 else 1.0)  # 40 of every 150 runs are 40% slower

    def close(self):
        pass


def _spell_backend(protocol):
    from hwnas.profilers.base import Backend

    class SpellBackend(Backend):
        name = "spells"

        def prepare(self, module, input_shape):
            return _SpellRunner(self, module.base_ms)

    b = SpellBackend(protocol=protocol)
    b.calls, b.order = 0, []
    return b


def _jobs(n):
    from torch import nn

    def job(i):
        m = nn.Identity()
        m.base_ms = 1.0 + i / 10
        return m, (1, 1)

    return [lambda i=i: job(i) for i in range(n)]


def test_interleaved_rounds_with_min_statistic_repeat_on_a_cpu_with_slow_spells():
    quick = dict(warmup=3, warmup_s=0.0, repeats=5, min_time_s=0.0)
    single = _spell_backend(Protocol(**quick))
    got1 = {i: st.min_ms for i, st, _ in single.measure_many(_jobs(20))}
    rounds = _spell_backend(Protocol(**quick, rounds=3, statistic="min"))
    out = list(rounds.measure_many(_jobs(20), chunk=16))
    assert [i for i, _, _ in out] == list(range(20))
    assert all(st.n_raw == 15 for _, st, _ in out)  # 3 passes x 5 timed runs, pooled
    assert rounds.order[:8] == [1.0] * 8 and rounds.order[8:16] == [1.1] * 8  # chunk prepared, then item by item
    truth = {i: 1.0 + i / 10 for i in range(20)}
    assert all(st.min_ms == pytest.approx(truth[i]) for i, st, _ in out)  # every item had a clear pass
    assert sum(got1[i] > 1.1 * truth[i] for i in truth) >= 3  # one pass: items inside a spell read 40% slow


def test_rounds_and_statistic_are_validated_and_recorded():
    with pytest.raises(ValueError, match="rounds"):
        Protocol(rounds=0)
    with pytest.raises(ValueError, match="statistic"):
        Protocol(statistic="mean")
    assert "rounds" not in Protocol().to_dict()  # tables written before rounds existed still resume
    d = Protocol(rounds=3, statistic="min").to_dict()
    assert d["rounds"] == 3 and Protocol.from_dict(d).column == "min_ms"


def test_min_statistic_table_and_dataset_read_their_headline(tmp_path, tiny):
    from hwnas.predictors import ArchDataset
    from hwnas.predictors.archs import measure_archs
    from hwnas.profilers import LatencyTable, build_table, create_backend

    b = create_backend("fake", noise=0.2, protocol=Protocol(warmup=1, warmup_s=0.0, repeats=4, min_time_s=0.0, rounds=2,
                                                            statistic="min"))
    t = build_table(tiny, b, tmp_path / "t.csv", progress=False)
    t = LatencyTable.load(tmp_path / "t.csv")
    k = t.keys()[3]
    assert t.headline == "min_ms" and t.latency_ms(k) == t.stats(k)["min_ms"] != t.stats(k)["median_ms"]
    ds = measure_archs(tiny, b, tmp_path / "a.csv", n=4, seed=0, progress=False)
    ds = ArchDataset.load(tmp_path / "a.csv")
    assert list(ds.latencies()) == list(ds.rows["min_ms"]) and (ds.rows["n_raw"] == 8).all()
