"""A multi-trial study's front, written as ``hwnas pareto`` writes its own: ``points.csv`` (one row per complete
trial, the same columns: method, target, architecture, accuracy, predicted latency), ``summary.csv`` (hypervolume
per method), ``pareto_front.json`` and ``pareto.png``, so that the fronts of both kinds of search land on one plot
(``compare``: the ``points.csv`` of a ``hwnas pareto`` run, drawn on the same axes).

The latency axis is the latency model's prediction (``predicted_ms``): a multi-trial search prices every sampled
network with the latency model, as the one-shot search does, and ``hwnas pareto``'s points carry it too."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ..errors import UsageError
from ..io import atomic_write, atomic_write_json, make_dirs
from ..multitrial.runner import StudyResult
from .figures import pareto_plot
from .fronts import pareto_mask, summarise

LATENCY = "predicted_ms"


def read_compare(path: str | Path) -> pd.DataFrame:
    """The ``points.csv`` of another run to draw with the study's (read before any trial runs: a bad one costs
    nothing)."""
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise UsageError(f"--compare {path}: no such file") from None
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise UsageError(f"--compare {path} is not a readable points.csv ({str(exc).splitlines()[0]})") from None
    need = ("method", "accuracy", LATENCY)
    if any(c not in frame for c in need):
        raise UsageError(f"--compare {path} is not a points.csv of hwnas pareto or multitrial (needs columns "
                         f"{', '.join(need)})")
    return frame


def write_study_front(result: StudyResult, out: str | Path, *, num_classes: int, target_ms: float | None = None,
                      title: str = "", compare: str | Path | None = None) -> dict[str, Path]:
    """Write the study's points, summary, front and figure into ``out``; returns the files."""
    out = make_dirs(out)
    points = result.points
    if compare is not None:
        other = read_compare(compare)
        points_all = pd.concat([other, points], ignore_index=True)
    else:
        points_all = points
    feasible = points if target_ms is None else points[points[LATENCY] <= target_ms]
    chance = 1.0 / num_classes
    ref = float(points_all[LATENCY].max()) * 1.05 if len(points_all) else math.nan
    summary = summarise(points_all, lat_col=LATENCY, ref_latency_ms=ref, ref_accuracy=chance) if len(points_all) \
        else pd.DataFrame(columns=["method", "points", "front", "hypervolume", "best_accuracy", "fastest_ms"])
    front = feasible[pareto_mask(feasible[LATENCY], feasible["accuracy"])].sort_values(LATENCY) if len(feasible) \
        else feasible
    files = {"points": out / "points.csv", "summary": out / "summary.csv", "front": out / "pareto_front.json",
             "pareto": out / "pareto.png"}
    atomic_write(files["points"], lambda fh: points.to_csv(fh, index=False))
    atomic_write(files["summary"], lambda fh: summary.to_csv(fh, index=False))
    hv = dict(zip(summary["method"], summary["hypervolume"], strict=True))
    atomic_write_json(files["front"], {
        "study": result.study_name, "latency": f"{LATENCY} (the latency model's prediction)",
        "target_ms": target_ms, "reference_point": {"latency_ms": ref, "accuracy": chance},
        "hypervolume": hv, "trials": result.states, "pruning": result.pruning, "ran_here": result.ran_here,
        "front": [{"trial": int(r.trial), "arch": r.arch, "accuracy": float(r.accuracy),
                   LATENCY: float(getattr(r, LATENCY))} for r in front.itertuples()]})
    if len(points_all):
        pareto_plot(points_all, files["pareto"], lat_col=LATENCY, targets_ms=[target_ms] if target_ms else (),
                    lat_label="predicted latency (ms, the latency model)",
                    title=title or "accuracy vs predicted latency")
    else:
        files.pop("pareto")
    return files
