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
    }
    if y.size > 2:
        out["spearman"] = float(stats.spearmanr(y, p).statistic)
        out["kendall"] = float(stats.kendalltau(y, p).statistic)
    return out


def format_report(name: str, r: dict[str, float]) -> str:
    return (f"{name}: ±5% {r['within_5pct']:.1%}  ±10% {r['within_10pct']:.1%}  RMSE {r['rmse_ms']:.3f} ms  "
            f"MAPE {r['mape']:.1%}  bias {r['bias']:+.1%}  Spearman {r.get('spearman', float('nan')):.3f}  "
            f"(n={r['n']})")
