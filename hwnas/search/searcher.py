"""The search loop. It knows only the three kinds of part (:mod:`hwnas.search.mixed`, :mod:`.optim`,
:mod:`.estim`): it builds the supernet with the method's mixed op, the architecture optimizer and the estimator
chain (:func:`hwnas.search.methods.resolve_parts`), runs the chain epoch by epoch with a checkpoint after each,
and exports the architecture the optimizer prefers (or the best one a search stage scored)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from ..errors import HwnasError, UsageError, round_up
from ..io import lock_holder, output_lock
from ..predictors.block_costs import BlockCosts
from ..space.spaces import SearchSpace
from ..space.spec import ArchSpec
from ..train.data import DataSplits, make_loader
from ..train.device import Runtime
from ..train.distributed import DistContext, setup
from ..train.training import WeightOptimizer, generator, restore_rng_state, rng_state, seeded, sgd
from .config import SearchConfig
from .estim import ESTIMATORS, SearchDiverged, SearchState
from .estim.base import summary
from .export import ExportedArch, export_arch, export_fixed, save_exported
from .latency_loss import check_latency_loss
from .methods import resolve_parts
from .mixed import MIXED_OPS
from .optim import OPTIMIZERS, check_fit
from .run import RunDir, RunError, temp_run_dir
from .supernet import build_supernet

logger = logging.getLogger(__name__)

EpochCallback = Callable[[int, dict[str, Any]], None]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


__all__ = ["SearchDiverged", "SearchResult", "check_costs", "check_target", "run_search"]


@dataclass(frozen=True)
class SearchResult:
    arch: ArchSpec
    predicted_ms: float
    expected_ms: float
    target_ms: float | None
    run_dir: Path
    history: tuple[dict[str, Any], ...]
    exported: ExportedArch
    # False when the architecture parameters (α, or a controller's) ended where they started in the epochs this call
    # ran: the exported network is then the latency model's pick from untrained α, not a searched one
    alpha_moved: bool = True
    # False for a run that only trained a supernet for a derivative-free optimizer (search rounds 0): its arch.json
    # is no searched network; ``--method evolution --supernet RUN`` searches it per target
    searched: bool = True

    @property
    def arch_string(self) -> str:
        return self.arch.to_string()


def check_costs(costs: BlockCosts, space: SearchSpace) -> None:
    """The latency model must have one cost per option of every decision of ``space``."""
    want = [len(labels) for labels in space.choice_labels()]
    shape = [len(c) for c in costs.costs]
    if shape != want:
        raise UsageError(f"the latency model has costs for {len(costs.costs)} decisions ({shape} options) but space "
                         f"{space.name!r} has {len(want)} ({want} options); was it built for another space?")


def check_target(costs: BlockCosts, config: SearchConfig) -> None:
    """Refuse a target no architecture of the space can meet, naming the smallest achievable latency."""
    if config.target_ms is None:
        return
    fastest = costs.min_ms()
    if config.target_ms < fastest:
        raise UsageError(f"target {config.target_ms:.4g} ms is below the fastest architecture in the space: the "
                         f"smallest achievable latency is {round_up(fastest)} ms under this latency model "
                         f"(slowest {costs.max_ms():.4g} ms)")
    optim = OPTIMIZERS.get(config.arch_optim or _method_optim(config))
    if optim.fits == "gradient" or optim.__name__ == "DirectGradOptim":
        check_latency_loss(config.latency_loss, config.target_ms, fastest)


def _method_optim(config: SearchConfig) -> str:
    from .methods import get_method

    return get_method(config.method).optim


def run_search(space: SearchSpace, costs: BlockCosts, data: DataSplits | None, config: SearchConfig, *,
               run_dir: str | Path | None = None, resume: bool = False,
               latency_fn: Callable[[ArchSpec], float] | None = None,
               callbacks: Sequence[EpochCallback] = (), log: Callable[[str], None] | None = logger.info,
               inputs: dict[str, Any] | None = None, train_loader: Any = None, valid_loader: Any = None,
               loss_fn: LossFn | None = None, weight_optimizer: WeightOptimizer | None = None) -> SearchResult:
    """Search ``space`` on ``data`` for ``config.target_ms`` under the latency model ``costs``.

    ``latency_fn`` (REINFORCE only) scores sampled architectures instead of ``costs`` (a predictor or a
    profiler). Writes the run directory (a temporary one if ``run_dir`` is None) and returns the exported
    argmax architecture with its predicted latency. ``callbacks(epoch, row)`` run after each saved epoch.
    ``inputs`` (plain data: the data set, latency-model files, ... the caller used) is recorded in config.json, so
    that a caller can continue the run from its directory alone; ``log`` gets the progress lines (None: silent).

    Started by torchrun (``WORLD_SIZE`` > 1), or in a process group the caller initialised, the search runs on
    every rank under DistributedDataParallel (:mod:`hwnas.train.distributed`): ``config.batch_size`` is then
    the per-rank batch, the global batch is ``batch_size × world_size``; only rank 0 writes ``run_dir`` and
    logs; callbacks run on every rank; every rank returns the same result.

    The device, mixed precision and DataLoader workers come from ``config`` (``device``, ``amp``, ``workers``).
    Instead of ``data`` the caller may pass its own ``train_loader`` and ``valid_loader`` (batches of (x, y); the
    validation loader feeds the architecture steps and the per-epoch evaluation), and may replace the weight
    step's loss (``loss_fn(logits, y)``, default cross-entropy with ``config.label_smoothing``) and its optimiser
    (``weight_optimizer(params)`` returning a ``torch.optim.Optimizer``, default SGD with Nesterov momentum and
    weight decay on conv / linear weights; its learning rate still follows the cosine schedule from
    ``config.init_lr``). ``--resume`` is exact when those loaders draw their order from seeded generators.
    """
    check_costs(costs, space)
    if config.supernet and run_dir is not None and Path(run_dir).resolve() == Path(config.supernet).resolve():
        raise UsageError(f"{run_dir} is the supernet run itself: give its search a folder of its own (-o), which "
                         f"--supernet {config.supernet} is read from")
    if config.supernet:  # a supernet of another space is what to say, before what this space's target misses
        _supernet_space(config, space)
    check_target(costs, config)
    if data is not None:
        data.check_space(space)
        for split, what in (("train", "training"), ("valid", "held-out (validation)")):
            n = len(getattr(data, split))
            if n < 2:  # BatchNorm cannot train on one image, and a split of one is no sample of the data
                raise UsageError(f"data {data.name!r} has {n} {what} image{'' if n == 1 else 's'}: a search needs "
                                 f"at least 2 in each split (use more of the data set)")
    elif train_loader is None or valid_loader is None:
        raise UsageError("run_search needs data (DataSplits) or both train_loader and valid_loader")
    ctx = setup()
    # one search per run directory: a second one (even with --resume) would mix two runs in it
    lock = output_lock(run_dir, "search run", folder=True) if run_dir is not None and ctx.is_main \
        else contextlib.nullcontext()
    try:
        with lock:
            return _search(space, costs, data, config, ctx, run_dir=run_dir, resume=resume, latency_fn=latency_fn,
                           callbacks=callbacks, log=(log if ctx.is_main else None) or (lambda _msg: None),
                           inputs=inputs, loaders=(train_loader, valid_loader), loss_fn=loss_fn,
                           weight_optimizer=weight_optimizer)
    finally:
        ctx.close()


def _started_channels_last(run_dir: Path) -> bool | None:
    """The memory format a resumed run trained in (``config.json`` ``runtime``), so that the default does not
    change it half-way: runs started before channels-last became the CPU's default trained contiguous."""
    try:
        runtime = RunDir(run_dir).config().get("runtime")
    except HwnasError:  # no run there yet (or a damaged one, which starting it reports): the default
        return None
    value = runtime.get("channels_last") if isinstance(runtime, dict) else None
    return value if isinstance(value, bool) else None


def _search(space: SearchSpace, costs: BlockCosts, data: DataSplits | None, config: SearchConfig, ctx: DistContext,
            *, run_dir: str | Path | None, resume: bool, latency_fn: Callable[[ArchSpec], float] | None,
            callbacks: Sequence[EpochCallback], log: Callable[[str], None], inputs: dict[str, Any] | None,
            loaders: tuple[Any, Any], loss_fn: LossFn | None, weight_optimizer: WeightOptimizer | None
            ) -> SearchResult:
    # one process: the configured device; under torchrun each rank's device comes from its local rank
    channels_last = config.channels_last
    if channels_last is None and resume and run_dir is not None:
        channels_last = _started_channels_last(Path(run_dir))
    rt = Runtime.create(ctx.device if ctx.enabled else config.device, config.amp, channels_last, space=space)
    if not ctx.enabled:
        ctx = replace(ctx, device=rt.device)
    cfg = config
    parts = resolve_parts(cfg)
    mixed = MIXED_OPS.create(parts["mixed_op"]["type"], _args(parts["mixed_op"]))
    optim = OPTIMIZERS.create(parts["optim"]["type"], _args(parts["optim"]), config=cfg, costs=costs, dist=ctx,
                              runtime=rt, latency_fn=latency_fn)
    check_fit(parts["optim"]["type"], mixed)
    stages = [ESTIMATORS.create(s["type"], {k: v for k, v in s.items() if k not in ("type", "epochs")},
                                epochs=int(s["epochs"])) for s in parts["stages"]]
    if cfg.supernet and stages and not any(est.epochs for est in stages):
        raise UsageError("a search of a trained supernet with 0 rounds would score nothing and export an unscored "
                         "network: give --search-rounds 1 or more")
    if not stages:
        if cfg.supernet:
            raise UsageError(f"--supernet is searched by a method that scores a trained supernet's networks "
                             f"(evolution, random), not {cfg.method}, which trains one")
        raise UsageError("the search has no stage to run (every estimator of the chain was left out)")
    # the supernet before the stages' checks: its data is what to say, before a target the stages refuse
    data_desc = data.describe() if data is not None else (
        f"user DataLoaders: {_loader_size(loaders[0])} train / {_loader_size(loaders[1])} valid images")
    supernet = _supernet_run(cfg, space, data_desc if data is not None else None, warn=ctx.is_main) \
        if cfg.supernet else None
    for est in stages:
        est.validate(cfg, space, costs, optim, latency_fn)
    if optim.derivative_free and all(est.trains for est in stages):
        raise UsageError(f"{optim.name} proposes whole architectures, which only a stage that scores them (inherited, "
                         f"subnet, or your own that trains nothing) can use, "
                         f"and the chain ({' -> '.join(est.name for est in stages)}) has none: it would export an "
                         f"unsearched network; add one (estim: {{search: {{type: inherited, epochs: 10}}}})")
    if data is None and any(est.name == "subnet" for est in stages):
        raise UsageError("the subnet estimator trains each candidate on the search's data splits; it cannot run on "
                         "your own DataLoaders")
    # the latency loss the gradient optimizers use (``auto`` resolved for this target and latency model)
    loss_used = getattr(optim, "latency_loss", None) if cfg.target_ms is not None else None

    def start() -> tuple[Path, dict[str, Any] | None]:  # rank 0 only: the others get its answer
        rd = RunDir(run_dir if run_dir is not None else temp_run_dir())
        extra = {"latency_fn": getattr(latency_fn, "__name__", type(latency_fn).__name__)} if latency_fn else {}
        if loss_used:
            extra["latency_loss"] = loss_used
        resolved = rd.describe(config, space, costs, data_desc, extra or None, inputs=inputs)
        resolved["parts"] = parts
        # every stage's settings with its defaults filled in: what this version ran, whatever the defaults later
        resolved["stages_resolved"] = [est.describe() for est in stages]
        resolved["optim_resolved"] = optim.describe()
        resolved["runtime"] = rt.describe()
        if supernet is not None:  # the state searched: a supernet trained further later scores otherwise
            resolved["supernet_epochs"] = int(supernet[1].get("epoch", -1)) + 1
        if ctx.enabled:
            resolved["distributed"] = ctx.describe()
        ckpt = rd.start(resolved, costs, resume=resume)
        write_experiment(rd, config, parts, inputs)
        return rd.path, ckpt

    path, ckpt = ctx.from_main(start)
    rd = RunDir(path)

    # the one placement path: the supernet (weights, α, BatchNorm buffers) on the run's device before any optimiser
    # is built, so their states live there too
    net = rt.place_module(ctx.prepare(seeded(lambda: build_supernet(space, dropout=cfg.dropout,
                                                                    weights=cfg.supernet_weights), cfg.seed)))
    net.set_mixed_op(mixed)
    gens = {"arch": generator(cfg.seed + 1), "data": generator(cfg.seed + 2), "valid": generator(cfg.seed + 3)}
    net.init_arch(cfg.arch_init_type, cfg.arch_init_ratio, gens["arch"])
    if supernet is not None:
        _load_supernet(net, supernet)
    # a search of a trained supernet trains nothing: it builds no optimiser (torch's first one imports its
    # compiler, ~1.4 s of a new target's process), and a round that scored no new architecture (the accuracy
    # predictor's rounds) is redone in milliseconds from the last checkpoint, so it writes none (a checkpoint holds
    # the whole supernet: saving one per round was a sixth of what a new target cost)
    search_only = supernet is not None and not any(s.trains and s.epochs for s in stages)
    weight_opt: torch.optim.Optimizer | None = None
    arch_opt: torch.optim.Optimizer | None = None
    if not search_only:
        if weight_optimizer is not None:
            weight_opt = weight_optimizer(net.weight_parameters())
        else:
            weight_opt = sgd(net.weight_parameters(), lr=cfg.init_lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                             weight_decay=cfg.weight_decay)
        arch_settings = optim.optimizer_settings() or dict(
            lr=cfg.arch_optim_lr, betas=(float(cfg.arch_adam_beta1), float(cfg.arch_adam_beta2)),
            eps=cfg.arch_adam_eps, weight_decay=cfg.arch_weight_decay)
        arch_params = optim.parameters(net)
        arch_opt = torch.optim.Adam(arch_params or [torch.nn.Parameter(torch.zeros(1))], **arch_settings)
        optim.bind(arch_opt)
    scaler = rt.scaler()
    history: list[dict[str, Any]] = []
    first = 0
    total = sum(s.epochs for s in stages)
    if ckpt is not None:
        try:
            net.load_state_dict(ckpt["net"])
            for opt, key in ((weight_opt, "weight_opt"), (arch_opt, "arch_opt")):
                if opt is not None:
                    opt.load_state_dict(ckpt[key])
            optim.load_state_dict(ckpt["strategy"])
            if scaler is not None and ckpt.get("scaler"):
                scaler.load_state_dict(ckpt["scaler"])
            restore_rng_state(gens, ckpt["rng"])
            history, first = list(ckpt["history"]), int(ckpt["epoch"]) + 1
        except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as exc:  # another run's, or edited
            raise RunError(f"the checkpoint in {rd.path} does not fit this run ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0][:200] if str(exc) else ''}); move it away to start over") \
                from None
        log(f"resuming {rd.path} after epoch {first} of {total}")
    # weight steps through DDP (a no-op wrapper in one process); α is averaged by the architecture steps
    model = ctx.wrap(net, net.arch_parameter_names())

    gb = cfg.batch_size * ctx.world_size  # the global batch: every rank takes its share of it
    train_loader, valid_loader = loaders
    if data is not None:
        n_train = len(data.train)
        # a last batch of one image would stop BatchNorm ("expected more than 1 value per channel"): drop it
        train_loader = make_loader(data.train, gb, generator=gens["data"], drop_last=n_train % gb == 1 and n_train > 1,
                                   workers=cfg.workers, device=rt.device)
        valid_loader = make_loader(data.valid, gb, generator=gens["valid"], drop_last=len(data.valid) >= gb,
                                   workers=cfg.workers, device=rt.device)
        eval_loader = make_loader(data.valid, gb, shuffle=False, workers=cfg.workers, device=rt.device)
    else:
        eval_loader = valid_loader
    nb = len(train_loader)
    if nb == 0:
        raise UsageError(f"the training data gives no batch of {gb} images: lower --batch-size")
    log(f"training on {rt.device}" + (f" ({rt.describe().get('device_name')})" if rt.device.type == "cuda" else "")
        + f", mixed precision {rt.amp}" + (", channels-last" if rt.channels_last else ""))
    log("parts: " + _describe_parts(parts))
    if loss_used and cfg.latency_loss != loss_used:
        log(f"latency loss {cfg.latency_loss}: {loss_used} for a target of {cfg.target_ms:.4g} ms and a fastest "
            f"network of {costs.min_ms():.4g} ms")
    if ctx.enabled:
        log(f"distributed search: {ctx.world_size} processes ({ctx.backend}), {cfg.batch_size} images per process "
            f"and step, global batch {gb}, {nb} steps per epoch")
    st = SearchState(net, model, optim, train_loader, valid_loader, cfg, weight_opt, arch_opt, gens, rd, ctx, nb, gb,
                     total, rt, costs, scaler, loss_fn, eval_loader, data=data, latency_fn=latency_fn, log=log)
    if supernet is not None:
        st.extra.update(supernet_dir=str(supernet[0]), supernet_epoch=int(supernet[1]["epoch"]), data_desc=data_desc)
    for est in stages:
        est.check(st)
        if not est.trains:
            st.extra["scoring"] = est.describe()
    before = [p.detach().clone() for p in optim.parameters(net)]
    for epoch in range(first, total):
        est, stage_epoch = _stage_of(stages, epoch)
        st.extra["epoch"] = epoch
        row = est.run_epoch(st, epoch, stage_epoch)
        ctx.check_in_sync(net, gens, f"in epoch {epoch + 1}")
        history.append(row)
        if ctx.is_main:
            rd.write_log(history)
        if ctx.is_main and not (search_only and row.get("new_scores") == 0 and epoch < total - 1):
            rd.save_checkpoint({"epoch": epoch, "net": net.state_dict(),
                                "weight_opt": weight_opt.state_dict() if weight_opt is not None else {},
                                "arch_opt": arch_opt.state_dict() if arch_opt is not None else {},
                                "strategy": optim.state_dict(),
                                "rng": rng_state(gens), "history": history, "config": cfg.to_dict(),
                                "scaler": scaler.state_dict() if scaler is not None else None,
                                "device": str(rt.device)})
        ctx.barrier()  # the epoch's checkpoint is on disk before any rank starts the next one
        log(summary(row, total, cfg.target_ms))
        for cb in callbacks:
            cb(epoch, row)

    moved = _alpha_moved(before, optim, net, stages, ran=first < total)
    exported = _export(st, stages, costs, cfg)
    if ctx.is_main:
        save_exported(exported, rd.file(RunDir.ARCH))
    ctx.barrier()
    if not moved:
        warning = (f"α never moved: no architecture step ran in the {total - first} epoch(s) of this search "
                   f"({'no search epoch' if not any(e.phase == 'search' and e.epochs for e in stages) else 'see log.csv: arch_loss is empty'}), "
                   f"so the exported network is not a searched one but the latency model's pick from the initial α; "
                   f"run search epochs (--epochs) with at least --arch-every batches each")
        logger.warning(warning)
        if log is not logger.info:
            log("warning: " + warning)
    if exported.argmax is not None:
        log(f"argmax architecture {exported.argmax} predicted {costs.arch_ms(exported.argmax, space):.4g} ms; "
            + ("fitted to the target" if moved else "α never moved: a network fitted to the target by the latency "
                                                   "model alone"))
    trained_only = optim.derivative_free and not any(not s.trains and s.epochs for s in stages)
    if trained_only:
        log(f"trained the supernet only (no search round): {rd.file(RunDir.ARCH)} holds an unsearched network; "
            f"search it for a target with --method evolution --supernet {rd.path} --target-ms T")
    else:
        log(f"exported {exported.arch} (predicted {exported.predicted_ms:.4g} ms"
            + (f", target {cfg.target_ms:.4g} ms" if cfg.target_ms else "") + f") to {rd.file(RunDir.ARCH)}")
    return SearchResult(exported.arch, exported.predicted_ms, exported.expected_ms, cfg.target_ms, rd.path,
                        tuple(history), exported, alpha_moved=moved, searched=not trained_only)


def _alpha_moved(before: list[torch.Tensor], optim: Any, net: Any, stages: list[Any], *, ran: bool) -> bool:
    """Whether the architecture parameters changed in the epochs just run (True where there is nothing to tell:
    nothing ran, or a derivative-free optimizer that keeps no α chose the network)."""
    if not ran or optim.derivative_free or any(not s.trains and s.epochs for s in stages):
        return True
    after = [p.detach() for p in optim.parameters(net)]
    if not after:
        return True
    return any(not torch.equal(a.to(b.device), b) for a, b in zip(before, after, strict=True))


def write_experiment(rd: RunDir, config: SearchConfig, parts: dict[str, Any], inputs: dict[str, Any] | None) -> None:
    """``experiment.yaml``: the resolved run in the experiment file's shape (``hwnas search --config`` reads it)."""
    import yaml

    from ..io import atomic_write_text
    from .experiment import to_experiment

    atomic_write_text(rd.file("experiment.yaml"), yaml.safe_dump(to_experiment(config, parts, inputs),
                                                                   sort_keys=False))


def _args(part: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in part.items() if k != "type"}


def _describe_parts(parts: dict[str, Any]) -> str:
    def one(p: dict[str, Any]) -> str:
        extra = ", ".join(f"{k}={v}" for k, v in p.items() if k != "type")
        return p["type"] + (f"({extra})" if extra else "")

    return (f"mixed op {one(parts['mixed_op'])}; optimizer {one(parts['optim'])}; estimators "
            + " -> ".join(one(s) for s in parts["stages"]))


def _stage_of(stages: list[Any], epoch: int) -> tuple[Any, int]:
    start = 0
    for est in stages:
        if epoch < start + est.epochs:
            return est, epoch - start
        start += est.epochs
    raise IndexError(epoch)  # pragma: no cover - the loop stops at the total


def _export(st: SearchState, stages: list[Any], costs: BlockCosts, cfg: SearchConfig) -> ExportedArch:
    """The optimizer's preferred architecture (argmax α, fitted to the target), or, after a search stage, the best
    architecture it scored within the constraint."""
    searcher = next((s for s in reversed(stages) if not s.trains), None)
    if searcher is None or searcher.epochs == 0:
        return export_arch(st.net, costs, cfg.target_ms, how=cfg.export, probs=st.optim.probabilities(st.net),
                           best=st.optim.best_indices(st.net))
    best = searcher.best(st)
    if best is None:
        raise UsageError("the search stage scored no architecture within the latency constraint; raise the band "
                         "(search_args band) or the rounds")
    return export_fixed(st.net.space.from_indices(best[0]), st.net.space, costs, cfg.target_ms, score=best[1])


def _supernet_space(cfg: SearchConfig, space: SearchSpace) -> tuple[RunDir, dict[str, Any]]:
    """The supernet run and its config.json, if it is a run trained on ``space`` (else one line saying what)."""
    from ..space.model_space import check_same_space

    rd = RunDir(cfg.supernet)
    if not rd.path.is_dir() or not rd.has_checkpoint:
        raise UsageError(f"the supernet run {cfg.supernet} (--supernet, or trainer.supernet in an experiment file) is not a "
                         "search run directory with a checkpoint.pt")
    saved = rd.config()
    check_same_space(saved.get("space"), space, f"the supernet run {rd.path}")
    if getattr(space, "kind", None) != "model" and saved.get("space") != space.to_dict():
        from ..profilers.records import diff_settings

        was = saved.get("space") or {}
        diff = diff_settings(was, space.to_dict(), have="supernet has", want="this search")
        raise UsageError(f"the supernet run {rd.path} was trained on another space ({was.get('name')}; "
                         f"{'; '.join(diff[:4])}{'; ...' if len(diff) > 4 else ''}): search it with that space")
    return rd, saved


def _supernet_run(cfg: SearchConfig, space: SearchSpace, data_desc: str | None = None, *, warn: bool = True
                  ) -> tuple[Path, dict[str, Any]]:
    """The trained supernet a search-only method starts from: its run directory and checkpoint, checked (``data_desc``:
    the data this search scores on, which must be the supernet's own)."""

    rd, saved = _supernet_space(cfg, space)
    if data_desc is not None and saved.get("data") and not str(saved["data"]).startswith("user DataLoaders") \
            and saved["data"] != data_desc:
        raise UsageError(f"the supernet run {rd.path} was trained on {saved['data']!r}, this search scores on "
                         f"{data_desc!r}: give it the supernet's data (--data, --data-limit, --augment), whose held-out images "
                         "it never trained on")
    model_space = getattr(space, "kind", None) == "model"

    def resolved(w: str) -> str:  # what "auto" builds: shared on the built-in spaces, separate on a model space
        return ("separate" if model_space else "shared") if w == "auto" else w

    weights = resolved(saved["search"].get("supernet_weights", "separate"))
    if not model_space and weights == "separate":  # first: no --supernet-weights makes this supernet searchable
        raise UsageError(f"the supernet run {rd.path} was trained with separate weights per candidate, which do not "
                         f"rank networks (every child's weights saw a sliver of the steps): train one with shared "
                         f"weights (--supernet-weights shared, --method spos or ofa)")
    if weights != resolved(cfg.supernet_weights):
        raise UsageError(f"the supernet run {rd.path} was trained with {weights} weights, this search asks for "
                         f"{resolved(cfg.supernet_weights)}: leave --supernet-weights out (a search takes the "
                         f"supernet's) or give {weights}")
    holder = lock_holder(rd.path, folder=True)
    if holder:  # its checkpoint is the epoch it is at, and changes under the search
        raise UsageError(f"the supernet run {rd.path} is still being trained ({holder}): search it when that "
                         f"finishes")
    ckpt = rd.load_checkpoint()
    done, planned = int(ckpt.get("epoch", -1)) + 1, _planned_epochs(saved)
    if warn and planned is not None and done < planned:
        logger.warning(f"the supernet run {rd.path} stopped after {done} of its {planned} epochs (killed?): its "
                       f"scores rank networks less well than a finished one's; finish it with hwnas search --resume "
                       f"-o {rd.path}")
    return rd.path, ckpt


def _planned_epochs(saved: dict[str, Any]) -> int | None:
    """The epochs a run was set to train its weights (warm-up included; not its search rounds, which train
    nothing), from its config.json; None if it does not say."""
    from .estim import ESTIMATORS
    from .methods import resolve_parts

    try:
        stages = (saved.get("parts") or {}).get("stages") or \
            resolve_parts(SearchConfig.from_dict(saved["search"]))["stages"]
        return sum(int(st["epochs"]) for st in stages if ESTIMATORS.get(st["type"]).trains)
    except (HwnasError, KeyError, TypeError, ValueError):
        return None


def _load_supernet(net: Any, supernet: tuple[Path, dict[str, Any]]) -> None:
    path, ckpt = supernet
    state = {k: v for k, v in ckpt["net"].items() if not k.endswith(".alpha") and k != "alpha"}
    try:
        missing, unexpected = net.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # the names fit but a shape does not: a checkpoint of another space or width
        first = next((ln.strip() for ln in str(exc).splitlines()[1:] if ln.strip()), str(exc))
        raise RunError(f"the supernet checkpoint in {path} does not fit this space ({first.rstrip('.')}): was it "
                       f"trained on another space, or copied from another run?") from None
    bad = [k for k in missing if not k.endswith("alpha")] + list(unexpected)
    if bad:
        raise RunError(f"the supernet checkpoint in {path} does not fit this space ({len(bad)} weights differ, e.g. "
                       f"{bad[0]})")


def _loader_size(loader: Any) -> str:
    try:
        return str(len(loader.dataset))
    except (AttributeError, TypeError):
        return "?"
