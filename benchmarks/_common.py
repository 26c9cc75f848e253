"""Helpers shared by the benchmark scripts: result files with their environment."""

from __future__ import annotations

import datetime as _dt
import subprocess
from pathlib import Path
from typing import Any

from hwnas.io import atomic_write_json
from hwnas.profilers.environment import environment

RESULTS = Path(__file__).resolve().parent / "results"


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent).stdout.strip()
    except OSError:
        return "unknown"


def write_result(name: str, result: dict[str, Any]) -> Path:
    import onnxruntime

    path = RESULTS / f"{name}.json"
    env = {**environment(), "onnxruntime": onnxruntime.__version__, "commit": git_commit(),
           "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    atomic_write_json(path, {"benchmark": name, "environment": env, **result})
    return path


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    def fmt(v: Any) -> str:
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)
