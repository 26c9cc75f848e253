"""``hwnas pareto``: searches across latency targets, baselines at equal budget, fronts and figures."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``hwnas pareto`` (filled in by the Pareto issue)."""
