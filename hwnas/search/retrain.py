"""Train a searched architecture as a plain network (from scratch or from the supernet's weights), then report
its test accuracy and, with a profiler backend, its measured latency."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..errors import UsageError
from ..io import atomic_write, atomic_write_json
from ..predictors.block_costs import BlockCosts
from ..space.builder import Network, build_model
from ..space.spaces import SearchSpace
from ..space.spec import ArchSpec
from .data import DataSplits, ImageData, batches, num_batches
from .run import RunDir, RunError
from .supernet import build_supernet
from .training import cosine_lr, evaluate, generator, seeded, set_lr, sgd

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

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["arch"] = self.arch.to_string()
        return d


def inherited_weights(run_dir: str | Path, arch: ArchSpec, space: SearchSpace) -> dict[str, torch.Tensor]:
    """The weights of ``arch`` taken from a search run's last supernet checkpoint."""
    ckpt = RunDir(run_dir).load_checkpoint()
    net = build_supernet(space)
    try:
        net.load_state_dict(ckpt["net"])
    except RuntimeError as exc:  # shapes or names of another space
        raise RunError(f"the supernet checkpoint in {run_dir} does not fit space {space.name!r} "
                       f"({str(exc).splitlines()[0][:200]})") from None
    return net.child_state_dict(arch)


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


def retrain(arch: ArchSpec, space: SearchSpace, data: DataSplits, config: RetrainConfig | None = None, *,
            init_from: str | Path | None = None, backend: Any = None, costs: BlockCosts | None = None,
            output: str | Path | None = None, progress: bool = True,
            log: Callable[[str], None] | None = logger.info, measure_rounds: int = 1) -> RetrainResult:
    """Train ``arch`` on ``data.train`` + ``data.valid`` (``config``, default :class:`RetrainConfig`) and test it.

    ``init_from`` (a search run directory) starts from the supernet's weights for ``arch``. ``backend`` (a
    profiler, e.g. ``create_backend("onnxruntime")``) measures the trained network's latency; ``costs`` adds the
    latency model's prediction. With ``output``, writes ``retrain.json`` and ``model.pt`` there.
    ``measure_rounds`` > 1 measures that many times and keeps the round with the lowest median: on a shared
    machine interference only ever adds time, so the fastest round is the least disturbed one.
    """
    cfg = config or RetrainConfig()
    epochs, batch_size, lr, seed = cfg.epochs, cfg.batch_size, cfg.lr, cfg.seed
    log = log or (lambda _msg: None)
    space.validate(arch)
    data.check_space(space)
    model: Network = seeded(lambda: build_model(arch, space, dropout=cfg.dropout), seed)
    if init_from is not None:
        model.load_state_dict(inherited_weights(init_from, arch, space))
    train = ImageData(torch.cat([data.train.x, data.valid.x]), torch.cat([data.train.y, data.valid.y]))
    opt = sgd(list(model.parameters()), lr=lr, momentum=cfg.momentum, nesterov=True, weight_decay=cfg.weight_decay)
    gen, nb = generator(seed + 2), num_batches(train, batch_size)
    history = []
    for epoch in range(epochs):
        model.train()
        total = correct = 0.0
        bar = tqdm(batches(train, batch_size, generator=gen), total=nb, disable=not progress, leave=False,
                   desc=f"retrain {epoch + 1}/{epochs}", unit="batch")
        for i, (x, y) in enumerate(bar):
            set_lr(opt, cosine_lr(lr, epoch * nb + i, epochs * nb))
            opt.zero_grad(set_to_none=True)
            out = model(x)
            loss = F.cross_entropy(out, y, label_smoothing=cfg.label_smoothing)
            if not torch.isfinite(loss):
                raise UsageError(f"retraining loss became NaN/inf in epoch {epoch + 1}; lower --lr")
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(y)
            correct += float((out.argmax(1) == y).sum())
        history.append({"epoch": epoch + 1, "train_loss": total / len(train), "train_acc": correct / len(train)})
        log(f"retrain epoch {epoch + 1}/{epochs}  loss {total / len(train):.3f}  acc {correct / len(train):.3f}")
    test_loss, test_acc = evaluate(model, data.test, batch_size)
    measured = None
    if backend is not None:
        shape = tuple(space.input_shape)
        column = backend.protocol.column  # the headline the latency model was made from
        rounds = [backend.measure(model, shape).to_dict() for _ in range(max(1, measure_rounds))]
        measured = min(rounds, key=lambda r: r[column])
        measured = {**measured, "headline": column}
        if len(rounds) > 1:
            measured = {**measured, f"round_{column}": [r[column] for r in rounds]}
    predicted = costs.arch_ms(arch, space) if costs is not None else None
    result = RetrainResult(arch, test_acc, test_loss, epochs, init_from is not None, predicted,
                           measured[measured["headline"]] if measured else None, measured, tuple(history))
    if output is not None:
        out = Path(output)
        atomic_write_json(out / "retrain.json", result.to_dict())
        state = {"arch": arch.to_string(), "space": space.to_dict(), "state_dict": model.state_dict()}
        atomic_write(out / "model.pt", lambda fh: torch.save(state, fh), mode="wb")
    return result
