"""What a search step costs: peak memory and step time of each binary mode against a plain child network.

Space ``proxyless-cifar`` (32 px, width 0.5), batch 32, CPU, 1 thread. Two candidate sets per block:
6 = kernels {3,5,7} x expands {3,6} (the ProxylessNAS set), 12 = kernels {3,5,7,9} x expands {3,6}; ``zero``
is added where a block allows it (7 / 13 choices there). Every configuration runs in its own fresh process:

- ``child``    a plain training step (forward, backward, SGD) of one sampled child network (build_model);
- ``weight``   the supernet's weight step: the same child as the single active path of the supernet;
- ``index`` / ``uniform``  a weight step on the path the registered mixed op draws: ``Index`` (SPOS: uniform
  single path) and ``BinGateUniform`` (ModularNAS: binary gates, weight paths drawn uniformly); a new path each
  step, so its median is over random children, not the child above;
- ``full`` / ``two`` / ``full_v2``  the supernet's architecture step in that binary mode (forward with gates,
  backward to α and the gates, Adam on α), with the same child as the active path;
- ``darts``    a DARTS-style step: softmax(α)-weighted sum of all candidates, backward to weights and α;
- ``gdas`` / ``snas``  an architecture step through a hard (one path) / soft (every candidate) Gumbel-softmax sum;
- ``reinforce``  the scoring of 4 sampled paths in a REINFORCE / ENAS step (forward only);
- ``sandwich``   a weight step of the sandwich rule (largest, smallest and 2 random paths: SPOS / Once-for-All).

Peak memory = the process's peak RSS (``ru_maxrss``) during the timed steps minus its RSS just before the
first step (model, optimiser and batch already allocated): the memory the step itself needs. Step time = median
of the timed steps. Each configuration runs twice (the list forwards, then backwards) and keeps the lower
median and peak, to damp the drift of this shared machine; ``darts`` (8x the child's step time: a reference,
not a goal) runs ``--darts-rounds`` times (default 1), a fifth of the benchmark's time saved. Goal (issue 4):
``two`` and ``full_v2`` within 1.3x the child's memory and 1.5x its step time, flat from 6 to 12 candidates.

    python benchmarks/search_cost.py [--batch 32] [--steps 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, step_fns, write_result  # noqa: E402

CANDIDATES = {6: {"kernels": (3, 5, 7), "expands": (3, 6)}, 12: {"kernels": (3, 5, 7, 9), "expands": (3, 6)}}
MODES = ("child", "weight", "index", "uniform", "two", "full_v2", "full", "gdas", "snas", "reinforce", "sandwich",
         "darts")


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def worker(mode: str, n_cand: int, batch: int, steps: int, threads: int) -> dict:
    import resource

    import torch

    from hwnas.space import get_space

    torch.set_num_threads(threads)
    space = get_space("proxyless-cifar", **CANDIDATES[n_cand])
    child_arch = get_space("proxyless-cifar", **CANDIDATES[6]).sample(0)  # in both candidate sets
    x = torch.randn(batch, 3, 32, 32)
    y = torch.randint(10, (batch,))
    gen = torch.Generator().manual_seed(0)
    net, step = step_fns(mode, space, child_arch, x, y, gen)

    params = sum(p.numel() for p in net.parameters())
    base = _rss_mb()
    times = []
    for i in range(steps + 1):
        t0 = time.perf_counter()
        step()
        if i:  # the first step allocates optimiser state; it counts for memory, not time
            times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times.sort()
    return {"mode": mode, "candidates": n_cand, "params_m": params / 1e6, "peak_mb": peak - base,
            "step_s": times[len(times) // 2]}


def run_one(mode: str, n_cand: int, a: argparse.Namespace) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", mode, str(n_cand), "--batch", str(a.batch),
                          "--steps", str(a.steps), "--threads", str(a.threads)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--darts-rounds", type=int, default=1, help="rounds of the DARTS reference (~50 s each)")
    p.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker[0], int(a.worker[1]), a.batch, a.steps, a.threads)))
        return
    t0 = time.perf_counter()
    configs = [(m, n) for n in CANDIDATES for m in MODES]
    best: dict[tuple[str, int], dict] = {}
    for r in range(a.rounds):
        for m, n in (configs if r % 2 == 0 else configs[::-1]):
            if m == "darts" and r >= a.darts_rounds:
                continue
            res = run_one(m, n, a)
            print(f"  round {r + 1}: {m:8s} {n:2d} candidates  peak +{res['peak_mb']:7.1f} MB  "
                  f"step {res['step_s'] * 1000:7.1f} ms", flush=True)
            old = best.get((m, n))
            if old is None:
                best[(m, n)] = res
            else:
                old["peak_mb"], old["step_s"] = min(old["peak_mb"], res["peak_mb"]), min(old["step_s"], res["step_s"])
    rows, records = [], []
    for m, n in configs:
        r, c = best[(m, n)], best[("child", n)]
        mem, tim = r["peak_mb"] / c["peak_mb"], r["step_s"] / c["step_s"]
        amort = ((c["step_s"] + r["step_s"] / 5) / c["step_s"] if m in ("two", "full_v2", "full", "gdas", "snas", "reinforce")
                 else float("nan"))
        goal = "yes" if m in ("two", "full_v2") and mem <= 1.3 and tim <= 1.5 else ("no" if m in ("two", "full_v2")
                                                                                     else "")
        rows.append([m, n, r["params_m"], r["peak_mb"], mem, r["step_s"] * 1000, tim, amort, goal])
        records.append({**r, "memory_vs_child": mem, "time_vs_child": tim, "per_batch_vs_child_every5": amort})
    header = ["step", "candidates", "params (M)", "peak +MB", "memory / child", "step (ms)", "time / child",
              "per batch / child (arch step every 5)", "goal met (1.3x mem, 1.5x time)"]
    table = markdown_table(header, rows)
    wall = time.perf_counter() - t0
    path = write_result("search_cost", {"space": "proxyless-cifar", "batch": a.batch, "threads": a.threads,
                                        "steps": a.steps, "rounds": a.rounds,
                                        "darts_rounds": min(a.rounds, a.darts_rounds),
                                        "candidates": {
                                            str(k): v for k, v in CANDIDATES.items()}, "results": records,
                                        "wall_s": wall})
    print(f"proxyless-cifar, batch {a.batch}, {a.threads} thread(s); 12 candidates = kernels 3,5,7,9 x expands 3,6")
    print(table)
    print(f"wrote {path} ({wall:.0f} s)")


if __name__ == "__main__":
    main()
