"""The Pareto stage's figures: accuracy against measured latency, and α over the epochs of a search."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..figures import pyplot, save_png
from .fronts import front

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def pareto_plot(points: Any, path: str | Path, *, targets_ms: Any = (), device: str = "", title: str = "",
                method_col: str = "method", lat_col: str = "measured_ms", acc_col: str = "accuracy",
                acc_err: float | None = None, lat_label: str = "measured latency (ms)") -> Path:
    """Accuracy against measured latency: every point, each method's front as a step line, targets as
    vertical lines; ``acc_err`` (the seed-to-seed standard deviation of accuracy) as ±1 error bars."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (method, g) in enumerate(points.groupby(method_col, sort=False)):
        color = f"C{i}"
        ax.scatter(g[lat_col], g[acc_col], marker=_MARKERS[i % len(_MARKERS)], color=color, s=30, alpha=0.75,
                   label=method)
        if acc_err is not None and acc_err == acc_err:
            ax.errorbar(g[lat_col], g[acc_col], yerr=acc_err, fmt="none", ecolor=color, elinewidth=0.8, capsize=2,
                        alpha=0.6)
        fl, fa = front(g[lat_col], g[acc_col])
        if len(fl):
            ax.step(fl, fa, where="post", color=color, lw=1.2, alpha=0.9)
    for t in targets_ms:
        ax.axvline(float(t), color="grey", ls="--", lw=0.8)
    ax.set_xlabel(f"{lat_label}{' on ' + device if device else ''}")
    ax.set_ylabel("accuracy")
    ax.set_title(title or "accuracy–latency trade-off")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return save_png(fig, path)


def alpha_evolution(probs: Any, path: str | Path, *, choice_labels: Any, blocks: Any = None, title: str = "") -> Path:
    """Architecture probabilities per block over epochs. ``probs[b]`` is an (epochs × choices) array for block
    ``b``; ``choice_labels[b]`` names its choices."""
    plt = pyplot()
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
    return save_png(fig, path)
