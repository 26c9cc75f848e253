"""CLI subcommands for this package (wired into ``hwnas`` by hwnas/cli.py). Heavy imports stay inside the
command functions so that ``hwnas --help`` stays fast."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add this package's subcommands to the top-level parser."""
