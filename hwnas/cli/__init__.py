"""The ``hwnas`` command on top of the library (the stages never import it)."""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
