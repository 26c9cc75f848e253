"""Saving and loading predictors with joblib, together with their table's metadata and the hwnas version.

A ``.joblib`` file is a pickle; :func:`load_predictor` reads it with an allow-list unpickler
(:mod:`hwnas.predictors.safe_pickle`), so a crafted file is refused instead of running code, then checks the
envelope (format, kind, an object that predicts)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import joblib
from sklearn.base import BaseEstimator

from .. import __version__
from ..errors import HwnasError, InputNotFound
from ..io import atomic_write
from ..profilers.records import TableError
from .safe_pickle import UnsafePickleError, safe_load

FORMAT = "hwnas-predictor"


def save_predictor(predictor: Any, path: str | Path) -> None:
    """Write ``predictor`` with its table's metadata and the hwnas version (a joblib pickle), atomically."""
    payload = {"format": FORMAT, "hwnas": __version__, "kind": type(predictor).__name__,
               "table_meta": getattr(predictor, "table_meta_", None), "predictor": predictor}
    atomic_write(path, lambda fh: joblib.dump(payload, fh), mode="wb")


def _smoke_test(pred: Any, path: Path) -> None:
    """Predict one architecture of the predictor's space (and build its per-block costs): a file whose predictor
    was damaged or assembled by hand fails here, with its name, rather than as a traceback deep in a search."""
    import math

    from ..space.spaces import SearchSpace
    from .block_costs import BlockCosts

    space = getattr(pred, "space_", None) or getattr(getattr(pred, "base", None), "space_", None)
    try:
        if isinstance(space, SearchSpace):  # (a model space's architectures are checked where they are parsed)
            out = pred.predict([str(space.sample(0))])
            if len(out) != 1 or not math.isfinite(float(out[0])):
                raise ValueError(f"it predicted {out!r}")
        if callable(getattr(pred, "block_costs", None)):
            costs = pred.block_costs()
            if not isinstance(costs, BlockCosts) or (isinstance(space, SearchSpace)
                                                     and len(costs.costs) != space.num_blocks):
                raise ValueError("its per-block costs do not fit its space")
    except HwnasError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of a damaged object is the file's fault
        raise TableError(f"the predictor in {path} is damaged and cannot predict ({type(exc).__name__}: "
                         f"{str(exc)[:200]}); fit it again with 'hwnas predictor fit'") from None


def load_predictor(path: str | Path, *, expect_meta: dict[str, Any] | None = None, force: bool = False) -> Any:
    """Load a saved predictor. With ``expect_meta`` (a table's or dataset's metadata), refuse one fitted for
    another device or backend unless ``force``."""
    path = Path(path)
    if not path.exists():
        raise InputNotFound(f"predictor not found: {path}")
    if not path.is_file():
        raise TableError(f"predictor {path} is not a file")
    try:
        payload = safe_load(path)
    except UnsafePickleError:
        raise
    except HwnasError as exc:
        raise TableError(str(exc)) from None
    except MemoryError:
        raise TableError(f"predictor file {path} is corrupt (it asks for more memory than there is)") from None
    except Exception as exc:  # joblib/pickle raise many types on a damaged file
        raise TableError(f"predictor file {path} is corrupt or not a joblib file ({type(exc).__name__}: {exc})") \
            from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise TableError(f"{path} is not an hwnas predictor file (no {FORMAT!r} envelope)")
    pred = payload.get("predictor")
    if not isinstance(pred, BaseEstimator) or not callable(getattr(pred, "predict", None)) \
            or not type(pred).__module__.startswith("hwnas.predictors."):
        raise TableError(f"{path} is an hwnas predictor file without a predictor in it (found "
                         f"{type(pred).__name__}); save one with 'hwnas predictor fit'")
    from .estimators import TablePredictor

    if isinstance(pred, TablePredictor) and not (callable(getattr(getattr(pred, "space_", None), "to_dict", None))
                                                 and isinstance(getattr(pred, "table_meta_", None), dict)):
        raise TableError(f"{path}: the {type(pred).__name__} in it was never fitted (no space_ / table_meta_)")
    _smoke_test(pred, path)
    if payload.get("hwnas") != __version__:
        warnings.warn(f"{path} was saved by hwnas {payload.get('hwnas')}, this is hwnas {__version__}",
                      stacklevel=2)
    if expect_meta is not None and not force:
        checker = getattr(pred, "check_measurements", None)
        if checker is not None:
            checker(expect_meta)
    return pred
