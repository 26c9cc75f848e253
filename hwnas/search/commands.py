"""CLI subcommands for this package (wired into ``hwnas`` by hwnas/cli.py). Heavy imports stay inside the
command functions so that ``hwnas --help`` stays fast."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    """Add this package's subcommands to the top-level parser."""
    from ..cli import add_backend_args, add_space_args

    s = sub.add_parser("search", help="latency-constrained ProxylessNAS search (gradient or REINFORCE)",
                       description="Search a space for an architecture meeting --target-ms. Writes a run directory "
                                   "(config.json, command.json, log.csv, checkpoint.pt, arch.json); --resume continues a killed run. Started "
                                   "by torchrun (torchrun --nproc-per-node N -m hwnas search ...), it runs on all N "
                                   "processes under DistributedDataParallel; --batch-size is then per process.")
    add_space_args(s, default="proxyless-cifar")
    g = s.add_argument_group("latency model (one of)")
    g.add_argument("--table", help="latency table CSV (LUT-sum costs)")
    g.add_argument("--predictor", help="saved predictor (joblib) with block_costs(), e.g. a calibrated one")
    g.add_argument("--force", action="store_true", help="use a predictor fitted for another device anyway")
    s.add_argument("--target-ms", type=float, help="latency target T in ms (omit to search for accuracy only)")
    s.add_argument("--method", choices=["grad", "rl"], help="grad: Proxyless-G (default); rl: Proxyless-R")
    s.add_argument("--data", default="digits", help="digits (default), digits-hard, synthetic, cifar10:PATH, "
                                                     "folder:PATH")
    s.add_argument("--data-limit", type=int,
                   help="use at most this many source images (digits, cifar10; digits-hard makes 3 distorted "
                        "copies of each)")
    s.add_argument("-o", "--output", required=True, help="run directory")
    s.add_argument("--resume", action="store_true",
                   help="continue the run in --output from its last checkpoint (alone: with the flags it was "
                        "started with, kept in command.json; search settings given now override them)")
    s.add_argument("--config", help="search settings JSON (SearchConfig fields); flags override it")
    s.add_argument("--rl-latency", choices=["model", "measure"], default="model",
                   help="REINFORCE latency: the table/predictor (default) or measured with --backend")
    _add_config_flags(s)
    add_backend_args(s)
    s.set_defaults(func=cmd_search)

    r = sub.add_parser("retrain", help="train a searched architecture and report accuracy and measured latency")
    r.add_argument("source", nargs="?", help="search run directory or exported arch.json")
    r.add_argument("--arch", help="architecture string instead of a run (with --space ...)")
    add_space_args(r, default="proxyless-cifar")
    r.add_argument("--data", default="digits")
    r.add_argument("--data-limit", type=int)
    r.add_argument("--epochs", type=int, default=30)
    r.add_argument("--batch-size", type=int, default=64)
    r.add_argument("--lr", type=float, default=0.05)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--inherit", action="store_true", help="start from the supernet's weights (needs a run directory)")
    r.add_argument("--no-measure", action="store_true", help="skip measuring latency")
    r.add_argument("-o", "--output", help="write retrain.json and model.pt here")
    r.add_argument("--quiet", action="store_true")
    add_backend_args(r)
    r.set_defaults(func=cmd_retrain)


# flag -> SearchConfig field
_FLAGS = [
    ("--epochs", "n_epochs", int, "search epochs after warm-up (default 120)"),
    ("--warmup-epochs", "warmup_epochs", int, "warm-up epochs on random single paths (default 25)"),
    ("--batch-size", "batch_size", int, "images per step and process (default 64; global batch: x processes)"),
    ("--init-lr", "init_lr", float, "weight SGD learning rate (default 0.025)"),
    ("--binary-mode", "binary_mode", str, "full | two | full_v2 (default)"),
    ("--arch-lr", "arch_optim_lr", float, "Adam learning rate of α (default 1e-3)"),
    ("--arch-init", "arch_init_type", str, "normal (default) | uniform"),
    ("--arch-init-ratio", "arch_init_ratio", float, "default 1e-3"),
    ("--arch-every", "grad_update_arch_param_every", int, "architecture step every N weight steps (default 5)"),
    ("--arch-steps", "grad_update_steps", int, "architecture steps each time (default 1)"),
    ("--latency-loss", "latency_loss", str, "mul#log (default) | add#linear | mul#pow | add#abs"),
    ("--loss-alpha", "loss_alpha", float, "mul#log α (default 0.2)"),
    ("--loss-beta", "loss_beta", float, "mul#log / mul#pow β (default 0.3)"),
    ("--loss-lambda", "loss_lambda", float, "add#linear / add#abs λ (default 0.1)"),
    ("--rl-preset", "rl_preset", str, "soft (default) | hard"),
    ("--rl-samples", "rl_samples", int, "architectures per REINFORCE step (default 10)"),
    ("--label-smoothing", "label_smoothing", float, "default 0.1"),
    ("--seed", "seed", int, "default 0"),
    ("--export", "export", str, "fit (default: argmax fitted to the target under the latency model) | argmax"),
]


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("search settings (override --config)")
    for flag, field, typ, help_ in _FLAGS:
        g.add_argument(flag, dest=f"cfg_{field}", type=typ, help=help_)
    g.add_argument("--no-warmup", action="store_true", help="skip warm-up")
    g.add_argument("--quiet", action="store_true", help="no progress bars")


def _config(a: argparse.Namespace):
    from .config import SearchConfig

    base = SearchConfig.load(a.config) if a.config else SearchConfig()
    changes = {field: getattr(a, f"cfg_{field}") for _, field, _, _ in _FLAGS}
    changes.update(method=a.method, target_ms=a.target_ms)
    if a.no_warmup:
        changes["warmup"] = False
    if a.quiet:
        changes["progress"] = False
    return base.override(**changes)


def _latency_model(a: argparse.Namespace, space):
    """(BlockCosts, predictor or None) from --table or --predictor."""
    from ..predictors.block_costs import lut_block_costs
    from ..profilers import LatencyTable

    if bool(a.table) == bool(a.predictor):
        raise ValueError("search needs exactly one latency model: --table T.csv or --predictor P.joblib")
    if a.table:
        return lut_block_costs(LatencyTable.load(a.table), space), None
    from ..predictors import load_predictor

    pred = load_predictor(a.predictor)
    if not hasattr(pred, "block_costs"):
        raise ValueError(f"predictor {a.predictor} ({type(pred).__name__}) has no per-block costs, so it cannot "
                         f"give a differentiable latency; use a LUT-sum or calibrated predictor, or --table")
    try:
        costs = pred.block_costs(space)
    except TypeError:
        costs = pred.block_costs()
    return costs, pred


_NOT_SAVED = ("func", "output", "resume", "quiet")


def _save_command(a: argparse.Namespace) -> None:
    """Keep the flags a run was started with, so that ``--resume -o RUN`` alone can continue it."""
    import json

    from ..io import atomic_write_text
    from .run import RunDir

    saved = {k: v for k, v in vars(a).items() if k not in _NOT_SAVED}
    for k in ("table", "predictor", "config"):  # the run can be resumed from another directory
        if saved.get(k):
            saved[k] = str(Path(saved[k]).resolve())
    atomic_write_text(RunDir(a.output).file(RunDir.COMMAND), json.dumps(saved, indent=1, sort_keys=True, default=str))


def _saved_command(a: argparse.Namespace) -> argparse.Namespace:
    """``--resume`` without a latency model: the flags the run was started with, overridden by the search
    settings given now (``--epochs 200`` extends a run)."""
    import json

    from .run import RunDir

    path = RunDir(a.output).file(RunDir.COMMAND)
    if not path.exists():
        raise ValueError(f"--resume without --table/--predictor replays the run's {path}, which is not there (a "
                         "run started before hwnas wrote it, or not a run directory): give the original command "
                         "again with --resume")
    try:
        saved = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}): give the original command again with --resume") from None
    merged = {**vars(a), **{k: v for k, v in saved.items() if k not in _NOT_SAVED}}
    merged.update({k: v for k, v in vars(a).items() if k.startswith("cfg_") and v is not None})
    return argparse.Namespace(**merged)


def cmd_search(a: argparse.Namespace) -> int:
    from ..cli import backend_from_args, space_from_args
    from ..data import data_for_space
    from .distributed import is_main_process
    from .searcher import run_search

    main = is_main_process()  # under torchrun, only rank 0 prints
    say = print if main else (lambda *_a, **_k: None)
    if a.resume and not (a.table or a.predictor):
        a = _saved_command(a)
        say(f"resuming {a.output} with the flags it was started with (command.json)")
    space = space_from_args(a)
    cfg = _config(a)
    costs, pred = _latency_model(a, space)
    data = data_for_space(a.data, space, seed=cfg.seed, limit=a.data_limit)
    say(data.describe())
    say(f"latency model: {costs.min_ms():.4g} ms (fastest) to {costs.max_ms():.4g} ms (slowest) for {space.name}")
    latency_fn = None
    if cfg.method == "rl" and a.rl_latency == "measure":
        from ..space import build_model

        backend = backend_from_args(a)
        shape = (1, space.in_channels, space.resolution, space.resolution)

        def measured_ms(arch):
            return getattr(backend.measure(build_model(arch, space), shape), backend.protocol.column)

        latency_fn = measured_ms
    elif cfg.method == "rl" and pred is not None:
        def predicted_ms(arch):
            return float(pred.predict([arch])[0])

        latency_fn = predicted_ms
    from .run import RunDir

    callbacks = []
    if main and not RunDir(a.output).file(RunDir.CONFIG).exists():  # a new run (never over another run's flags)
        _save_command(a)
    elif main and a.resume:  # once the run has accepted these settings (--epochs N extends it)
        pending = [a]

        def save_once(_epoch: int, _row: dict) -> None:
            while pending:
                _save_command(pending.pop())

        callbacks.append(save_once)
    try:
        result = run_search(space, costs, data, cfg, run_dir=a.output, resume=a.resume, latency_fn=latency_fn,
                            callbacks=callbacks)
    except KeyboardInterrupt:
        if main:
            print(f"\ninterrupted: finished epochs are kept in {a.output}; add --resume to continue.", file=sys.stderr)
        return 130
    say(f"arch          {result.arch}")
    say(f"predicted     {result.predicted_ms:.4g} ms" + (f" (target {cfg.target_ms:.4g} ms)" if cfg.target_ms else ""))
    say(f"run directory {result.run_dir}")
    return 0


def cmd_retrain(a: argparse.Namespace) -> int:
    from ..cli import backend_from_args, space_from_args
    from ..data import data_for_space
    from .export import load_exported
    from .retrain import retrain
    from .run import RunDir

    costs, run_dir = None, None
    if a.source:
        src = Path(a.source)
        arch, space, _ = load_exported(src)
        if src.is_dir():
            run_dir = src
            if RunDir(src).file(RunDir.COSTS).exists():
                costs = RunDir(src).costs()
    elif a.arch:
        space = space_from_args(a)
        arch = space.parse(a.arch)
    else:
        raise ValueError("retrain needs a search run directory, an arch.json, or --arch with --space")
    if a.inherit and run_dir is None:
        raise ValueError("--inherit needs a search run directory (it holds the supernet checkpoint)")
    data = data_for_space(a.data, space, seed=a.seed, limit=a.data_limit)
    backend = None if a.no_measure else backend_from_args(a)
    res = retrain(arch, space, data, epochs=a.epochs, batch_size=a.batch_size, lr=a.lr, seed=a.seed,
                  init_from=run_dir if a.inherit else None, backend=backend, costs=costs, output=a.output,
                  progress=not a.quiet, log=None if a.quiet else print)
    print(f"arch          {arch}")
    print(f"test accuracy {res.test_acc:.4f} ({data.name}, {len(data.test)} images; "
          f"{'inherited supernet weights' if res.inherited else 'from scratch'}, {res.epochs} epochs)")
    if res.measured_ms is not None:
        print(f"measured      {res.measured_ms:.4g} ms median ({backend.name}, {backend.threads} thread(s))")
    if res.predicted_ms is not None:
        extra = f" ({res.predicted_ms / res.measured_ms - 1:+.1%} vs measured)" if res.measured_ms else ""
        print(f"predicted     {res.predicted_ms:.4g} ms{extra}")
    if a.output:
        print(f"wrote {Path(a.output) / 'retrain.json'} and model.pt")
    return 0
