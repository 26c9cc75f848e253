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
