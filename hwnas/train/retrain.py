"""Train a searched architecture as a plain network (from scratch or from the supernet's weights), then report
its test accuracy and, with a profiler backend, its measured latency."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..errors import UsageError
from ..io import atomic_write_json, bar_disabled
from ..predictors.block_costs import BlockCosts
from ..space.builder import Network, build_model
from ..space.spaces import SearchSpace
from ..space.spec import ArchSpec
from .data import DataSplits, ImageSet, make_loader
from .deploy import ExportCheck, check_export, export_file, has_executorch, recalibrate_bn, save_model
from .device import Runtime
from .training import WeightOptimizer, cosine_lr, evaluate, generator, seeded, set_lr, sgd

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetrainResult:
    arch: ArchSpec
    test_acc: float
    test_loss: float
    epochs: int
    inherited: bool
    predicted_ms: float | None
    measured_ms: float | None
    measured: dict[str, Any] | None
    history: tuple[dict[str, float], ...]
    runtime: dict[str, Any] | None = None
    exported: tuple[dict[str, Any], ...] = ()
    recalibrated_images: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["arch"] = self.arch.to_string()
        return d


@dataclass(frozen=True)
class RetrainConfig:
    """How a searched architecture is trained as a plain network: SGD with Nesterov momentum and a cosine learning
    rate over ``epochs``, weight decay on conv / linear weights, label smoothing."""

    epochs: int = 30
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 4e-5
    label_smoothing: float = 0.1
    dropout: float = 0.0
    seed: int = 0
    device: str = "auto"                 # auto | cpu | cuda | cuda:N
    amp: str = "off"                     # off | bf16 | fp16 (CUDA only)
    channels_last: bool | None = None    # None: on for built-in spaces, off for model spaces
    workers: int | None = None           # DataLoader worker processes (None: 0 for in-memory data)
    recalibrate_batches: int = 50        # BatchNorm re-estimation for inherited weights (0: off)

    def __post_init__(self) -> None:
        problems = []
        if self.epochs < 0:
            problems.append(f"epochs must be >= 0, not {self.epochs}")
        if self.batch_size < 1:
            problems.append(f"batch_size must be >= 1, not {self.batch_size}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            problems.append(f"lr must be a positive number, not {self.lr}")
        if not 0 <= self.momentum < 1:
            problems.append(f"momentum must be in [0, 1), not {self.momentum}")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            problems.append(f"weight_decay must be >= 0, not {self.weight_decay}")
        if not 0 <= self.label_smoothing < 1:
            problems.append(f"label_smoothing must be in [0, 1), not {self.label_smoothing}")
        if not 0 <= self.dropout < 1:
            problems.append(f"dropout must be in [0, 1), not {self.dropout}")
        if problems:
            raise UsageError("invalid retrain settings: " + "; ".join(problems))


def least_disturbed(backend: Any, model: torch.nn.Module, shape: tuple[int, ...], rounds: int) -> dict[str, Any]:
    """``model`` measured ``rounds`` times on ``backend``; the round with the lowest headline (the protocol's
    column, which the latency model was made from: ``headline``), with every round's headline when more than one."""
    column = backend.protocol.column
    runs = [backend.measure(model, shape).to_dict() for _ in range(max(1, rounds))]
    measured = {**min(runs, key=lambda r: r[column]), "headline": column}
    if len(runs) > 1:
        measured[f"round_{column}"] = [r[column] for r in runs]
    return measured


def retrain(arch: ArchSpec, space: SearchSpace, data: DataSplits | None, config: RetrainConfig | None = None, *,
            init_weights: dict[str, torch.Tensor] | None = None, backend: Any = None, costs: BlockCosts | None = None,
            output: str | Path | None = None, progress: bool = True,
            log: Callable[[str], None] | None = logger.info, measure_rounds: int = 1,
            train_loader: Any = None, test_loader: Any = None,
            loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
            optimizer: WeightOptimizer | None = None, formats: tuple[str, ...] | None = None,
            on_epoch: Callable[[dict[str, float]], None] | None = None) -> RetrainResult:
    """Train ``arch`` on ``data.train`` + ``data.valid`` (``config``, default :class:`RetrainConfig`) and test it.

    ``init_weights`` (a state dict for ``build_model(arch, space)``, e.g. the supernet's weights for ``arch`` from
    :func:`hwnas.search.inherit.inherited_weights`) starts from those weights; their BatchNorm statistics are then
    re-estimated on training batches before the test and the export. ``backend`` (a
    profiler, e.g. ``create_backend("onnxruntime")``) measures the trained network's latency; ``costs`` adds the
    latency model's prediction. With ``output``, writes ``retrain.json``, ``model.pt`` and the deployable files
    (``formats``; default ``onnx``, plus ``pte`` when ExecuTorch is installed), each checked against torch's
    outputs on a test batch. Instead of ``data``: ``train_loader`` and ``test_loader``; ``loss_fn`` and
    ``optimizer`` (a factory ``params -> Optimizer``) replace the default loss and SGD. ``on_epoch`` is called
    with each epoch's history row (``epoch``, ``train_loss``, ``train_acc``, ``train_s``) as the epoch ends; what it
    raises stops the training and propagates (the multi-trial search prunes hopeless trials this way).
    ``measure_rounds`` > 1 measures that many times and keeps the round with the lowest median: on a shared
    machine interference only ever adds time, so the fastest round is the least disturbed one.
    """
    cfg = config or RetrainConfig()
    epochs, batch_size, lr, seed = cfg.epochs, cfg.batch_size, cfg.lr, cfg.seed
    log = log or (lambda _msg: None)
    space.validate(arch)
    rt = Runtime.create(cfg.device, cfg.amp, cfg.channels_last, space=space)
    gen = generator(seed + 2)
    calib_loader = None
    if data is not None:
        data.check_space(space)
        train_set = data.train_all()
        if len(train_set) < 2 or len(data.test) == 0:
            raise UsageError(f"data {data.name!r} has {len(train_set)} training and {len(data.test)} test images: "
                             f"training needs at least 2 (BatchNorm cannot train on one) and testing 1")
        n = len(train_set)
        train_loader = make_loader(train_set, batch_size, generator=gen, workers=cfg.workers, device=rt.device,
                                   drop_last=n % batch_size == 1 and n > 1)
        test_loader = make_loader(data.test, batch_size, shuffle=False, workers=cfg.workers, device=rt.device)
        plain = train_set.with_augment(False) if isinstance(train_set, ImageSet) else train_set
        calib_loader = make_loader(plain, batch_size, generator=generator(seed + 5), workers=cfg.workers)
    elif train_loader is None or test_loader is None:
        raise UsageError("retrain needs data (DataSplits) or both train_loader and test_loader")
    else:
        calib_loader = train_loader
    model: Network = seeded(lambda: build_model(arch, space, dropout=cfg.dropout), seed)
    if init_weights is not None:
        model.load_state_dict(init_weights)
    model = rt.place_module(model)
    params = list(model.parameters())
    opt = optimizer(params) if optimizer is not None else sgd(params, lr=lr, momentum=cfg.momentum, nesterov=True,
                                                               weight_decay=cfg.weight_decay)
    scaler = rt.scaler()
    nb = len(train_loader)
    history = []
    for epoch in range(epochs):
        model.train()
        started = time.perf_counter()
        # loss and hits stay on the device (no host sync per step); read, and checked, once per epoch
        sums = torch.zeros(3, dtype=torch.float64, device=rt.device)  # Σ loss·n, hits, images
        bar = tqdm(total=nb, disable=bar_disabled(progress), leave=False, desc=f"retrain {epoch + 1}/{epochs}", unit="batch")
        for i, (x, y) in enumerate(train_loader):  # not tqdm(loader): it would call iter() twice (see searcher)
            bar.update()
            set_lr(opt, cosine_lr(lr, epoch * nb + i, epochs * nb))
            x, y = rt.place_batch(x, y)
            opt.zero_grad(set_to_none=True)
            with rt.autocast():
                out = model(x)
            out = out.float()
            loss = (loss_fn(out, y) if loss_fn is not None
                    else F.cross_entropy(out, y, label_smoothing=cfg.label_smoothing))
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
            with torch.no_grad():
                sums[0] += loss.detach().double() * len(y)
                sums[1] += (out.argmax(1) == y).sum()
                sums[2] += len(y)
        bar.close()
        total, correct, seen = sums.tolist()  # waits for the device: the epoch's steps are done
        train_s = time.perf_counter() - started
        if not math.isfinite(total):
            raise UsageError(f"retraining loss became NaN/inf in epoch {epoch + 1}; lower --lr")
        seen = max(seen, 1)
        history.append({"epoch": epoch + 1, "train_loss": total / seen, "train_acc": correct / seen,
                        "train_s": train_s})
        log(f"retrain epoch {epoch + 1}/{epochs}  loss {total / seen:.3f}  acc {correct / seen:.3f}")
        if on_epoch is not None:
            on_epoch(history[-1])
    recalibrated = 0
    if init_weights is not None and cfg.recalibrate_batches > 0:
        recalibrated = recalibrate_bn(model, calib_loader, cfg.recalibrate_batches, rt)
        log(f"BatchNorm statistics re-estimated on {recalibrated} training images (inherited supernet weights)")
    test_loss, test_acc = evaluate(model, test_loader, batch_size, runtime=rt)
    model = model.cpu().to(memory_format=torch.contiguous_format).eval()
    measured = None
    if backend is not None:
        measured = least_disturbed(backend, model, tuple(space.input_shape), measure_rounds)
    predicted = costs.arch_ms(arch, space) if costs is not None else None
    checks: list[ExportCheck] = []
    if output is not None:
        out_dir = Path(output)
        save_model(out_dir / "model.pt", model, arch, space, {"runtime": rt.describe()})
        wanted = formats if formats is not None else (("onnx", "pte") if has_executorch() else ("onnx",))
        x_check = next(iter(test_loader))[0][:8]
        for fmt in wanted:
            path = export_file(model, space, out_dir / f"model.{fmt}", fmt)
            checks.append(check_export(path, model, x_check))
            log(f"wrote {path}: max |{fmt} - torch| = {checks[-1].max_abs_diff:.2e} on {checks[-1].images} test "
                f"images (tolerance {checks[-1].tolerance:g})")
    result = RetrainResult(arch, test_acc, test_loss, epochs, init_weights is not None, predicted,
                           measured[measured["headline"]] if measured else None, measured, tuple(history), rt.describe(),
                           tuple(c.to_dict() for c in checks), recalibrated)
    if output is not None:
        atomic_write_json(Path(output) / "retrain.json", result.to_dict())
    return result
