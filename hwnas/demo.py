"""The end-to-end demo on embedded defaults: what ``make demo`` runs.

Today it covers the stages that exist: profile this machine into a latency table, then measure a few whole
networks and compare them with the table's LUT-sum. Predictors, search and Pareto plots join as they land.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .io import atomic_write_text
from .profilers import Protocol, build_table, create_backend
from .space import build_model, get_space


def run_demo(out: Path, *, quick: bool = False, n_archs: int = 8) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    if quick:
        space, backend, n_archs = get_space("tiny"), create_backend("onnxruntime", protocol=Protocol(
            warmup=2, warmup_s=0.0, repeats=5, min_time_s=0.0)), 3
    else:
        space, backend = get_space("proxyless-mobile"), create_backend("onnxruntime", threads=1)
    print(f"[1/2] profiling {space.name} ({len(space.layer_keys())} layers) with {backend.name}, "
          f"{backend.threads} thread(s)")
    table_path = out / f"{space.name}-{backend.name}.csv"
    table = build_table(space, backend, table_path)
    print(table.summary())

    print(f"[2/2] measuring {n_archs} random networks end to end and comparing with LUT-sum")
    rng = np.random.default_rng(0)
    shape = (1, space.in_channels, space.resolution, space.resolution)
    rows = []
    for _ in range(n_archs):
        arch = space.sample(rng)
        measured = backend.measure(build_model(arch, space), shape).median_ms
        lut = table.lut_sum_ms(arch, space)
        rows.append((str(arch), measured, lut, lut / measured - 1))
        print(f"  measured {measured:7.3f} ms  LUT-sum {lut:7.3f} ms  ({lut / measured - 1:+.1%})  {arch}")
    err = np.abs([r[3] for r in rows])
    lines = [
        "# hwnas demo report", "",
        f"Device: {table.meta['environment']['device_model']}; backend {backend.name}, "
        f"{backend.threads} thread(s).", "",
        "## Latency table", "", "```", table.summary(), "```", "",
        "## Whole networks: measured vs LUT-sum", "",
        "| architecture | measured median (ms) | LUT-sum (ms) | error |", "|---|---|---|---|",
        *[f"| `{a}` | {m:.3f} | {lut:.3f} | {e:+.1%} |" for a, m, lut, e in rows], "",
        f"LUT-sum within ±10% of the measured latency for {np.mean(err <= 0.10):.0%} of these networks "
        f"(mean |error| {err.mean():.1%}).", "",
        "Not yet in the demo: latency predictors, ProxylessNAS search and Pareto fronts (open issues).", "",
    ]
    report = out / "report.md"
    atomic_write_text(report, "\n".join(lines))
    print(f"report: {report.resolve()}")
    print("note: the demo runs profile -> table -> LUT-sum check; predictors, search and Pareto plots are not built yet.")
    return report
