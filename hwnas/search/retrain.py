"""Train a searched architecture as a plain network (from scratch or from the supernet's weights), then report
its test accuracy and, with a profiler backend, its measured latency."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..data import DataSplits, ImageData, batches, num_batches
from ..io import atomic_write, atomic_write_json
from ..predictors.block_costs import BlockCosts
from ..space.builder import Network, build_model
from ..space.spaces import SearchSpace
from ..space.spec import ArchSpec
from .run import RunDir
from .supernet import Supernet
from .training import cosine_lr, evaluate, generator, seeded, set_lr, sgd


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
    net = Supernet(space)
    net.load_state_dict(ckpt["net"])
    return net.child_state_dict(arch)


def retrain(arch: ArchSpec, space: SearchSpace, data: DataSplits, *, epochs: int = 30, batch_size: int = 64,
            lr: float = 0.05, momentum: float = 0.9, weight_decay: float = 4e-5, label_smoothing: float = 0.1,
            dropout: float = 0.0, seed: int = 0, init_from: str | Path | None = None, backend: Any = None,
            costs: BlockCosts | None = None, output: str | Path | None = None, progress: bool = True,
            log: Callable[[str], None] | None = print, measure_rounds: int = 1) -> RetrainResult:
    """Train ``arch`` on ``data.train`` + ``data.valid`` for ``epochs`` (SGD, cosine LR) and test it.

    ``init_from`` (a search run directory) starts from the supernet's weights for ``arch``. ``backend`` (a
    profiler, e.g. ``create_backend("onnxruntime")``) measures the trained network's latency; ``costs`` adds the
    latency model's prediction. With ``output``, writes ``retrain.json`` and ``model.pt`` there.
    ``measure_rounds`` > 1 measures that many times and keeps the round with the lowest median: on a shared
    machine interference only ever adds time, so the fastest round is the least disturbed one.
    """
    log = log or (lambda _msg: None)
    space.validate(arch)
    data.check_space(space)
    model: Network = seeded(lambda: build_model(arch, space, dropout=dropout), seed)
    if init_from is not None:
        model.load_state_dict(inherited_weights(init_from, arch, space))
    train = ImageData(torch.cat([data.train.x, data.valid.x]), torch.cat([data.train.y, data.valid.y]))
    opt = sgd(list(model.parameters()), lr=lr, momentum=momentum, nesterov=True, weight_decay=weight_decay)
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
            loss = F.cross_entropy(out, y, label_smoothing=label_smoothing)
            if not torch.isfinite(loss):
                raise ValueError(f"retraining loss became NaN/inf in epoch {epoch + 1}; lower --lr")
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(y)
            correct += float((out.argmax(1) == y).sum())
        history.append({"epoch": epoch + 1, "train_loss": total / len(train), "train_acc": correct / len(train)})
        log(f"retrain epoch {epoch + 1}/{epochs}  loss {total / len(train):.3f}  acc {correct / len(train):.3f}")
    test_loss, test_acc = evaluate(model, data.test, batch_size)
    measured = None
    if backend is not None:
        shape = (1, space.in_channels, space.resolution, space.resolution)
        rounds = [backend.measure(model, shape).to_dict() for _ in range(max(1, measure_rounds))]
        measured = min(rounds, key=lambda r: r["median_ms"])
        if len(rounds) > 1:
            measured = {**measured, "round_medians_ms": [r["median_ms"] for r in rounds]}
    predicted = costs.arch_ms(arch, space) if costs is not None else None
    result = RetrainResult(arch, test_acc, test_loss, epochs, init_from is not None, predicted,
                           measured["median_ms"] if measured else None, measured, tuple(history))
    if output is not None:
        out = Path(output)
        atomic_write_json(out / "retrain.json", result.to_dict())
        state = {"arch": arch.to_string(), "space": space.to_dict(), "state_dict": model.state_dict()}
        atomic_write(out / "model.pt", lambda fh: torch.save(state, fh), mode="wb")
    return result
