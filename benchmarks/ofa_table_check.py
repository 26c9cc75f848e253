"""How well does a published ProxylessNAS / Once-for-All latency table predict networks on *this* machine?

Given a YAML table in either published dialect (``--table published.yaml``; e.g. ProxylessNAS's
``mobile_trim.yaml`` or an OFA ``note10`` table), this

1. imports it into the space (``hwnas.profilers.ofa_yaml.import_yaml``; entries the space cannot express are
   counted and listed, never silently dropped);
2. samples ``--n`` networks whose every layer the published table covers (stratified over the published LUT-sum
   range, so fast and slow networks both appear);
3. measures each end to end here (``--backend``, default ONNX Runtime, 1 thread), ``--rounds`` times in separate
   passes (order reversed every other pass);
4. reports the published LUT-sum's accuracy against these measurements: share within ±5% / ±10%, MAPE, bias,
   Spearman; also after one global scale factor (the median measured/published ratio: does the table at least
   rank networks right?), and — unless ``--no-local`` — beside this machine's own LUT-sum (the same space profiled
   here) as the reference a user would otherwise have.

A table from another device is expected to predict poorly; that is the point of profiling your own. Every figure
is the median over the rounds with its min/max. Without ``--table`` (or ``HWNAS_OFA_TABLE``) it skips with a
message and exits 0.

    python benchmarks/ofa_table_check.py --table mobile_trim.yaml [--space proxyless-mobile] \
        [--widths 32,40,80,96,192,320] [--n 20] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, spread, write_result  # noqa: E402

from hwnas.predictors.block_costs import lut_block_costs  # noqa: E402

NAME = "ofa_table_check"
SKIP_MESSAGE = ("ofa_table_check: skipped — no published table given. Pass --table FILE.yaml (or set "
                "HWNAS_OFA_TABLE) with a ProxylessNAS/Once-for-All latency table, e.g. ProxylessNAS's "
                "mobile_trim.yaml, to compare its LUT-sum with networks measured on this machine.")


def covered_choices(table, space) -> list[list]:
    """Per block, the choices whose layer the table holds (``zero`` needs none)."""
    missing_fixed = [k.label for k in space.fixed_keys() if k not in table]
    if missing_fixed:
        raise SystemExit(f"the published table lacks layers every network of {space.name!r} has: "
                         f"{'; '.join(missing_fixed)}. Is it for this space (try --space / --widths / --resolution)?")
    out = []
    for pos in space.positions():
        ok = [c for c in pos.choices if c.is_zero or pos.key(c) in table]
        if not ok:
            raise SystemExit(f"the published table covers no choice of block {pos.index} "
                             f"({pos.in_hw}x{pos.in_hw}x{pos.in_ch} -> {pos.out_hw}x{pos.out_hw}x{pos.out_ch}, "
                             f"stride {pos.stride}) of space {space.name!r}; is it for another space or width?")
        out.append(ok)
    return out


def sample_covered(table, space, n: int, seed: int) -> list:
    """``n`` distinct networks made only of covered layers, spread over the published LUT-sum range."""
    from hwnas.space.spec import ArchSpec

    choices = covered_choices(table, space)
    rng = np.random.default_rng(seed)
    pool, seen = [], set()
    for _ in range(max(20 * n, 200)):
        zero_p = rng.uniform(0, 0.6)  # vary depth, so the LUT-sum range is wide
        blocks = []
        for ch in choices:
            nz = [c for c in ch if not c.is_zero]
            if any(c.is_zero for c in ch) and (rng.random() < zero_p or not nz):
                blocks.append(next(c for c in ch if c.is_zero))
            else:
                blocks.append(nz[int(rng.integers(len(nz)))])
        arch = space.validate(ArchSpec.from_blocks(blocks, space.depths))
        s = arch.to_string()
        if s not in seen:
            seen.add(s)
            pool.append(arch)
    if len(pool) < n:
        raise SystemExit(f"only {len(pool)} distinct networks are covered by the published table; ask for fewer "
                         f"(--n {len(pool)})")
    costs = lut_block_costs(table, space, allow_missing=True)
    lut = np.array([costs.arch_ms(a, space) for a in pool])
    order = np.argsort(lut)
    picks = np.unique(np.linspace(0, len(pool) - 1, n).round().astype(int))
    return [pool[int(order[i])] for i in picks]


def check(table_path: str | Path, space, *, backend_name: str = "onnxruntime", threads: int = 1, n: int = 20,
          seed: int = 0, rounds: int = 2, dialect: str | None = None, local: bool = True,
          backend_opts: dict[str, Any] | None = None, log=print) -> dict[str, Any]:
    """Import ``table_path``, measure ``n`` networks here ``rounds`` times, score the published LUT-sum."""
    from hwnas.predictors import accuracy_report
    from hwnas.profilers import build_table, create_backend
    from hwnas.profilers.ofa_yaml import import_yaml
    from hwnas.space import build_model

    published, report = import_yaml(table_path, space, dialect=dialect)
    log(f"{Path(table_path).name}: {report.imported} entries imported, {len(report.skipped)} skipped")
    archs = sample_covered(published, space, n, seed)
    pub = lut_block_costs(published, space, allow_missing=True)
    pred = np.array([pub.arch_ms(a, space) for a in archs])
    backend = create_backend(backend_name, threads=threads, **(backend_opts or {}))
    local_pred = None
    t0 = time.perf_counter()
    if local:
        with tempfile.TemporaryDirectory() as tmp:
            mine = build_table(space, backend, Path(tmp) / "local.csv", progress=False)
        own = lut_block_costs(mine, space, allow_missing=True)
        local_pred = np.array([own.arch_ms(a, space) for a in archs])
    local_s = time.perf_counter() - t0
    shape = (1, space.in_channels, space.resolution, space.resolution)
    measured = np.full((rounds, len(archs)), np.nan)
    for r in range(rounds):
        order = range(len(archs)) if r % 2 == 0 else reversed(range(len(archs)))
        for i in order:
            measured[r, i] = backend.measure(build_model(archs[i], space), shape).median_ms
        log(f"  round {r + 1}: {len(archs)} networks measured, median {np.median(measured[r]):.4g} ms")

    def scored(p: np.ndarray) -> dict[str, Any]:
        """Accuracy of predictions ``p`` (one row per round, or one row for all) against each round."""
        p = np.broadcast_to(p, measured.shape)
        per_round = [accuracy_report(measured[r], p[r]) for r in range(rounds)]
        return {k: spread([rep[k] for rep in per_round]) for k in per_round[0]}

    # one scale factor per round (this machine's speed drifts between rounds): does the table rank and space
    # networks right, up to a constant?
    scale = [float(np.median(measured[r] / pred)) for r in range(rounds)]
    result: dict[str, Any] = {
        "table": str(table_path), "space": space.name, "space_config": space.to_dict(), "backend": backend_name,
        "threads": threads, "n": len(archs), "rounds": rounds, "seed": seed,
        "imported": report.imported, "skipped": len(report.skipped), "skipped_examples": report.skipped[:10],
        "published_lut_sum": scored(pred),
        "measured_over_published": spread(scale),
        "published_lut_sum_rescaled": scored(np.array([pred * k for k in scale])),
        "networks": [{"arch": a.to_string(), "published_ms": float(p), "measured_ms": measured[:, i].tolist(),
                      **({"local_lut_ms": float(local_pred[i])} if local_pred is not None else {})}
                     for i, (a, p) in enumerate(zip(archs, pred, strict=True))],
    }
    if local_pred is not None:
        result["local_lut_sum"] = scored(local_pred)
        result["local_profile_s"] = local_s
    return result


def _row(name: str, s: dict[str, Any]) -> list[str]:
    def f(k: str, pct: bool = True) -> str:
        v = s.get(k)
        if not v or not v["n"]:
            return "n/a"
        g = (lambda x: f"{x:.1%}") if pct else (lambda x: f"{x:.3f}")
        return f"{g(v['median'])} [{g(v['min'])}–{g(v['max'])}]"
    return [name, f("within_5pct"), f("within_10pct"), f("mape"), f("bias"), f("spearman", pct=False)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--table", default=os.environ.get("HWNAS_OFA_TABLE"),
                   help="published YAML table (ProxylessNAS or OFA dialect); default $HWNAS_OFA_TABLE")
    p.add_argument("--dialect", choices=("proxyless", "ofa"), help="force a dialect (default: detect per key)")
    p.add_argument("--space", default="proxyless-mobile")
    p.add_argument("--widths", help="stage widths, e.g. 32,40,80,96,192,320 (the published ProxylessNAS-Mobile)")
    p.add_argument("--resolution", type=int)
    p.add_argument("--width-mult", type=float)
    p.add_argument("--backend", default="onnxruntime")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--n", type=int, default=20, help="networks measured end to end")
    p.add_argument("--rounds", type=int, default=2, help="measurement passes over the networks")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-local", action="store_true", help="skip profiling this machine's own table for reference")
    p.add_argument("--quick", action="store_true", help="CI-sized: 6 networks, 2 rounds, no local table")
    p.add_argument("--results-dir", help="write the result JSON here instead of benchmarks/results/")
    a = p.parse_args(argv)
    if not a.table:
        print(SKIP_MESSAGE)
        return 0
    if not Path(a.table).is_file():
        print(f"ofa_table_check: published table not found: {a.table}", file=sys.stderr)
        return 2
    if a.quick:
        a.n, a.rounds, a.no_local = 6, 2, True
    from hwnas.space import get_space

    widths = tuple(int(w) for w in a.widths.split(",")) if a.widths else None
    space = get_space(a.space, widths=widths, resolution=a.resolution, width_mult=a.width_mult)
    t0 = time.perf_counter()
    res = check(a.table, space, backend_name=a.backend, threads=a.threads, n=a.n, seed=a.seed, rounds=a.rounds,
                dialect=a.dialect, local=not a.no_local)
    res["wall_s"] = time.perf_counter() - t0
    path = write_result(NAME, res, a.results_dir)
    rows = [_row("published LUT-sum", res["published_lut_sum"]),
            _row(f"published x {res['measured_over_published']['median']:.3g} (one scale)",
                 res["published_lut_sum_rescaled"])]
    if "local_lut_sum" in res:
        rows.append(_row("this machine's LUT-sum", res["local_lut_sum"]))
    print(f"{res['n']} networks of {space.name} measured {a.rounds}x on {a.backend} ({a.threads} thread(s)); "
          f"median [min–max] over rounds")
    print(markdown_table(["latency model", "±5%", "±10%", "MAPE", "bias", "Spearman"], rows))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
