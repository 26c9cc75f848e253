"""Does the search's front dominate the baselines' at equal evaluation budget? Runs the full demo (or reads a demo
folder it already wrote) and records each method's hypervolume and the search/random and search/evolution ratios.

    python benchmarks/pareto_front.py [-o hwnas-demo]     # runs `hwnas demo` into the folder (resumes it)
    python benchmarks/pareto_front.py --from hwnas-demo   # only reads a finished demo folder
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, write_result  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-o", "--output", default="hwnas-demo")
    p.add_argument("--from", dest="source", help="read this finished demo folder instead of running the demo")
    p.add_argument("--quick", action="store_true", help="the reduced demo (tiny space, synthetic data)")
    p.add_argument("--wall-s", type=float, help="with --from: the demo's wall time as measured when it ran")
    a = p.parse_args()
    folder = Path(a.source or a.output)
    wall = a.wall_s
    if a.source is None:
        from hwnas.pareto.demo import run_demo

        t0 = time.perf_counter()
        run_demo(folder, quick=a.quick)
        wall = time.perf_counter() - t0
    points = pd.read_csv(folder / "pareto" / "points.csv")
    summary = pd.read_csv(folder / "pareto" / "summary.csv")
    hv = summary.set_index("method")["hypervolume"]
    ratios = {f"search/{m}": float(hv["proxylessnas"] / hv[m]) for m in ("random", "evolution (OFA-style)", "largest (most MACs)")
              if m in hv and hv[m] > 0}
    searched = points[points["method"] == "proxylessnas"]
    record = {"folder": str(folder), "demo_wall_s": wall, "summary": summary.to_dict("records"),
              "hypervolume_ratios": ratios,
              "search_vs_target": searched[["target_ms", "predicted_ms", "measured_ms", "vs_target"]].to_dict("records"),
              "points": points.to_dict("records"),
              "goal": "hypervolume ratio search/random >= 1 at equal evaluation budget; demo < 15 min"}
    flat = folder / "pareto" / "flatness.json"
    if flat.exists():
        import json

        record["flatness"] = json.loads(flat.read_text())
    cfg = folder / "pareto" / "pareto_config.json"
    if cfg.exists():
        import json

        record["data"] = json.loads(cfg.read_text()).get("data")
    path = write_result("pareto_front" + ("_quick" if a.quick else ""), record)
    print(markdown_table(["method", "points", "front", "hypervolume", "best accuracy", "fastest (ms)"],
                         [[r.method, r.points, r.front, f"{r.hypervolume:.4f}", f"{r.best_accuracy:.3f}",
                           f"{r.fastest_ms:.3f}"] for r in summary.itertuples()]))
    print(", ".join(f"{k} = {v:.3f}" for k, v in ratios.items()))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
