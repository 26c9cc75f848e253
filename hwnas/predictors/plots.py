"""The predicted-against-measured figure of a predictor evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..figures import pyplot, save_png


def predicted_vs_measured(measured_ms: Any, predicted_ms: Any, path: str | Path, *, title: str = "",
                          device: str = "") -> Path:
    """Scatter of predicted against measured latency with the identity line and a ±10% band."""
    plt = pyplot()
    y, p = np.asarray(measured_ms, dtype=float), np.asarray(predicted_ms, dtype=float)
    lo, hi = 0.95 * min(y.min(), p.min()), 1.05 * max(y.max(), p.max())
    xs = np.linspace(lo, hi, 50)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.fill_between(xs, 0.9 * xs, 1.1 * xs, color="tab:green", alpha=0.15, label="±10%")
    ax.plot(xs, xs, color="tab:green", lw=1)
    inside = np.abs(p / y - 1) <= 0.10
    ax.scatter(y[inside], p[inside], s=12, color="tab:blue", label=f"within ±10% ({inside.mean():.0%})")
    ax.scatter(y[~inside], p[~inside], s=12, color="tab:red", label="outside")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel(f"measured latency (ms){' on ' + device if device else ''}")
    ax.set_ylabel("predicted latency (ms)")
    ax.set_title(title)
    ax.legend(loc="upper left")
    return save_png(fig, path)
