"""Accuracy of latency predictions: the nn-Meter ±10% metric and friends."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from ..errors import UsageError


def accuracy_report(measured_ms: Any, predicted_ms: Any) -> dict[str, float]:
    """Share within ±5% / ±10%, RMSE (ms), MAPE, mean signed error, Spearman and Kendall rank correlation."""
    y, p = np.asarray(measured_ms, dtype=float), np.asarray(predicted_ms, dtype=float)
    if y.shape != p.shape or y.size == 0:
        raise UsageError("measured and predicted latencies must be non-empty and of equal length")
    rel = (p - y) / y
    out = {
        "n": int(y.size),
        "within_5pct": float(np.mean(np.abs(rel) <= 0.05)),
        "within_10pct": float(np.mean(np.abs(rel) <= 0.10)),
        "rmse_ms": float(np.sqrt(np.mean((p - y) ** 2))),
        "mape": float(np.mean(np.abs(rel))),
        "bias": float(np.mean(rel)),
        "rel_std": float(np.std(rel)),
    }
    if y.size > 2:
        out["spearman"] = float(stats.spearmanr(y, p).statistic)
        out["kendall"] = float(stats.kendalltau(y, p).statistic)
    return out


def format_report(name: str, r: dict[str, float]) -> str:
    return (f"{name}: ±5% {r['within_5pct']:.1%}  ±10% {r['within_10pct']:.1%}  RMSE {r['rmse_ms']:.3f} ms  "
            f"MAPE {r['mape']:.1%}  bias {r['bias']:+.1%}  Spearman {r.get('spearman', float('nan')):.3f}  "
            f"(n={r['n']})")


def drift_note(r: dict[str, float]) -> str | None:
    """A line for a report whose networks are all off the same way (a bias of 3% or more, at least twice the
    spread of the errors around it), for a predictor fitted on measured networks, which errs both ways around
    them: most likely the machine's speed changed since its data were measured (another load, clock or power
    state; hours apart on a shared VM, 4-5% was seen). Not for a LUT sum, which is off one way by construction,
    nor for reference-normalised latencies: the caller decides. None otherwise."""
    if r["n"] < 5 or abs(r["bias"]) < 0.03 or r["rel_std"] > abs(r["bias"]) / 2:
        return None
    way = "faster" if r["bias"] > 0 else "slower"  # predicted over measured: these ran faster
    return (f"note: every network is off the same way (bias {r['bias']:+.1%}, spread {r['rel_std']:.1%}), "
            f"unlike a fitted predictor's errors: most likely these were measured on a machine running "
            f"{abs(r['bias']) / (1 + r['bias']):.1%} {way} than when the predictor's data were (another load, "
            "clock or power state); measure both with --reference (measure-archs), or both on a quiet machine in "
            "one sitting")
