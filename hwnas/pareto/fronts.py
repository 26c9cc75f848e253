"""Accuracy–latency Pareto fronts and their hypervolume (lower latency and higher accuracy are better)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import UsageError


def pareto_mask(latency_ms: Any, accuracy: Any) -> np.ndarray:
    """True for points no other point dominates (another is at least as fast and as accurate, and strictly
    better in one)."""
    lat, acc = np.asarray(latency_ms, dtype=float), np.asarray(accuracy, dtype=float)
    if lat.shape != acc.shape:
        raise UsageError("latency and accuracy must have the same length")
    keep = np.ones(lat.size, dtype=bool)
    for i in range(lat.size):
        dominated = (lat <= lat[i]) & (acc >= acc[i]) & ((lat < lat[i]) | (acc > acc[i]))
        keep[i] = not dominated.any()
    return keep


def front(latency_ms: Any, accuracy: Any) -> tuple[np.ndarray, np.ndarray]:
    """The non-dominated points sorted by latency."""
    lat, acc = np.asarray(latency_ms, dtype=float), np.asarray(accuracy, dtype=float)
    m = pareto_mask(lat, acc)
    order = np.argsort(lat[m])
    return lat[m][order], acc[m][order]


def hypervolume(latency_ms: Any, accuracy: Any, *, ref_latency_ms: float, ref_accuracy: float = 0.0) -> float:
    """Area (ms × accuracy) dominated by the front and bounded by the reference point: points slower than
    ``ref_latency_ms`` or less accurate than ``ref_accuracy`` add nothing."""
    lat, acc = front(latency_ms, accuracy)
    inside = (lat <= ref_latency_ms) & (acc >= ref_accuracy)
    lat, acc = lat[inside], acc[inside]
    if lat.size == 0:
        return 0.0
    # a step function: between lat_i and lat_{i+1} the best accuracy reachable is max(acc[:i+1])
    edges = np.append(lat, ref_latency_ms)
    running = np.maximum.accumulate(acc)
    return float(np.sum(np.diff(edges) * (running - ref_accuracy)))


def summarise(points: pd.DataFrame, *, method_col: str = "method", lat_col: str = "measured_ms",
              acc_col: str = "accuracy", ref_latency_ms: float | None = None, ref_accuracy: float = 0.0
              ) -> pd.DataFrame:
    """Per method: number of points, front size, hypervolume (shared reference point), best accuracy."""
    ref = ref_latency_ms if ref_latency_ms is not None else float(points[lat_col].max()) * 1.05
    rows = []
    for method, g in points.groupby(method_col, sort=False):
        fl, fa = front(g[lat_col], g[acc_col])
        rows.append({"method": method, "points": len(g), "front": len(fl),
                     "hypervolume": hypervolume(g[lat_col], g[acc_col], ref_latency_ms=ref,
                                                ref_accuracy=ref_accuracy),
                     "best_accuracy": float(g[acc_col].max()), "fastest_ms": float(g[lat_col].min())})
    out = pd.DataFrame(rows)
    out.attrs["ref_latency_ms"], out.attrs["ref_accuracy"] = ref, ref_accuracy
    return out
