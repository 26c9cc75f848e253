"""``hwnas pareto`` (searches across latency targets, baselines at equal budget, fronts and figures) and
``hwnas demo``."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..errors import UsageError
from .flags import (
    DATA_LIMIT_HELP,
    add_backend_args,
    add_latency_model_args,
    add_training_args,
    backend_from_args,
    bounded_int,
    channels_last_flag,
    fraction_below_one,
    latency_model_from_args,
    non_negative_int,
    output_path,
    positive_float,
    positive_int,
    seed_int,
)


def _floats(text: str) -> tuple[float, ...]:
    try:
        vals = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated milliseconds like 6,8,10, got {text!r}") from None
    if not vals or any(not (v > 0 and math.isfinite(v)) for v in vals):
        raise argparse.ArgumentTypeError("targets must be positive, finite milliseconds")
    if len(set(vals)) != len(vals):
        raise argparse.ArgumentTypeError(f"targets repeat a value: {text!r}")
    return vals


def cmd_pareto(a: argparse.Namespace) -> int:
    from ..io import atomic_write_text
    from ..pareto.config import ParetoConfig
    from ..pareto.experiment import run_pareto
    from ..pareto.report import report_markdown

    space = None
    if a.model:
        from .flags import space_from_args

        space = space_from_args(a)
    model = latency_model_from_args(a, space)
    backend = backend_from_args(a)
    if not a.force and model.backend and model.backend != backend.name:
        raise UsageError(f"the latency model was measured with {model.backend!r} but --backend is {backend.name!r}; "
                         "measure with the same backend or pass --force")
    cfg = ParetoConfig(targets_ms=a.targets, data=a.data, data_limit=a.data_limit, method=a.method,
                       supernet_weights=a.supernet_weights,
                       search_epochs=a.epochs, warmup_epochs=a.warmup_epochs, retrain_epochs=a.retrain_epochs,
                       arch_lr=a.arch_lr, fill_band=a.fill_band, export_tolerance=a.export_tolerance,
                       batch_size=a.batch_size, seed=a.seed, progress=not a.quiet, device=a.device or "auto",
                       amp=a.amp or "off", channels_last=channels_last_flag(a), workers=a.workers)
    out = Path(a.output)
    result = run_pareto(model.space, model.costs, backend, out, cfg, device=model.device_model, force=a.force)
    atomic_write_text(out / "report.md", "\n".join(["# hwnas pareto report", "", *report_markdown(result, rel_to=out)]))
    print(result.summary.to_string(index=False))
    print(f"wrote {out / 'points.csv'}, {out / 'summary.csv'}, {out / 'pareto.png'}, {out / 'report.md'}")
    return 0


def cmd_demo(a: argparse.Namespace) -> int:
    from ..pareto.demo import run_demo

    run_demo(Path(a.output), quick=a.quick, device=a.device or "auto", amp=a.amp or "off")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from ..pareto.config import ParetoConfig

    s = sub.add_parser("pareto", help="search at several latency targets, compare with baselines, plot the front",
                       description="Runs (or reuses, in -o) a search per target, random and evolutionary baselines "
                                   "with the same number of evaluated networks, hand-designed references; retrains "
                                   "each briefly, measures it with --backend, and writes points.csv, summary.csv "
                                   "(hypervolumes), pareto.png and report.md. Searches and evaluations already in "
                                   "-o are reused only if made with the same settings; --force redoes those made "
                                   "with others.")
    add_latency_model_args(s, predictor_help="saved calibrated predictor (joblib)")
    s.add_argument("--targets", type=_floats, required=True, help="latency targets in ms, e.g. 0.3,0.45,0.6")
    s.add_argument("--model", metavar="PACKAGE.MODULE:FACTORY",
                   help="your network with LayerChoice / InputChoice points (the latency model must be made for it)")
    s.add_argument("--input-shape", metavar="1,C,H,W", help="the model's input with batch 1 (with --model)")
    s.add_argument("--data", default="digits-hard", help="digits-hard (default), digits, synthetic, "
                                                         "fashion-mnist[:DIR], idx:DIR, cifar10:DIR, folder:DIR")
    s.add_argument("--data-limit", type=positive_int, default=600,
                   help=DATA_LIMIT_HELP + " (default 600)")
    from ..search.methods import METHODS, method_names

    s.add_argument("--method", choices=[m for m in method_names() if METHODS.get(m) is None or METHODS[m].training],
                   default="grad", metavar="METHOD",
                   help="the search at each target: grad (default), rl, darts, gdas, gumbel, enas; spos or ofa train "
                        "one supernet and search it at every target without training again")
    s.add_argument("--supernet-weights", choices=["separate", "shared"], default=None,
                   help="candidate weights of the searches' and the one-shot supernet (shared: Once-for-All style; "
                        "default: shared for spos and ofa, separate otherwise)")
    s.add_argument("--epochs", type=non_negative_int, default=ParetoConfig.search_epochs,
                   help=f"search epochs after warm-up (default {ParetoConfig.search_epochs})")
    s.add_argument("--warmup-epochs", type=non_negative_int, default=ParetoConfig.warmup_epochs,
                   help=f"weight-only epochs before the search (default {ParetoConfig.warmup_epochs})")
    s.add_argument("--arch-lr", type=positive_float, default=ParetoConfig.arch_lr,
                   help=f"Adam learning rate of α in the searches (default {ParetoConfig.arch_lr})")
    s.add_argument("--fill-band", type=fraction_below_one, default=ParetoConfig.fill_band,
                   help="the exported network is filled with the most probable changes that fit until its predicted "
                        f"latency is within this share under the target (default {ParetoConfig.fill_band})")
    s.add_argument("--export-tolerance", type=fraction_below_one, default=ParetoConfig.export_tolerance,
                   help="each searched network is measured with --backend and refitted while it is more than this "
                        f"share off its target (default {ParetoConfig.export_tolerance}; 0: trust the latency model)")
    s.add_argument("--retrain-epochs", type=non_negative_int, default=ParetoConfig.retrain_epochs,
                   help=f"epochs each network on the front is retrained (default {ParetoConfig.retrain_epochs})")
    s.add_argument("--batch-size", type=bounded_int(1, 65_536), default=ParetoConfig.batch_size)
    s.add_argument("--seed", type=seed_int, default=0)
    s.add_argument("-o", "--output", type=output_path, required=True, help="output folder (reused and resumed when run again)")
    s.add_argument("--quiet", action="store_true")
    add_training_args(s, data=False)
    add_backend_args(s, device_flag="--measure-device")
    s.set_defaults(func=cmd_pareto)

    s = sub.add_parser("demo", help="run the pipeline on embedded defaults and write a report")
    s.add_argument("-o", "--output", type=output_path, default="hwnas-demo")
    s.add_argument("--quick", action="store_true", help="a reduced run for tests")
    add_training_args(s, data=False)
    s.set_defaults(func=cmd_demo)
