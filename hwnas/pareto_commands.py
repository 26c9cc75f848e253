"""``hwnas pareto``: searches across latency targets, baselines at equal budget, fronts and figures."""

from __future__ import annotations

import argparse
from pathlib import Path


def _floats(text: str) -> tuple[float, ...]:
    try:
        vals = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated milliseconds like 6,8,10, got {text!r}") from None
    if not vals or any(v <= 0 for v in vals):
        raise argparse.ArgumentTypeError("targets must be positive milliseconds")
    return vals


def cmd_pareto(a: argparse.Namespace) -> int:
    from .cli import backend_from_args
    from .pareto_run import ParetoConfig, report_markdown, run_pareto
    from .predictors.block_costs import lut_block_costs
    from .predictors.persist import load_predictor
    from .profilers import LatencyTable

    if bool(a.table) == bool(a.predictor):
        raise ValueError("give the latency model: --table T.csv (LUT-sum) or --predictor P.joblib (calibrated)")
    if a.predictor:
        pred = load_predictor(a.predictor, force=a.force)
        if not hasattr(pred, "block_costs"):
            raise ValueError(f"{a.predictor} has no per-block costs; fit a calibrated predictor "
                             "(hwnas predictor fit --kind calibrated)")
        costs, space, meta = pred.block_costs(), pred.space_, pred.table_meta_
    else:
        table = LatencyTable.load(a.table)
        space, meta = table.space, table.meta
        costs = lut_block_costs(table, space)
    backend = backend_from_args(a)
    if not a.force:
        mine = (meta.get("settings") or {}).get("backend")
        if mine and mine != backend.name:
            raise ValueError(f"the latency model was measured with {mine!r} but --backend is {backend.name!r}; "
                             "measure with the same backend or pass --force")
    cfg = ParetoConfig(targets_ms=a.targets, data=a.data, data_limit=a.data_limit, method=a.method,
                       search_epochs=a.epochs, warmup_epochs=a.warmup_epochs, retrain_epochs=a.retrain_epochs,
                       batch_size=a.batch_size, seed=a.seed, progress=not a.quiet)
    device = (meta.get("environment") or {}).get("device_model", "")
    out = Path(a.output)
    result = run_pareto(space, costs, backend, out, cfg, device=device)
    from .io import atomic_write_text

    atomic_write_text(out / "report.md", "\n".join(["# hwnas pareto report", "", *report_markdown(result, rel_to=out)]))
    print(result.summary.to_string(index=False))
    print(f"wrote {out / 'points.csv'}, {out / 'summary.csv'}, {out / 'pareto.png'}, {out / 'report.md'}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``hwnas pareto``."""
    from .cli import add_backend_args

    s = sub.add_parser("pareto", help="search at several latency targets, compare with baselines, plot the front",
                       description="Runs (or reuses, in -o) a search per target, random and evolutionary baselines "
                                   "with the same number of evaluated networks, hand-designed references; retrains "
                                   "each briefly, measures it with --backend, and writes points.csv, summary.csv "
                                   "(hypervolumes), pareto.png and report.md.")
    g = s.add_argument_group("latency model (one of)")
    g.add_argument("--table", help="latency table CSV (LUT-sum)")
    g.add_argument("--predictor", help="saved calibrated predictor (joblib)")
    s.add_argument("--force", action="store_true", help="use a latency model from another device/backend anyway")
    s.add_argument("--targets", type=_floats, required=True, help="latency targets in ms, e.g. 0.3,0.45,0.6")
    s.add_argument("--data", default="digits-hard", help="digits-hard (default), digits, synthetic, cifar10:PATH, "
                                                         "folder:PATH")
    s.add_argument("--data-limit", type=int, default=600,
                   help="source images used (digits-hard makes 3 distorted copies of each; default 600)")
    s.add_argument("--method", choices=["grad", "rl"], default="grad")
    s.add_argument("--epochs", type=int, default=6, help="search epochs after warm-up (default 6)")
    s.add_argument("--warmup-epochs", type=int, default=3)
    s.add_argument("--retrain-epochs", type=int, default=10)
    s.add_argument("--batch-size", type=int, default=32)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("-o", "--output", required=True, help="output folder (reused and resumed when run again)")
    s.add_argument("--quiet", action="store_true")
    add_backend_args(s)
    s.set_defaults(func=cmd_pareto)
