"""Extra ``hwnas table ...`` subcommands that live beside the profilers (wired in by hwnas/cli.py)."""

from __future__ import annotations

import argparse


def register_table(table_sub: argparse._SubParsersAction) -> None:
    """Add subcommands under ``hwnas table``."""
