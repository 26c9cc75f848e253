"""Distributed search on this CPU: 1 process against 2 (DistributedDataParallel, gloo), step time and samples/s.

Every configuration runs ``run_search`` (Proxyless-G, ``full_v2``, an architecture step after every 5 weight
steps) in fresh processes started the way torchrun starts them (``RANK``/``WORLD_SIZE``/``MASTER_*`` in the
environment), each with ``torch.set_num_threads(1)``, so one process uses one core and two processes two.
Step time = wall time of the timed epochs (the first epoch is not timed: allocator and gloo warm-up) divided by
their steps; it includes the architecture steps, synchronisation and rank 0's checkpoint after each epoch.

- ``1 proc``               one process, batch B (no DDP: the single-process code path);
- ``2 procs, B each``      weak scaling: global batch 2B; efficiency = samples/s / (2 x the 1-process samples/s);
- ``2 procs, B/2 each``    strong scaling: the 1-process global batch split in two; efficiency = speed-up / 2;
- ``... no sync BN``       per-rank BatchNorm statistics (``HWNAS_DIST_SYNC_BN=0``): no longer the one-process
                           result, but without one all-reduce per BatchNorm layer in forward and backward.

Space: ``tiny`` (16 px, 1280 images, 3 epochs) with ``--quick``, else ``proxyless-cifar`` (32 px, width 0.5,
384 images, 2 epochs: about 5 minutes); synthetic data.

    python benchmarks/search_ddp.py [--quick] [--batch 32] [--epochs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, write_result  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, spec: dict, out: str) -> None:
    import torch

    from hwnas.predictors.block_costs import BlockCosts
    from hwnas.search import SearchConfig, run_search
    from hwnas.space import get_space
    from hwnas.train.data import load_synthetic

    torch.set_num_threads(1)
    if world > 1:
        os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                          MASTER_PORT=str(port), HWNAS_DIST_SYNC_BN="1" if spec["sync_bn"] else "0")
    space = get_space(spec["space"], **spec["space_kw"])
    costs = BlockCosts(0.5, tuple(tuple(0.0 if c.is_zero else 0.01 * c.kernel * c.expand for c in p.choices)
                                  for p in space.positions()))
    data = load_synthetic(resolution=space.resolution, num_classes=10, n=spec["n"], seed=0, valid_fraction=0.2)
    cfg = SearchConfig(n_epochs=spec["epochs"], warmup_epochs=0, batch_size=spec["batch"], progress=False,
                       arch_valid_frequency=1000, latency_loss="add#linear", target_ms=float(costs.max_ms()),
                       supernet_weights="separate")  # the timings recorded before the default became auto
    stamps: list[float] = []
    t0 = time.perf_counter()
    res = run_search(space, costs, data, cfg, run_dir=Path(out) / f"run-{rank}", log=None,
                     callbacks=[lambda epoch, row: stamps.append(time.perf_counter())])
    if rank == 0:
        steps_per_epoch = -(-len(data.train) // (spec["batch"] * world))
        timed = len(stamps) - 1
        step_s = (stamps[-1] - stamps[0]) / (timed * steps_per_epoch)
        Path(out, "timing.json").write_text(json.dumps({
            "step_ms": 1000 * step_s, "samples_per_s": spec["batch"] * world / step_s,
            "steps_per_epoch": steps_per_epoch, "timed_epochs": timed, "total_s": time.perf_counter() - t0,
            "train_loss_last": res.history[-1]["train_loss"]}))


def run_config(world: int, spec: dict) -> dict:
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as out:
        mp.spawn(_worker, args=(world, _free_port(), spec, out), nprocs=world)
        return json.loads(Path(out, "timing.json").read_text())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny space, fewer steps (about a minute)")
    p.add_argument("--batch", type=int, default=32, help="batch B of the single process (default 32)")
    p.add_argument("--steps-per-epoch", type=int, default=12, help="full mode: images = steps x batch (default 12)")
    p.add_argument("--epochs", type=int, default=None, help="search epochs, the first not timed (default: quick 3, "
                   "full 2)")
    a = p.parse_args(argv)
    if a.quick:
        space, space_kw, n = "tiny", {"num_classes": 10}, 40 * a.batch
    else:
        space, space_kw, n = "proxyless-cifar", {"width_mult": 0.5}, a.steps_per_epoch * a.batch  # ~2.5 s a step
    epochs = a.epochs or (3 if a.quick else 2)
    base = {"space": space, "space_kw": space_kw, "n": n, "epochs": epochs, "sync_bn": True}
    configs = [
        ("1 proc, B", 1, {**base, "batch": a.batch}),
        ("2 procs, B each (weak)", 2, {**base, "batch": a.batch}),
        ("2 procs, B/2 each (strong)", 2, {**base, "batch": a.batch // 2}),
        ("2 procs, B each, no sync BN", 2, {**base, "batch": a.batch, "sync_bn": False}),
    ]
    rows, results = [], []
    load_before = os.getloadavg()
    for name, world, spec in configs:
        r = run_config(world, spec)
        results.append({"config": name, "processes": world, "batch_per_process": spec["batch"],
                        "global_batch": spec["batch"] * world, "sync_bn": spec["sync_bn"], **r})
        print(f"{name}: {r['step_ms']:.1f} ms/step, {r['samples_per_s']:.1f} samples/s", flush=True)
    one = results[0]["samples_per_s"]
    for r in results[1:]:
        r["efficiency"] = r["samples_per_s"] / (r["processes"] * one)
    for r in results:
        rows.append([r["config"], r["global_batch"], r["step_ms"], r["samples_per_s"], r.get("efficiency", 1.0)])
    print(markdown_table(["configuration", "global batch", "step ms", "samples/s", "efficiency"], rows))
    path = write_result("search_ddp", {
        "quick": a.quick, "space": space, "space_kwargs": space_kw, "images": n, "epochs": epochs,
        "timed_epochs": epochs - 1, "threads_per_process": 1, "backend": "gloo", "method": "grad",
        "binary_mode": "full_v2", "arch_step_every": 5, "cpu_cores": os.cpu_count(),
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "note": (f"2-core machine; 1-minute load average {load_before[0]:.1f} before the run (the previous "
                 f"benchmark's tail counts too), {os.getloadavg()[0]:.1f} after"),
        "results": results})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
