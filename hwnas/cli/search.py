"""``hwnas search``: a search run from flags, an experiment file or a run being resumed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import HwnasError, UsageError
from .flags import (
    DATA_LIMIT_HELP,
    SPACE_FLAGS,
    add_backend_args,
    add_latency_model_args,
    add_space_args,
    add_training_args,
    backend_from_args,
    bounded_int,
    channels_last_flag,
    finite_float,
    key_value,
    latency_model_from_args,
    non_negative_float,
    non_negative_int,
    output_path,
    positive_float,
    positive_int,
    seed_int,
    space_from_args,
)

# flag -> SearchConfig field
CONFIG_FLAGS = [
    ("--epochs", "n_epochs", non_negative_int, "search epochs after warm-up (default 120)"),
    ("--warmup-epochs", "warmup_epochs", non_negative_int, "warm-up epochs on random single paths (default 25)"),
    ("--batch-size", "batch_size", bounded_int(1, 65_536), "images per step and process (default 64; global batch: x processes)"),
    ("--init-lr", "init_lr", positive_float, "weight SGD learning rate (default 0.025)"),
    ("--binary-mode", "binary_mode", str, "full | two | full_v2 (default)"),
    ("--supernet-weights", "supernet_weights", str, "auto (default: shared for built-in spaces, separate for model "
                                                   "spaces) | separate (one set per candidate, as the ProxylessNAS "
                                                   "paper) | shared (built-in spaces: one largest MBConv per block, "
                                                   "Once-for-All style)"),
    ("--arch-lr", "arch_optim_lr", positive_float, "Adam learning rate of α (default 1e-3)"),
    ("--arch-init", "arch_init_type", str, "normal (default) | uniform"),
    ("--arch-init-ratio", "arch_init_ratio", non_negative_float, "default 1e-3"),
    ("--arch-every", "grad_update_arch_param_every", positive_int, "architecture step every N weight steps (default 5)"),
    ("--arch-steps", "grad_update_steps", positive_int, "architecture steps each time (default 1)"),
    ("--latency-loss", "latency_loss", str, "auto (default: mul#log where the target and the fastest "
                                                 "network are above 1 ms, else add#abs) | mul#log | add#linear | "
                                                 "mul#pow | add#abs (aims E[LAT] at the target; docs/search.md)"),
    ("--loss-alpha", "loss_alpha", finite_float, "mul#log α (default 0.2)"),
    ("--loss-beta", "loss_beta", finite_float, "mul#log / mul#pow β (default 0.3)"),
    ("--loss-lambda", "loss_lambda", finite_float, "add#linear / add#abs λ (default 0.1)"),
    ("--rl-preset", "rl_preset", str, "soft (default) | hard"),
    ("--rl-samples", "rl_samples", bounded_int(1, 100_000), "architectures per REINFORCE step (default 10)"),
    ("--label-smoothing", "label_smoothing", non_negative_float, "default 0.1"),
    ("--seed", "seed", seed_int, "default 0"),
    ("--export", "export", str, "fit (default: argmax fitted to the target under the latency model) | argmax"),
    ("--mixed-op", "mixed_op", str, "the method's mixed op, replaced: BinGate, BinGateUniform, WeightedSum, "
                                    "GumbelSum, Index"),
    ("--arch-optim", "arch_optim", str, "the method's architecture optimizer, replaced: binarygate, reinforce, "
                                        "darts, directgrad, enas, evolution, regularized-evolution, random, grid"),
    ("--search-rounds", "search_rounds", non_negative_int, "rounds of the derivative-free search after training "
                                                          "(spos, ofa, evolution, random; default 10)"),
    ("--supernet", "supernet", str, "a trained supernet run (spos, ofa, ...) to search without training it again "
                                    "(--method evolution or random), at any target and latency model"),
]
# flag -> SearchConfig field holding a part's settings (KEY=VALUE, repeatable; values read as YAML: 3, 0.5, true)
ARG_FLAGS = [
    ("--mixed-op-arg", "mixed_op_args", "a setting of the mixed op, e.g. hard=false (GumbelSum), binary_mode=two"),
    ("--optim-arg", "arch_optim_args", "a setting of the architecture optimizer, e.g. population=50 (evolution)"),
    ("--train-arg", "train_args", "a setting of the training estimator, e.g. sandwich=true distill=true (spos)"),
    ("--search-arg", "search_args", "a setting of the search stage, e.g. band=0.05 predictor=200 tie=1 bn=batch"),
]

# what `hwnas search` records in the run's config.json ("inputs") so that `--resume -o RUN` alone can continue it
INPUT_FLAGS = (*SPACE_FLAGS, "table", "predictor", "force", "data", "data_limit", "rl_latency", "augment")
BACKEND_FLAGS = ("backend", "threads", "measure_device", "batch", "warmup", "repeats", "min_time", "rounds",
                 "statistic", "jobs", "backend_opt")
DEFAULTS = {"data": "digits", "rl_latency": "model"}


def register(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("search", help="latency-constrained search (ProxylessNAS by default; --method for the others)",
                       description="Search a space for an architecture meeting --target-ms. Writes a run directory "
                                   "(config.json, log.csv, checkpoint.pt, arch.json); --resume continues a killed "
                                   "run. Started by torchrun (torchrun --nproc-per-node N -m hwnas search ...), it "
                                   "runs on all N processes under DistributedDataParallel; --batch-size is then per "
                                   "process.")
    add_space_args(s, default=None)
    add_latency_model_args(s, predictor_help="saved predictor (joblib) with block_costs(), e.g. a calibrated one")
    s.add_argument("--target-ms", type=positive_float, help="latency target T in ms (omit to search for accuracy only)")
    from ..search.methods import method_names

    s.add_argument("--method", choices=method_names(), metavar="METHOD",
                   help="a named method (docs/methods.md): grad = proxyless-g (default), rl = proxyless-r, darts, gdas, "
                        "gumbel, enas, spos, ofa, evolution, random")
    s.add_argument("--data", help="digits (default), digits-hard, fashion-mnist[:DIR], idx:DIR, cifar10:DIR, "
                                  "folder:DIR (train/<class> + val/<class>, or <class>/), synthetic")
    s.add_argument("--data-limit", type=positive_int, help=DATA_LIMIT_HELP)
    s.add_argument("-o", "--output", type=output_path, required=True, help="run directory")
    s.add_argument("--resume", action="store_true",
                   help="continue the run in --output from its last checkpoint (alone: with the inputs and "
                        "settings recorded in its config.json; settings given now override those that resuming "
                        "can change, such as --epochs, and the others are refused)")
    s.add_argument("--config", help="an experiment file in ModularNAS's shape (YAML or JSON: search_space, mixed_op, "
                                    "optim, estim, latency, trainer, data; docs/methods.md), or a JSON of search "
                                    "settings; flags override it")
    s.add_argument("--rl-latency", choices=["model", "measure"],
                   help="REINFORCE latency: the table/predictor (default) or measured with --backend")
    g = s.add_argument_group("search settings (override --config)")
    for flag, field, typ, help_ in CONFIG_FLAGS:
        g.add_argument(flag, dest=f"cfg_{field}", type=typ, help=help_)
    for flag, field, help_ in ARG_FLAGS:
        g.add_argument(flag, dest=f"arg_{field}", metavar="KEY=VALUE", action="append", type=key_value, help=help_)
    g.add_argument("--no-warmup", action="store_true", help="skip warm-up")
    g.add_argument("--quiet", action="store_true", help="no progress bars")
    add_training_args(s)
    add_backend_args(s, device_flag="--measure-device")
    s.set_defaults(func=cmd_search)


def _config(a: argparse.Namespace, saved: dict[str, Any] | None):
    """The search settings: the run's recorded ones when resuming (else ``--config`` or the defaults), with the
    flags given now on top. Resuming refuses the changes it cannot honour (:meth:`RunDir.check_compatible`)."""
    from ..search.config import SearchConfig

    if a.config and hasattr(a, "config_settings"):
        base = a.config_settings
    elif saved is not None:
        base = SearchConfig.from_dict(saved["search"])
    else:
        base = SearchConfig()
    changes = {field: getattr(a, f"cfg_{field}") for _, field, _, _ in CONFIG_FLAGS}
    for flag, field, _ in ARG_FLAGS:
        given = getattr(a, f"arg_{field}")
        if given:
            keys = [k for k, _ in given]
            twice = next((k for k in keys if keys.count(k) > 1), None)
            if twice is not None:
                raise UsageError(f"{flag} {twice} given twice ({', '.join(repr(v) for k, v in given if k == twice)}): "
                                 "give it once")
            changes[field] = {**(getattr(base, field) or {}), **dict(given)}
    changes.update(method=a.method, target_ms=a.target_ms, device=a.device, amp=a.amp, workers=a.workers,
                   channels_last=channels_last_flag(a))
    supernet = changes.get("supernet") or (base.supernet if saved is None else None)
    if supernet:  # recorded whole, as the table's path is, so that --resume works from any directory
        changes["supernet"] = str(Path(supernet).resolve())
    if a.no_warmup:
        changes["warmup"] = False
    if base.stages is None and (a.cfg_supernet or base.supernet) and \
            (a.cfg_n_epochs is not None or a.cfg_warmup_epochs is not None):
        raise UsageError("--epochs and --warmup-epochs train a supernet, and a search of a trained one (--supernet) "
                         "trains nothing: its rounds are --search-rounds")
    stage_flags = [f for f, v in (("--epochs", a.cfg_n_epochs), ("--warmup-epochs", a.cfg_warmup_epochs),
                                  ("--no-warmup", a.no_warmup or None), ("--search-rounds", a.cfg_search_rounds),
                                  ("--train-arg", a.arg_train_args), ("--search-arg", a.arg_search_args)) if v]
    if base.stages is not None and saved is not None and stage_flags:
        if a.config:
            raise UsageError(f"{stage_flags[0]} with --resume --config: the file's estim chain must be the run's as "
                             "it is; give --resume without --config to extend the run with the flag")
        raise UsageError(f"{stage_flags[0]} would change the estim chain this run was started with (from an experiment "
                         "file), which --resume continues as it is: start a new run with the flag")
    if base.stages is not None and saved is None:  # an experiment file's estim chain: the flags set its stages
        from ..search.methods import stages_with_flags

        changes["stages"] = stages_with_flags(
            base.stages, n_epochs=a.cfg_n_epochs, warmup_epochs=a.cfg_warmup_epochs, no_warmup=a.no_warmup,
            search_rounds=a.cfg_search_rounds, train_args=dict(a.arg_train_args or {}) or None,
            search_args=dict(a.arg_search_args or {}) or None)
    if saved is not None or a.quiet:
        changes["progress"] = not a.quiet
    cfg = base.override(**changes)
    from ..search.methods import check_alpha_flags

    check_alpha_flags(cfg, {field: flag for flag, field, _, _ in CONFIG_FLAGS if getattr(a, f"cfg_{field}") is not None})
    if cfg.stages is None:  # a named method's chain: a flag for a stage it lacks is refused, not dropped
        from ..search.methods import check_stage_flags, resolve_parts

        check_stage_flags(resolve_parts(cfg)["stages"], cfg.method, n_epochs=a.cfg_n_epochs,
                          warmup_epochs=a.cfg_warmup_epochs or None, search_rounds=a.cfg_search_rounds,
                          train_args=a.arg_train_args, search_args=a.arg_search_args)
    return cfg


def _supernet_record(a: argparse.Namespace, saved: dict[str, Any] | None) -> dict[str, Any] | None:
    """The config.json of the trained supernet this search starts from (``--supernet``, the experiment file's, or
    the resumed run's), or None (no supernet, or not a run: the search says so in one line)."""
    from ..search.run import RunDir

    path = a.cfg_supernet or getattr(getattr(a, "config_settings", None), "supernet", None) or \
        ((saved or {}).get("search") or {}).get("supernet")
    if not path or not RunDir(path).file(RunDir.CONFIG).is_file():
        return None
    try:
        return RunDir(path).config()
    except HwnasError:  # a damaged run is reported by the search itself, in one line
        return None


def _inputs(a: argparse.Namespace) -> dict[str, Any]:
    rec = {k: getattr(a, k) for k in INPUT_FLAGS}
    for k in ("table", "predictor"):  # the run can be resumed from another directory
        if rec.get(k):
            rec[k] = str(Path(rec[k]).resolve())
    rec["backend"] = {k: getattr(a, k) for k in BACKEND_FLAGS}
    return rec


def _recorded_inputs(a: argparse.Namespace, saved: dict[str, Any]) -> argparse.Namespace:
    """``--resume`` without a latency model: the inputs the run recorded, under the flags given now."""
    rec = saved.get("inputs")
    if not isinstance(rec, dict):
        raise UsageError(f"{Path(a.output) / 'config.json'} records no inputs (a run started before hwnas recorded "
                         "them, or by the Python API): give the original command again with --resume")
    merged = dict(vars(a))
    for k in INPUT_FLAGS:
        if merged.get(k) is None and rec.get(k) is not None:
            merged[k] = rec[k]
    merged.update({k: v for k, v in (rec.get("backend") or {}).items() if k in BACKEND_FLAGS})
    return argparse.Namespace(**merged)


def _record_space(a: argparse.Namespace, space: Any) -> None:
    """The space the latency model gave, as the flags that make it again (so that ``--resume`` and the run's
    experiment.yaml rebuild this space, not the named space's defaults); left to the latency model when no flags
    can make it (a space read from a published table)."""
    from ..space import get_space

    flags = {"resolution": space.resolution, "width_mult": space.width_mult, "kernels": tuple(space.kernels),
             "expands": tuple(space.expands), "num_classes": space.num_classes}
    try:
        same = get_space(space.name, **flags).to_dict() == space.to_dict()
    except HwnasError:
        same = False
    if same:
        a.space = space.name
        for k, v in flags.items():
            setattr(a, k, v)


def cmd_search(a: argparse.Namespace) -> int:
    from ..search.run import RunDir
    from ..search.searcher import run_search
    from ..train.data import data_for_space
    from ..train.distributed import is_main_process

    main = is_main_process()  # under torchrun, only rank 0 prints
    say = print if main else (lambda *_a, **_k: None)
    saved = None
    if a.config:  # also on --resume: the run then continues only if the file asks for the settings it recorded
        from ..search.experiment import load_experiment

        a.config_settings, file_inputs = load_experiment(a.config)
        for k, v in file_inputs.items():  # the file's space, latency model and data, unless a flag gives them
            if getattr(a, k, None) is None:
                setattr(a, k, v)
    if a.resume and RunDir(a.output).file(RunDir.CONFIG).exists():
        saved = RunDir(a.output).config()
        if not (a.table or a.predictor):
            a = _recorded_inputs(a, saved)
            say(f"resuming {a.output} with the inputs it recorded (config.json)")
    elif a.resume and not (a.table or a.predictor):
        raise UsageError(f"there is no search run to resume in {a.output} (no config.json"
                         + ("" if Path(a.output).exists() else "; the folder does not exist")
                         + "): start one without --resume, with a latency model (--table or --predictor)")
    supernet = _supernet_record(a, saved)
    if supernet:  # search a trained supernet on its own data, so that its held-out images are ones it never saw
        for k in ("data", "data_limit", "augment"):
            if getattr(a, k) is None:
                setattr(a, k, (supernet.get("inputs") or {}).get(k))
    for k, v in DEFAULTS.items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    given_space = any(getattr(a, k) is not None for k in SPACE_FLAGS)
    space = space_from_args(a) if given_space else None
    if not (a.table or a.predictor):
        raise UsageError("search needs a latency model: --table T.csv or --predictor P.joblib")
    model = latency_model_from_args(a, space)
    space = model.space if space is None else space
    if getattr(space, "kind", None) == "model" and a.table and a.target_ms is not None:
        raise UsageError("on a model space a table prices only the choices, not the rest of the network, so a "
                         "latency target would be compared with part of the latency: fit a calibrated predictor "
                         "(hwnas measure-archs ... ; hwnas predictor fit --kind calibrated) and pass --predictor")
    cfg = _config(a, saved)
    # the supernet's seed drew its train / held-out split: the same split, whatever seed this search draws with
    split_seed = int((supernet.get("search") or {}).get("seed", cfg.seed)) if supernet else cfg.seed
    data = data_for_space(a.data, space, seed=split_seed, limit=a.data_limit, augment=a.augment)
    say(data.describe())
    say(f"latency model: {model.costs.min_ms():.4g} ms (fastest) to {model.costs.max_ms():.4g} ms (slowest) for "
        f"{space.name}")
    from ..search.methods import resolve_parts
    from ..search.optim import OPTIMIZERS

    optim = OPTIMIZERS.get(resolve_parts(cfg)["optim"]["type"])
    # optimizers that score whole architectures can use any latency model (a fitted predictor, the device itself)
    scores_archs = optim.fits == "single_path"
    latency_fn = None
    if scores_archs and a.rl_latency == "measure":
        from ..space import build_model

        backend = backend_from_args(a)
        shape = (1, space.in_channels, space.resolution, space.resolution)

        def measured_ms(arch):
            return getattr(backend.measure(build_model(arch, space), shape), backend.protocol.column)

        latency_fn = measured_ms
    elif scores_archs and model.predictor is not None:
        pred = model.predictor

        def predicted_ms(arch):
            return float(pred.predict([arch])[0])

        latency_fn = predicted_ms
    if not given_space and getattr(space, "kind", None) != "model":
        _record_space(a, space)
    try:
        result = run_search(space, model.costs, data, cfg, run_dir=a.output, resume=a.resume, latency_fn=latency_fn,
                            inputs=_inputs(a))
    except KeyboardInterrupt:
        if main:
            print(f"\ninterrupted: finished epochs are kept in {a.output}; add --resume to continue.", file=sys.stderr)
        return 130
    say(f"arch          {result.arch}" + ("  (not searched: this run trained the supernet only)" if not result.searched
                                             else "" if result.alpha_moved else
                                             "  (not searched: α never moved, see the warning above)"))
    say(f"predicted     {result.predicted_ms:.4g} ms" + (f" (target {cfg.target_ms:.4g} ms)" if cfg.target_ms else ""))
    if cfg.supernet:  # train once, search many: what this target cost against the training
        from ..search.run import describe_cost, search_cost

        cost = search_cost(result.run_dir, cfg.supernet)
        if cost is not None:
            say(f"search cost   {describe_cost(cost)}")
    say(f"run directory {result.run_dir}")
    return 0
