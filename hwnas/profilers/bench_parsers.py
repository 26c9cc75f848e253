"""Parsers for the output of each runtime's own benchmark binary, one per tool.

Formats, as the tools print them (checked against their sources and published logs):

``onnxruntime_perf_test`` (times in the unit printed after each value; ``total`` appears in newer builds)::

    Session creation time cost: 0.217932 s
    First inference time cost: 196 ms
    Total inference time cost: 0.49481 s
    Total inference requests: 5
    Average inference time cost total: 98.961997 ms
    ...
    Min Latency: 0.0958204 s
    Max Latency: 0.101519 s
    P50 Latency: 0.0995086 s
    P90 Latency: 0.101519 s

TFLite ``benchmark_model`` (microseconds; the last ``count=`` line is the timed run, earlier ones the warm-up;
``p5/median/p95`` only in newer builds)::

    INFO: count=50 first=1249964 curr=1240143 min=1238588 max=1252566 avg=1.24027e+06 std=2565 p5=1238753 median=1239807 p95=1247415
    INFO: Inference timings in us: Init: 5579, First inference: 1357602, Warmup (avg): 1.3576e+06, Inference (avg): 1.24027e+06

ExecuTorch ``executor_runner`` (only the total over ``--num_executions``)::

    I 00:00:00.052300 executorch:executor_runner.cpp:283] Model executed successfully 20 time(s) in 53.260000 ms.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import UsageError
from .protocol import LatencyStats

_NUM = r"([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)"
_UNIT_MS = {"s": 1e3, "ms": 1.0, "us": 1e-3, "µs": 1e-3, "ns": 1e-6}


class BenchParseError(ValueError):
    """The benchmark binary's output has no timing we can read (it failed, or it is another tool)."""


@dataclass(frozen=True)
class BenchResult:
    """What one run of a benchmark binary reported, in milliseconds; ``None`` where the tool does not say."""

    tool: str
    runs: int
    mean_ms: float
    median_ms: float | None = None
    p90_ms: float | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    std_ms: float | None = None
    first_ms: float | None = None

    @property
    def headline_ms(self) -> float:
        return self.median_ms if self.median_ms is not None else self.mean_ms


def _tail(text: str, n: int = 8) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return "\n    ".join(lines[-n:]) or "(no output)"


def _find(pattern: str, text: str) -> re.Match | None:
    hits = list(re.finditer(pattern, text, flags=re.MULTILINE))
    return hits[-1] if hits else None


def parse_onnxruntime_perf_test(text: str) -> BenchResult:
    avg = _find(r"Average inference time cost(?: total)?:\s*" + _NUM + r"\s*(s|ms|us)\b", text)
    if avg is None:
        raise BenchParseError("no 'Average inference time cost' line in onnxruntime_perf_test output:\n    "
                              + _tail(text))
    runs = _find(r"Total inference requests:\s*(\d+)", text) or _find(r"^Runs:\s*(\d+)", text)

    def lat(name: str) -> float | None:
        m = _find(name + r" Latency:\s*" + _NUM + r"\s*(s|ms|us)\b", text)
        return float(m.group(1)) * _UNIT_MS[m.group(2)] if m else None

    first = _find(r"First inference time cost:\s*" + _NUM + r"\s*(s|ms|us)\b", text)
    return BenchResult(tool="onnxruntime_perf_test", runs=int(runs.group(1)) if runs else 1,
                       mean_ms=float(avg.group(1)) * _UNIT_MS[avg.group(2)], median_ms=lat("P50"),
                       p90_ms=lat("P90"), min_ms=lat("Min"), max_ms=lat("Max"),
                       first_ms=float(first.group(1)) * _UNIT_MS[first.group(2)] if first else None)


def parse_tflite_benchmark_model(text: str) -> BenchResult:
    lines = [ln for ln in text.splitlines() if re.search(r"\bcount=\d+.*\bavg=", ln)]
    if lines:
        fields = dict(re.findall(r"\b(\w+)=" + _NUM, lines[-1]))
        us = {k: float(v) * 1e-3 for k, v in fields.items() if k != "count"}
        return BenchResult(tool="benchmark_model", runs=int(float(fields["count"])), mean_ms=us["avg"],
                           median_ms=us.get("median"), min_ms=us.get("min"), max_ms=us.get("max"),
                           std_ms=us.get("std"), first_ms=us.get("first"))
    avg = _find(r"Inference \(avg\):\s*" + _NUM, text)
    if avg is None:
        raise BenchParseError("no 'count=... avg=...' or 'Inference (avg)' line in benchmark_model output:\n    "
                              + _tail(text))
    return BenchResult(tool="benchmark_model", runs=1, mean_ms=float(avg.group(1)) * 1e-3)


def parse_executor_runner(text: str) -> BenchResult:
    m = _find(r"Model executed successfully\s+(\d+)\s+time\(s\) in\s+" + _NUM + r"\s*ms", text)
    if m is None:
        hint = (" (this executor_runner prints no timing: build a newer one with --num_executions)"
                if "Model executed successfully" in text else "")
        raise BenchParseError(f"no 'Model executed successfully N time(s) in X ms' line in executor_runner "
                              f"output{hint}:\n    " + _tail(text))
    n = int(m.group(1))
    if n < 1:
        raise BenchParseError("executor_runner reports 0 executions")
    return BenchResult(tool="executor_runner", runs=n, mean_ms=float(m.group(2)) / n)


PARSERS: dict[str, Callable[[str], BenchResult]] = {
    "onnxruntime": parse_onnxruntime_perf_test,
    "tflite": parse_tflite_benchmark_model,
    "executorch": parse_executor_runner,
}


def combine(results: Sequence[BenchResult]) -> LatencyStats:
    """Statistics from one or more invocations of a benchmark binary.

    One invocation keeps what the tool reported (its median, else its mean, as the headline; fields the tool
    does not print stay NaN rather than being made up). Several invocations are summarised like timed runs:
    each invocation's headline is one sample, IQR-trimmed, and the minimum is the smallest any reported."""
    if not results:
        raise UsageError("no benchmark results to combine")
    nan = math.nan

    def opt(v: float | None) -> float:
        return nan if v is None else float(v)

    if len(results) == 1:
        r = results[0]
        return LatencyStats(median_ms=r.headline_ms, mean_ms=r.mean_ms, std_ms=opt(r.std_ms), p90_ms=opt(r.p90_ms),
                            min_ms=opt(r.min_ms), n=r.runs, n_raw=r.runs)
    st = LatencyStats.from_samples([r.headline_ms for r in results])
    mins = [r.min_ms for r in results]
    if all(v is not None for v in mins):
        st = LatencyStats(**{**st.to_dict(), "min_ms": float(min(mins))})  # type: ignore[type-var]
    return st
