"""What it costs to profile a device, and how repeatable the table is.

Builds the full ``proxyless-mobile`` table on ONNX Runtime (1 thread) twice, each in its own process, and
reports the number of entries, the wall time of each build, and the median relative difference of the
entries between the two builds. Goals (issue 2): the table in under 2 minutes, repeatability within 3%.

    python benchmarks/profile_cost.py [--space proxyless-mobile] [--backend onnxruntime] [--threads 1]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, write_result  # noqa: E402

from hwnas.profilers import LatencyTable  # noqa: E402


def build(space: str, backend: str, threads: int, out: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "hwnas", "profile", "--space", space, "--backend", backend,
                    "--threads", str(threads), "--quiet", "-o", str(out)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def rel_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a - b) / ((a + b) / 2)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--space", default="proxyless-mobile")
    p.add_argument("--backend", default="onnxruntime")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp) / f"build{i}.csv" for i in (1, 2)]
        walls = [build(a.space, a.backend, a.threads, path) for path in paths]
        t1, t2 = (LatencyTable.load(path) for path in paths)
    keys = t1.keys()
    assert set(keys) == set(t2.keys())
    res = {}
    for col in ("median_ms", "min_ms"):
        x = np.array([t1.latency_ms(k, col) for k in keys])
        y = np.array([t2.latency_ms(k, col) for k in keys])
        d = rel_diff(x, y)
        # the same entries after removing the whole-table speed difference between the two processes
        scale = np.median(y / x)
        dn = rel_diff(x * scale, y)
        res[col] = {"median_rel_diff": float(np.median(d)), "p90_rel_diff": float(np.percentile(d, 90)),
                    "share_within_3pct": float(np.mean(d <= 0.03)), "speed_ratio_build2_over_build1": float(scale),
                    "median_rel_diff_speed_normalised": float(np.median(dn))}
    result = {"space": a.space, "backend": a.backend, "threads": a.threads, "entries": len(keys),
              "build_wall_s": walls, "goal_wall_s": 120, "goal_median_rel_diff": 0.03, "statistics": res}
    path = write_result(f"profile_cost_{a.space}_{a.backend}", result)
    rows = [["entries", len(keys), "", ""],
            ["build 1 wall time (s)", walls[0], 120, walls[0] / 120],
            ["build 2 wall time (s)", walls[1], 120, walls[1] / 120]]
    for col, r in res.items():
        rows.append([f"repeatability, {col}: median |rel diff|", r["median_rel_diff"], 0.03,
                     r["median_rel_diff"] / 0.03])
        rows.append([f"  p90 |rel diff| ({col})", r["p90_rel_diff"], "", ""])
        rows.append([f"  after whole-table speed ratio {r['speed_ratio_build2_over_build1']:.3f}",
                     r["median_rel_diff_speed_normalised"], "", ""])
    print(f"{a.space} on {a.backend}, {a.threads} thread(s)")
    print(markdown_table(["measure", "value", "goal", "value/goal"], rows))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
