"""``hwnas multitrial``: a multi-trial search on Optuna (each sampled network trained on its own; accuracy and
latency together), in one process or as one of many workers sharing a study."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UsageError
from .flags import (
    SPACE_FLAGS,
    add_latency_model_args,
    add_space_args,
    add_training_args,
    bounded_int,
    channels_last_flag,
    latency_model_from_args,
    non_negative_int,
    output_path,
    positive_float,
    positive_int,
    seed_int,
    space_from_args,
)


def cmd_multitrial(a: argparse.Namespace) -> int:
    from ..multitrial.runner import MultitrialConfig, default_storage, run_study
    from ..pareto.study_front import read_compare, write_study_front

    given_space = any(getattr(a, k, None) is not None for k in SPACE_FLAGS)
    space = space_from_args(a) if given_space else None
    if not (a.table or a.predictor):
        raise UsageError("multitrial needs a latency model: --table T.csv or --predictor P.joblib")
    model = latency_model_from_args(a, space)
    space = model.space if space is None else space
    cfg = MultitrialConfig(n_trials=a.n_trials, sampler=a.sampler, pruner=a.pruner, target_ms=a.target_ms,
                           epochs=a.epochs, batch_size=a.batch_size, data=a.data, data_limit=a.data_limit,
                           seed=a.seed, population=a.population, sample=a.tournament, device=a.device or "auto",
                           amp=a.amp or "off", channels_last=channels_last_flag(a), workers=a.workers,
                           heartbeat_interval=a.heartbeat,
                           max_retry=a.max_retry, torch_threads=a.torch_threads, anchor=not a.no_anchor)
    if a.compare:
        read_compare(a.compare)
    storage = a.storage or default_storage(a.output)
    result = run_study(space, model.costs, cfg, storage=storage, study_name=a.study_name, join=a.worker)
    files = write_study_front(result, Path(a.output), num_classes=space.num_classes or 10, target_ms=a.target_ms,
                              title=f"{space.name}: accuracy after {a.epochs} epoch(s) vs predicted latency "
                                    f"({a.sampler})", compare=a.compare)
    p = result.pruning
    print(f"study {result.study_name!r} ({storage}): {dict(sorted(result.states.items()))}; {result.ran_here} trial(s) "
          f"ran here; pruning saved {p['epochs_saved']} of {p['epochs_run'] + p['epochs_saved']} epochs "
          f"({p['share_saved']:.0%}, {p['pruned']} trial(s) pruned)")
    print("wrote " + ", ".join(str(f) for f in files.values()))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from ..multitrial.pruning import PRUNERS
    from ..multitrial.samplers import SAMPLERS

    s = sub.add_parser("multitrial", help="multi-trial search on Optuna: train each sampled network, accuracy and "
                                          "latency together, any number of workers",
                       description="Samples networks with an Optuna sampler, trains each for --epochs with the retrain "
                                   "path, prices it with the latency model, and keeps the accuracy-latency front. "
                                   "Workers in other processes or machines join the same study with --worker and "
                                   "the same --storage. Writes points.csv, summary.csv, pareto_front.json and "
                                   "pareto.png into -o, as hwnas pareto does. Needs Optuna (pip install optuna).")
    add_space_args(s, default=None)
    add_latency_model_args(s, predictor_help="saved predictor with per-block costs (joblib)")
    s.add_argument("--data", default="digits-hard", help="digits-hard (default), digits, synthetic, "
                                                         "fashion-mnist[:DIR], idx:DIR, cifar10:DIR, folder:DIR")
    s.add_argument("--data-limit", type=positive_int, default=600, help="source images used (default 600)")
    s.add_argument("--n-trials", type=positive_int, default=20,
                   help="finished (complete or pruned) trials the study should have, over every worker (default 20)")
    s.add_argument("--sampler", choices=SAMPLERS, default="nsga2", help="default nsga2")
    s.add_argument("--pruner", choices=PRUNERS, default="median",
                   help="stop hopeless trials early: median (default), halving (successive halving), none")
    s.add_argument("--target-ms", type=positive_float, help="hard latency target (a constraint); without it, the whole "
                                                            "front")
    s.add_argument("--epochs", type=positive_int, default=2, help="training epochs per trial (default 2)")
    s.add_argument("--batch-size", type=bounded_int(1, 65_536), default=32)
    s.add_argument("--seed", type=seed_int, default=0, help="sampler seed; every network trains with this seed")
    s.add_argument("--population", type=bounded_int(2, 100_000), default=16,
                   help="NSGA-II / regularized evolution population (default 16)")
    s.add_argument("--no-anchor", action="store_true",
                   help="do not make the fastest network (under the latency model) the study's first trial; "
                        "without it, sampled networks rarely reach the fast end of the front")
    s.add_argument("--tournament", type=positive_int, default=4, help="regularized evolution sample size (default 4)")
    s.add_argument("--storage", help="the study's storage: sqlite:///study.db, postgresql://user@host/db, "
                                     "journal:PATH, grpc://HOST:PORT (default: sqlite in -o)")
    s.add_argument("--study-name", default="hwnas-multitrial")
    s.add_argument("--worker", action="store_true", help="join an existing study (started by another process)")
    s.add_argument("--heartbeat", type=positive_int, default=10,
                   help="seconds between heartbeats (RDB storage); a trial silent for twice this is failed and "
                        "retried (default 10)")
    s.add_argument("--max-retry", type=non_negative_int, default=3, help="retries of a failed worker's trial")
    s.add_argument("--torch-threads", type=bounded_int(1, 1024),
                   help="torch threads of this worker (default torch's: every core; give 1 when running one worker "
                        "per core)")
    s.add_argument("--compare", metavar="POINTS.csv", help="a hwnas pareto run's points.csv, drawn on the same plot")
    s.add_argument("-o", "--output", type=output_path, required=True, help="output folder")
    add_training_args(s, data=False)
    s.set_defaults(func=cmd_multitrial)
