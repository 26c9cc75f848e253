"""Measuring latency: one protocol, backends behind a registry, and latency tables built from them."""

from . import fake_backend, ort_backend, torch_backend  # noqa: F401  (register the built-in backends)
from .base import Backend, MissingRuntimeError, Runner, create_backend, list_backends, register_backend
from .build import build_table, open_table
from .protocol import QUICK, LatencyStats, Protocol
from .table import LatencyTable, TableError, TableMismatchError

__all__ = [
    "QUICK", "Backend", "LatencyStats", "LatencyTable", "MissingRuntimeError", "Protocol", "Runner", "TableError",
    "TableMismatchError", "build_table", "create_backend", "list_backends", "open_table", "register_backend",
]
