"""Do the named methods still give the same results after a refactor of the search? (issue 26)

Runs the searches of ``search_constraint.py`` (gradient with ``add#abs`` and REINFORCE with the hard preset, at
0.25 / 0.5 / 0.75 of the latency range, 4 warm-up + 12 search epochs, ``two`` gates, α lr 0.1) and of ``make demo``
(``hwnas pareto``'s defaults: gradient, ``add#abs``, α lr 0.01, 3 + 6 epochs, shared weights, at 0.2 / 0.4 / 0.6
of the range) with one fixed latency model (``benchmarks/results/search_quality/costs.json``, a calibrated model of
``proxyless-cifar`` at 16 px, width 0.25, as measured on this machine) on digits, and writes, for each, the
exported architecture, its predicted latency, the last epoch's figures and a digest of the final supernet (α and
weights, bit for bit). Run it on two commits and compare the files::

    python benchmarks/same_results.py -o before.json      # on the old commit
    python benchmarks/same_results.py -o after.json       # on the new one
    python benchmarks/same_results.py --compare before.json after.json

Measured latency is left out on purpose: it depends on the machine's noise, the architecture does not.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent
COSTS = ROOT / "results" / "search_quality" / "costs.json"


def configs(lo: float, hi: float) -> list[tuple[str, dict]]:
    out = []
    for frac in (0.25, 0.5, 0.75):
        t = round(lo + frac * (hi - lo), 4)
        common = dict(target_ms=t, n_epochs=12, warmup_epochs=4, batch_size=32, arch_optim_lr=0.1,
                      grad_update_arch_param_every=1, binary_mode="two", init_lr=0.05, progress=False,
                      supernet_weights="separate")  # as recorded before the default became auto
        out.append((f"search_constraint grad {frac}", dict(method="grad", latency_loss="add#abs", loss_lambda=1.0,
                                                           **common)))
        out.append((f"search_constraint rl {frac}", dict(method="rl", rl_preset="hard", rl_samples=4, **common)))
    for frac in (0.2, 0.4, 0.6):
        t = round(lo + frac * (hi - lo), 4)
        out.append((f"demo grad {frac}", dict(method="grad", target_ms=t, n_epochs=6, warmup_epochs=3, batch_size=32,
                                              arch_optim_lr=0.01, grad_update_arch_param_every=1, binary_mode="two",
                                              init_lr=0.05, supernet_weights="shared", latency_loss="add#abs",
                                              loss_lambda=1.0, progress=False)))
    return out


def digest(state: dict) -> str:
    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def run(out: Path) -> None:
    from hwnas.predictors.block_costs import BlockCosts
    from hwnas.search import SearchConfig, run_search
    from hwnas.space import get_space

    try:
        from hwnas.train.data import data_for_space
    except ImportError:  # before hwnas.train existed
        from hwnas.search.data import data_for_space

    torch.set_num_threads(1)
    space = get_space("proxyless-cifar", resolution=16, width_mult=0.25)
    raw = json.loads(COSTS.read_text())["costs"]
    costs = BlockCosts(raw["const_ms"], tuple(tuple(c) for c in raw["costs"]))
    data = data_for_space("digits", space, limit=600)
    rows = {}
    for name, kw in configs(costs.min_ms(), costs.max_ms()):
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            res = run_search(space, costs, data, SearchConfig(**kw), run_dir=tmp, log=None)
            ckpt = torch.load(Path(tmp) / "checkpoint.pt", weights_only=True)
        last = res.history[-1]
        rows[name] = {"arch": str(res.arch), "predicted_ms": res.predicted_ms, "expected_ms": res.expected_ms,
                      "train_loss": last["train_loss"], "valid_acc": last["valid_acc"], "entropy": last["entropy"],
                      "supernet_digest": digest(ckpt["net"]), "seconds": round(time.perf_counter() - t0, 1)}
        print(f"{name:32s} {rows[name]['arch']}  {res.predicted_ms:.4f} ms  {rows[name]['supernet_digest']}",
              flush=True)
    out.write_text(json.dumps({"rows": rows}, indent=1) + "\n")


def compare(a: Path, b: Path) -> int:
    ra, rb = json.loads(a.read_text())["rows"], json.loads(b.read_text())["rows"]
    same = 0
    for name in ra:
        x, y = ra[name], rb.get(name, {})
        keys = ("arch", "predicted_ms", "expected_ms", "train_loss", "valid_acc", "entropy", "supernet_digest")
        diff = [k for k in keys if x.get(k) != y.get(k)]
        same += not diff
        print(f"{name:32s} {'same' if not diff else 'DIFFERENT: ' + ', '.join(diff)}")
    print(f"{same} of {len(ra)} searches identical")
    return 0 if same == len(ra) else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-o", "--output", default="same_results.json")
    p.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    a = p.parse_args()
    if a.compare:
        return compare(Path(a.compare[0]), Path(a.compare[1]))
    run(Path(a.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
