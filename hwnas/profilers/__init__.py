"""Measuring latency: one protocol, backends behind a registry, and latency tables built from them."""

# importing the backend modules registers them; optional runtimes are imported only when a backend is created
from . import executorch_backend, fake_backend, ort_backend, remote_backend, torch_backend  # noqa: F401
from .base import (
    Backend,
    DeviceError,
    MissingRuntimeError,
    Runner,
    create_backend,
    list_backends,
    register_backend,
)
from .build import build_table, open_table
from .protocol import QUICK, ROBUST, LatencyStats, Protocol
from .table import LatencyTable, TableError, TableMismatchError

__all__ = [
    "QUICK", "ROBUST", "Backend", "DeviceError", "LatencyStats", "LatencyTable", "MissingRuntimeError", "Protocol", "Runner",
    "TableError", "TableMismatchError", "build_table", "create_backend", "list_backends", "open_table", "register_backend",
]
