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


_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def pareto_plot(points: Any, path: str | Path, *, targets_ms: Any = (), device: str = "", title: str = "",
                method_col: str = "method", lat_col: str = "measured_ms", acc_col: str = "accuracy") -> Path:
    """Accuracy against measured latency: every point, each method's front as a step line, targets as
    vertical lines."""
    from .pareto import front

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (method, g) in enumerate(points.groupby(method_col, sort=False)):
        color = f"C{i}"
        ax.scatter(g[lat_col], g[acc_col], marker=_MARKERS[i % len(_MARKERS)], color=color, s=30, alpha=0.75,
                   label=method)
        fl, fa = front(g[lat_col], g[acc_col])
        if len(fl):
            ax.step(fl, fa, where="post", color=color, lw=1.2, alpha=0.9)
    for t in targets_ms:
        ax.axvline(float(t), color="grey", ls="--", lw=0.8)
    ax.set_xlabel(f"measured latency (ms){' on ' + device if device else ''}")
    ax.set_ylabel("accuracy")
    ax.set_title(title or "accuracy–latency trade-off")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def alpha_evolution(probs: Any, path: str | Path, *, choice_labels: Any, blocks: Any = None, title: str = "") -> Path:
    """Architecture probabilities per block over epochs. ``probs[b]`` is an (epochs × choices) array for block
    ``b``; ``choice_labels[b]`` names its choices."""
    plt = _pyplot()
    blocks = list(range(len(probs))) if blocks is None else list(blocks)
    cols = min(6, len(blocks))
    rows = (len(blocks) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 1.9 * rows), sharex=True, sharey=True, squeeze=False)
    for ax, b in zip(axes.flat, blocks, strict=False):
        p = np.asarray(probs[b], dtype=float)
        for j in range(p.shape[1]):
            ax.plot(np.arange(p.shape[0]), p[:, j], lw=1.2, label=choice_labels[b][j])
        ax.set_title(f"block {b}", fontsize=8)
        ax.set_ylim(0, 1)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(blocks):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=min(7, len(labels)), fontsize=7)
    fig.supxlabel("epoch")
    fig.supylabel("probability")
    if title:
        fig.suptitle(title, y=1.02)
    return _save(fig, path)


def table_heatmap(table: Any, path: str | Path, *, title: str = "") -> Path:
    """Latency of every candidate at every block position of a table's space (ms), as a heatmap."""
    plt = _pyplot()
    space = table.space
    cands = space.candidates
    grid = np.full((space.num_blocks, len(cands)), np.nan)
    for pos in space.positions():
        for j, c in enumerate(cands):
            grid[pos.index, j] = table.latency_ms(pos.key(c))
    fig, ax = plt.subplots(figsize=(1 + 0.8 * len(cands), 0.3 * space.num_blocks + 1.2))
    im = ax.imshow(grid, aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(cands)), [c.token for c in cands])
    ax.set_yticks(range(space.num_blocks), [f"{p.index} ({p.in_hw}px {p.in_ch}->{p.out_ch})"
                                              for p in space.positions()], fontsize=7)
    ax.set_xlabel("candidate")
    ax.set_ylabel("block")
    fig.colorbar(im, ax=ax, label="latency (ms)")
    env = table.meta.get("environment", {})
    ax.set_title(title or f"{space.name}: {table.meta.get('settings', {}).get('backend')} on "
                          f"{env.get('device_model', '?')}", fontsize=9)
    return _save(fig, path)
