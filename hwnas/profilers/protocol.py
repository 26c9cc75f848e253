"""The measurement protocol every backend shares: warm-up, repeats, IQR trimming, robust statistics."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..errors import UsageError


@dataclass(frozen=True)
class LatencyStats:
    """Statistics of one measured latency, in milliseconds. ``median_ms`` is the headline value."""

    median_ms: float
    mean_ms: float
    std_ms: float
    p90_ms: float
    min_ms: float
    n: int
    n_raw: int

    @classmethod
    def from_samples(cls, samples_ms: Any, *, trim: bool = True) -> LatencyStats:
        raw = np.asarray(samples_ms, dtype=float)
        if raw.size == 0:
            raise UsageError("no latency samples to summarise")
        if not np.all(np.isfinite(raw)) or np.any(raw < 0):
            raise UsageError("latency samples must be finite and non-negative")
        kept = iqr_trim(raw) if trim else raw
        return cls(
            median_ms=float(np.median(kept)),
            mean_ms=float(np.mean(kept)),
            std_ms=float(np.std(kept, ddof=1)) if kept.size > 1 else 0.0,
            p90_ms=float(np.percentile(kept, 90)),
            min_ms=float(np.min(raw)),
            n=int(kept.size),
            n_raw=int(raw.size),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return (f"median {self.median_ms:.3f} ms  mean {self.mean_ms:.3f} ± {self.std_ms:.3f} ms  "
                f"p90 {self.p90_ms:.3f} ms  min {self.min_ms:.3f} ms  n={self.n}/{self.n_raw}")


STAT_COLUMNS = tuple(LatencyStats.__dataclass_fields__)
STATISTICS = {"median": "median_ms", "min": "min_ms"}


def headline_column(settings: dict[str, Any] | None) -> str:
    """The headline column of records measured under ``settings`` (a backend's settings with its protocol)."""
    stat = ((settings or {}).get("protocol") or {}).get("statistic", "median")
    return STATISTICS.get(stat, "median_ms")


def iqr_trim(samples: np.ndarray, k: float = 1.5) -> np.ndarray:
    """Drop samples outside [Q1 - k·IQR, Q3 + k·IQR] (Tukey fences); never returns an empty array."""
    if samples.size < 4:
        return samples
    q1, q3 = np.percentile(samples, [25, 75])
    lo, hi = q1 - k * (q3 - q1), q3 + k * (q3 - q1)
    kept = samples[(samples >= lo) & (samples <= hi)]
    return kept if kept.size else samples


@dataclass(frozen=True)
class Protocol:
    """How a runnable is timed.

    Warm-up runs ``warmup`` times and for at least ``warmup_s`` seconds; then timed runs repeat ``repeats``
    times, continuing until ``min_time_s`` has passed (at most ``max_repeats`` runs in all).

    ``rounds`` > 1 (tables and network sets, see :meth:`Backend.measure_many`): every item is timed that many
    times in interleaved passes over a chunk of items, seconds apart, and its samples are pooled.
    ``statistic`` names the headline figure that predictors and searches read: ``median`` (typical latency,
    the default) or ``min`` (the fastest run: on a shared or virtualised CPU, whose speed swings by ±15% for
    seconds at a time, the minimum over interleaved rounds is the figure that repeats; see ``DESIGN``/README).
    """

    warmup: int = 10
    warmup_s: float = 0.05
    repeats: int = 30
    min_time_s: float = 0.1
    max_repeats: int = 2000
    trim: bool = True
    rounds: int = 1
    statistic: str = "median"

    def __post_init__(self) -> None:
        if self.repeats < 1 or self.max_repeats < self.repeats or self.warmup < 0:
            raise UsageError("protocol needs repeats >= 1, max_repeats >= repeats and warmup >= 0")
        if self.rounds < 1:
            raise UsageError(f"protocol needs rounds >= 1, got {self.rounds}")
        if self.statistic not in STATISTICS:
            raise UsageError(f"unknown statistic {self.statistic!r}; choose one of {', '.join(STATISTICS)}")

    @property
    def column(self) -> str:
        """The statistics column holding this protocol's headline latency."""
        return STATISTICS[self.statistic]

    def run(self, once: Callable[[], float]) -> LatencyStats:
        """Time ``once`` (which runs the model one time and returns its elapsed milliseconds)."""
        return LatencyStats.from_samples(self.samples(once), trim=self.trim)

    def samples(self, once: Callable[[], float]) -> list[float]:
        start, i = time.perf_counter(), 0
        while i < self.warmup or time.perf_counter() - start < self.warmup_s:
            once()
            i += 1
            if i >= self.max_repeats:
                break
        out: list[float] = []
        start = time.perf_counter()
        while len(out) < self.repeats or (time.perf_counter() - start < self.min_time_s
                                          and len(out) < self.max_repeats):
            out.append(float(once()))
        return out

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("rounds", "statistic"):  # left out at their defaults: tables written before they existed still match
            if d[k] == Protocol.__dataclass_fields__[k].default:
                del d[k]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Protocol:
        return cls(**d)


def settle(once: Callable[[], float], *, chunk: int = 20, tol: float = 0.02, max_s: float = 10.0) -> int:
    """Warm a device up until its clocks settle: run ``once`` in chunks until the medians of two successive
    chunks agree within ``tol`` (relative), or ``max_s`` seconds have passed. Returns the runs spent.

    GPUs boost and throttle, and their first runs pay for lazy initialisation; a fixed warm-up count is either
    too short for a cold card or wasted on a warm one."""
    start, runs, prev = time.perf_counter(), 0, None
    while True:
        med = float(np.median([once() for _ in range(chunk)]))
        runs += chunk
        if prev is not None and abs(med - prev) <= tol * max(prev, 1e-9):
            return runs
        if time.perf_counter() - start >= max_s:
            return runs
        prev = med


QUICK = Protocol(warmup=3, warmup_s=0.0, repeats=5, min_time_s=0.0)

# What `hwnas profile`, `measure-archs`, `measure`, `pareto` and `demo` use by default, and what the benchmarks
# measure with: every item timed in 3 interleaved passes of 10 runs (after 3 warm-up runs, at least 0.1 s each), the
# fastest run the headline. On the 2-core reference VM two single medians of one network agreed within ±10% for
# only 32–56% of networks; this protocol put 100% of held-out networks within ±5% of a second measurement.
# `--fast` (the plain `Protocol()`) is the single pass with the median.
ROBUST = Protocol(warmup=3, repeats=10, rounds=3, statistic="min")
