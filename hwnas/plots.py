"""Matplotlib figures. Each takes plain data and a path, renders with the Agg backend and writes a PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | Path) -> Path:
    from .io import atomic_write

    path = Path(path)
    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=120, bbox_inches="tight"), mode="wb")
    _pyplot().close(fig)
    return path


def predicted_vs_measured(measured_ms: Any, predicted_ms: Any, path: str | Path, *, title: str = "",
                          device: str = "") -> Path:
    """Scatter of predicted against measured latency with the identity line and a ±10% band."""
    plt = _pyplot()
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
    return _save(fig, path)
