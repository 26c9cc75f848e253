"""Helpers shared by the benchmark scripts: result files with their environment."""

from __future__ import annotations

import datetime as _dt
import os
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


def write_result(name: str, result: dict[str, Any], directory: str | Path | None = None) -> Path:
    """Write ``<directory>/<name>.json`` atomically, with the environment it was measured in.

    The directory is ``directory``, else ``$HWNAS_RESULTS_DIR`` (``run_all.py --quick`` sets it so that CI-sized
    runs never overwrite the full results), else ``benchmarks/results/``."""
    import onnxruntime

    path = Path(directory or os.environ.get("HWNAS_RESULTS_DIR") or RESULTS) / f"{name}.json"
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


def spread(values: list[float] | tuple[float, ...]) -> dict[str, Any]:
    """A figure over repeated runs: its median with the spread (min, max, quartiles, n) and the values.

    NaN values are dropped (reported in ``n_nan``); an empty list gives a NaN median."""
    import math
    import statistics

    vals = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    out: dict[str, Any] = {"n": len(vals), "values": vals}
    if len(vals) != len(values):
        out["n_nan"] = len(values) - len(vals)
    if not vals:
        return {**out, "median": float("nan"), "min": float("nan"), "max": float("nan")}
    q = statistics.quantiles(vals, n=4, method="inclusive") if len(vals) > 1 else [vals[0]] * 3
    return {**out, "median": float(statistics.median(vals)), "min": min(vals), "max": max(vals),
            "p25": float(q[0]), "p75": float(q[2])}


def robust_protocol():
    """The measurement the benchmarks use on this shared CPU: the minimum over 3 interleaved passes of 10 runs
    (one median of one pass repeats within ±10% for only a third to a half of networks here)."""
    from hwnas.profilers import Protocol

    return Protocol(warmup=3, repeats=10, rounds=3, statistic="min")


def measure_networks(backend, archs, space) -> list[float]:
    """Each network's headline latency (ms) under ``backend``'s protocol, in interleaved passes when it has
    rounds, so that a slow spell of the machine does not land on one tool's networks only."""
    from hwnas.predictors.archs import network_jobs

    out = [float("nan")] * len(archs)
    for i, stats, _ in backend.measure_many(network_jobs(archs, space)):
        out[i] = float(getattr(stats, backend.protocol.column))
    return out


def step_fns(mode: str, space, child_arch, x, y, gen, amp_dtype=None, channels_last: bool = False):
    """(network, step()) for one search-cost measurement (``benchmarks/search_cost.py`` on the CPU,
    ``benchmarks/gpu_check.py`` on CUDA with or without autocast): ``child`` trains the plain child network,
    ``weight`` its path inside the supernet, ``two``/``full``/``full_v2`` take an architecture step with binary gates
    (the common child forced as the active path), ``darts`` a DARTS step over every candidate (weights and α);
    ``gdas`` / ``snas`` an architecture step through a hard / soft Gumbel-softmax sum (``GumbelSum``);
    ``index`` / ``uniform`` a weight step on the single path that ``Index`` (SPOS) / ``BinGateUniform`` draws;
    ``reinforce`` a REINFORCE / ENAS step's scoring of 4 sampled paths (forward only); ``sandwich`` a weight step
    of the sandwich rule (largest, smallest and 2 random paths, each back-propagated). Every forward runs under
    the autocast of ``amp_dtype``, as hwnas's search runs its weight and architecture steps (α, the gates and the
    loss stay fp32)."""
    import torch
    import torch.nn.functional as F

    from hwnas.search.mixed import MIXED_OPS, GumbelSum, WeightedSum
    from hwnas.search.supernet import Supernet
    from hwnas.space import build_model
    from hwnas.train.training import seeded

    dev = x.device
    ac = (lambda: torch.autocast(dev.type, dtype=amp_dtype)) if amp_dtype is not None else None

    def fwd(net):
        if ac is None:
            return net(x).float()
        with ac():
            return net(x).float()

    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)

    def place(net):
        net = net.to(dev)
        return (net.to(memory_format=torch.channels_last) if channels_last else net).train()

    if mode == "child":
        net = place(seeded(lambda: build_model(child_arch, space), 0))
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

        def step():
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(fwd(net), y).backward()
            opt.step()
        return net, step
    net = place(seeded(lambda: Supernet(space), 0))
    darts_op = WeightedSum()
    gumbel_op = GumbelSum(hard=mode == "gdas")
    single_op = MIXED_OPS.create({"index": "Index", "uniform": "BinGateUniform"}.get(mode, "Index"), {})
    idx = [b.choices.index(c) for b, c in zip(net.blocks, child_arch.blocks, strict=True)]
    sizes = [b.n for b in net.blocks]
    largest = [max(range(len(b.choices)), key=lambda i, b=b: (b.choices[i].kernel, b.choices[i].expand))
               for b in net.blocks]
    smallest = [min(range(len(b.choices)), key=lambda i, b=b: (b.choices[i].kernel, b.choices[i].expand))
                for b in net.blocks]
    wopt = torch.optim.SGD(net.weight_parameters(), lr=0.01, momentum=0.9)
    aopt = torch.optim.Adam(net.arch_parameters(), lr=1e-3, betas=(0.0, 0.999))

    def step():
        if mode == "weight":
            net.set_indices(idx)
            wopt.zero_grad(set_to_none=True)
            F.cross_entropy(fwd(net), y).backward()
            wopt.step()
            return
        if mode in ("index", "uniform"):  # a weight step on a path the registered op draws (SPOS, BinGateUniform)
            net.set_mixed_op(single_op)
            single_op.weight_path(net, gen)
            wopt.zero_grad(set_to_none=True)
            F.cross_entropy(fwd(net), y).backward()
            wopt.step()
            return
        if mode in ("gdas", "snas"):
            net.set_mixed_op(gumbel_op)
            gumbel_op.arch_mode(net, gen)
            aopt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(fwd(net), y)
            torch.autograd.backward(loss, inputs=net.arch_parameters())
            aopt.step()
            net.set_mode(None)
            return
        if mode == "reinforce":
            with torch.no_grad():
                for _ in range(4):
                    net.set_indices([int(torch.randint(n, (1,), generator=gen)) for n in sizes])
                    fwd(net)
            return
        if mode == "sandwich":
            wopt.zero_grad(set_to_none=True)
            paths = [largest, smallest] + [[int(torch.randint(n, (1,), generator=gen)) for n in sizes]
                                           for _ in range(2)]
            for path in paths:
                net.set_indices(path)
                F.cross_entropy(fwd(net), y).backward()
            wopt.step()
            return
        if mode == "darts":
            net.set_mixed_op(darts_op)
            net.set_mode("sum")
            wopt.zero_grad(set_to_none=True)
            aopt.zero_grad(set_to_none=True)
            F.cross_entropy(fwd(net), y).backward()
            wopt.step()
            aopt.step()
            return
        if mode == "two":
            net.sample(gen, mode="two")
            for b, i in zip(net.blocks, idx, strict=True):
                other = next(j for j in b.involved if j != i) if i in b.involved else b.involved[1]
                b.set_active(i, "two", (i, other))
        else:
            net.set_indices(idx, mode)
        aopt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(fwd(net), y)
        torch.autograd.backward(loss, inputs=net.arch_parameters() + [b.gates for b in net.blocks])
        net.accumulate_alpha_grads()
        aopt.step()
        net.rescale()
        net.set_mode(None)
    return net, step
