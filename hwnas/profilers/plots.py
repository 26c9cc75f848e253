"""The latency-table heatmap (every candidate at every block position)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..figures import pyplot, save_png


def table_heatmap(table: Any, path: str | Path, *, title: str = "") -> Path:
    """Latency of every candidate at every block position of a table's space (ms), as a heatmap."""
    plt = pyplot()
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
    return save_png(fig, path)
