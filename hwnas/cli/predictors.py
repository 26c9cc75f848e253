"""``hwnas measure-archs``, ``hwnas predictor fit|eval`` and ``hwnas predict``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import UsageError
from .flags import (
    PICKLE_NOTE,
    add_backend_args,
    add_space_args,
    backend_from_args,
    bounded_int,
    output_path,
    seed_int,
    space_from_args,
)


def cmd_measure_archs(a: argparse.Namespace) -> int:
    from ..predictors.archs import ArchDataset, dataset_summary, measure_archs, read_arch_list

    exclude: set[str] = set()
    for p in a.exclude or []:
        exclude |= set(ArchDataset.load(p).arch_strings)
    space = space_from_args(a)
    given = read_arch_list(a.archs, space) if a.archs else None
    n = a.n if a.n is not None else (len(given) if given is not None else 200)
    try:
        ds = measure_archs(space, backend_from_args(a), a.output, n=n, seed=a.seed, exclude=exclude,
                           reference=a.reference, progress=not a.quiet, jobs=a.jobs, archs=given)
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished rows are kept in {a.output}; run the same command again to resume.",
              file=sys.stderr)
        return 130
    s = dataset_summary(ds)
    print(f"{s['n']} networks, latency {s['min_ms']:.3f} .. {s['max_ms']:.3f} ms (median {s['median_ms']:.3f}); "
          f"wrote {a.output}")
    if s["n"] < n:
        import math

        total = math.prod(len(labels) for labels in space.choice_labels())
        print(f"note: measured {s['n']} networks, not the {n} asked for: " + (
            f"space {space.name} holds only {total} distinct networks" if total <= n else
            "no more distinct networks were found" + (" outside --exclude" if exclude else "")
            + (" in --archs" if given is not None else "")))
    return 0


def cmd_fit(a: argparse.Namespace) -> int:
    from ..predictors import PREDICTORS
    from ..predictors.archs import ArchDataset
    from ..predictors.persist import save_predictor
    from ..profilers import LatencyTable
    from ..profilers.records import COMPARABLE_FIELDS, TableMismatchError, space_problems

    table = LatencyTable.load(a.table)
    pred = PREDICTORS[a.kind](table=table)
    if a.archs:
        ds = ArchDataset.load(a.archs)
        from ..space.model_space import check_same_space

        check_same_space(ds.meta.get("space"), table.space, f"the measured networks {a.archs}")
        table.check_compatible(ds.meta["settings"], ds.meta["environment"], what="the measured networks",
                               fields=COMPARABLE_FIELDS)
        mixed = space_problems(table.meta["space"], ds.meta["space"], theirs_are="the measured networks")
        if mixed:  # e.g. another resolution: the predictor would be wrong by the ratio of their costs
            raise TableMismatchError(f"the table {a.table} and the measured networks {a.archs} are of different "
                                     "spaces:\n  " + "\n  ".join(mixed) + "\nMeasure both with the same space flags")
        y = ds.latencies()
        if a.normalised:
            pred.reference_ms_ = ds.reference_ms  # latencies at the reference network's median speed
            y = ds.latencies(normalise_to=pred.reference_ms_)
        pred.fit(ds.arch_strings, y)
    elif a.kind == "lut":
        pred.fit()
    else:
        raise UsageError(f"a '{a.kind}' predictor learns from measured networks: pass --archs A.csv "
                         f"(made by 'hwnas measure-archs')")
    save_predictor(pred, a.output)
    extra = f" (model {pred.model_name_}, CV RMSE of log-ratio {pred.cv_scores_})" if a.kind == "fitted" else ""
    print(f"fitted a {a.kind} predictor{extra}; wrote {a.output}")
    return 0


def cmd_eval(a: argparse.Namespace) -> int:
    from ..predictors.archs import ArchDataset
    from ..predictors.metrics import accuracy_report, drift_note, format_report
    from ..predictors.persist import load_predictor

    ds = ArchDataset.load(a.archs)
    pred = load_predictor(a.predictor, expect_meta=ds.meta, force=a.force)
    from ..space.model_space import check_same_space

    if hasattr(pred, "space_"):
        check_same_space(ds.meta.get("space"), pred.space_, f"the measured networks {a.archs}")
    ref = getattr(pred, "reference_ms_", None)
    measured = ds.latencies(normalise_to=ref) if ref else ds.latencies()
    predicted = pred.predict(ds.arch_strings)
    if ref:
        print(f"latencies normalised by the reference probes to {ref:.3f} ms reference speed")
    report = accuracy_report(measured, predicted)
    print(format_report(Path(a.predictor).name, report))
    # a LUT sum is off one way by construction, another device's data (--force) by design, and reference-normalised
    # latencies have had the machine's drift taken out already
    note = drift_note(report) if getattr(pred, "fits_networks", False) and not ref and not a.force else None
    if note:
        print(note)
    plot = Path(a.plot) if a.plot else Path(a.predictor).with_suffix(".eval.png")
    from ..predictors.plots import predicted_vs_measured

    predicted_vs_measured(measured, predicted, plot, title=f"{Path(a.predictor).name} on {Path(a.archs).name}",
                          device=ds.device_model or "")
    print(f"wrote {plot}")
    return 0


def cmd_predict(a: argparse.Namespace) -> int:
    from ..predictors.persist import load_predictor

    pred = load_predictor(a.predictor)
    arch = pred.space_.parse(a.arch) if hasattr(pred, "space_") else a.arch
    if hasattr(pred, "ensemble_"):
        mean, std = pred.predict([str(arch)], return_std=True)
        print(f"{mean[0]:.3f} ms ± {std[0]:.3f} ms  {arch}")
    else:
        print(f"{pred.predict([str(arch)])[0]:.3f} ms  {arch}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("measure-archs", help="measure whole networks spread over the latency range")
    add_space_args(s)
    add_backend_args(s)
    s.add_argument("--n", type=bounded_int(1, 100_000), help="number of networks (default 200, or all of --archs)")
    s.add_argument("--seed", type=seed_int, default=0)
    s.add_argument("--exclude", action="append", help="an arch dataset whose networks must not be drawn")
    s.add_argument("--archs", metavar="FILE",
                   help="measure these networks instead of planned ones: an arch dataset CSV (another device's, or "
                        "this one's for a noise floor) or a text file with one architecture per line; with --n, "
                        "the first N")
    s.add_argument("--reference", action="store_true",
                   help="time a fixed reference network before each one, to normalise away machine drift")
    s.add_argument("-o", "--output", type=output_path, required=True)
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_measure_archs)

    p = sub.add_parser("predictor", help="fit and evaluate latency predictors").add_subparsers(
        dest="predictor_command", required=True)
    s = p.add_parser("fit", help="fit a predictor from a table and measured networks")
    s.add_argument("--table", required=True)
    s.add_argument("--archs", help="measured networks (hwnas measure-archs); not needed for --kind lut")
    s.add_argument("--kind", choices=["lut", "flops", "calibrated", "fitted"], default="calibrated",
                   help="calibrated (default): corrected per-block costs, which search can differentiate; fitted: "
                        "most accurate, for ranking and checking networks (search refuses it); lut; flops")
    s.add_argument("--normalised", action="store_true",
                   help="fit on reference-normalised latencies (networks measured with --reference)")
    s.add_argument("-o", "--output", type=output_path, required=True)
    s.set_defaults(func=cmd_fit)
    s = p.add_parser("eval", help="accuracy on held-out measured networks, and a predicted-vs-measured plot",
                     description=PICKLE_NOTE)
    s.add_argument("predictor")
    s.add_argument("--archs", required=True)
    s.add_argument("--plot", type=output_path, help="PNG path (default: <predictor>.eval.png)")
    s.add_argument("--force", action="store_true", help="evaluate even on another device's measurements")
    s.set_defaults(func=cmd_eval)

    s = sub.add_parser("predict", help="predict the latency of one architecture", description=PICKLE_NOTE)
    s.add_argument("--predictor", required=True)
    s.add_argument("--arch", required=True)
    s.set_defaults(func=cmd_predict)
