"""Saving and loading predictors with joblib, together with their table's metadata and the hwnas version."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import joblib

from .. import __version__
from ..errors import InputNotFound
from ..io import atomic_write
from ..profilers.records import TableError

FORMAT = "hwnas-predictor"


def save_predictor(predictor: Any, path: str | Path) -> None:
    """Write ``predictor`` with its table's metadata and the hwnas version (a joblib pickle), atomically."""
    payload = {"format": FORMAT, "hwnas": __version__, "kind": type(predictor).__name__,
               "table_meta": getattr(predictor, "table_meta_", None), "predictor": predictor}
    atomic_write(path, lambda fh: joblib.dump(payload, fh), mode="wb")


def load_predictor(path: str | Path, *, expect_meta: dict[str, Any] | None = None, force: bool = False) -> Any:
    """Load a saved predictor. With ``expect_meta`` (a table's or dataset's metadata), refuse one fitted for
    another device or backend unless ``force``."""
    path = Path(path)
    if not path.exists():
        raise InputNotFound(f"predictor not found: {path}")
    try:
        payload = joblib.load(path)
    except Exception as exc:  # joblib/pickle raise many types on a damaged file
        raise TableError(f"predictor file {path} is corrupt or not a joblib file ({type(exc).__name__}: {exc})") \
            from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise TableError(f"{path} is not an hwnas predictor file")
    if payload.get("hwnas") != __version__:
        warnings.warn(f"{path} was saved by hwnas {payload.get('hwnas')}, this is hwnas {__version__}",
                      stacklevel=2)
    pred = payload["predictor"]
    if expect_meta is not None and not force:
        checker = getattr(pred, "check_measurements", None)
        if checker is not None:
            checker(expect_meta)
    return pred
