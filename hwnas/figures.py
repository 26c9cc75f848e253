"""Matplotlib with the Agg backend, and atomic PNG writes: what every stage's figures share."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig: Any, path: str | Path, *, dpi: int = 120) -> Path:
    """Write ``fig`` to ``path`` atomically and close it."""
    from .io import atomic_write

    path = Path(path)
    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=dpi, bbox_inches="tight"), mode="wb")
    pyplot().close(fig)
    return path
