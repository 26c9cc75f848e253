"""One NNI 3.0 ``Proxyless`` search, run inside NNI's own virtual environment (never imported by hwnas).

Started by ``benchmarks/peers/nni_proxyless.py`` with the NNI venv's Python:

    .venv-nni/bin/python nni_worker.py --spec spec.json --data data.npz --out result.json

``spec.json`` (written by the hwnas side) describes the space layout of ``proxyless-cifar`` block by block, the
per-block latency costs of hwnas's table (milliseconds), the target and the schedule; ``data.npz`` holds the
digits splits exactly as hwnas prepared them. The network below mirrors ``hwnas.space.builder`` layer for layer
(conv-BN-ReLU6 stem, MBConv k/e candidates with a residual where the block keeps shape, ``zero`` = identity,
1x1 head conv, pooling, classifier) so that the exported choice names convert 1:1 into an hwnas architecture
string. Only the standard library, numpy, torch and NNI (with its Lightning) are imported here.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
import warnings
from pathlib import Path


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--spec", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    spec = json.loads(Path(a.spec).read_text())
    cfg = spec["config"]
    t_import = time.perf_counter()
    warnings.filterwarnings("ignore")
    import logging

    import numpy as np
    import torch
    from torch import nn

    torch.set_num_threads(int(cfg["threads"]))
    import nni
    import pytorch_lightning as pl
    from nni.mutable.symbol import SymbolicExpression
    from nni.nas.evaluator.pytorch import Classification, DataLoader
    from nni.nas.execution import SequentialExecutionEngine
    from nni.nas.nn.pytorch import LayerChoice, ModelSpace
    from nni.nas.oneshot.pytorch.profiler import ExpectationProfilerPenalty
    from nni.nas.profiler import ExpressionProfiler
    from nni.nas.space import RawFormatModelSpace
    from nni.nas.strategy import Proxyless

    for name in ("nni", "pytorch_lightning", "lightning_fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    import_s = time.perf_counter() - t_import

    # ---- the space, mirroring hwnas.space.builder --------------------------------------------------------
    def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True):
        layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
        if act:
            layers.append(nn.ReLU6(inplace=True))
        return nn.Sequential(*layers)

    class MBConv(nn.Module):
        def __init__(self, cin, cout, kernel, expand, stride, residual):
            super().__init__()
            mid = int(round(cin * expand))
            self.expand = conv_bn(cin, mid, 1) if expand != 1 else nn.Identity()
            self.depthwise = conv_bn(mid, mid, kernel, stride, groups=mid)
            self.project = conv_bn(mid, cout, 1, act=False)
            self.residual = residual

        def forward(self, x):
            y = self.project(self.depthwise(self.expand(x)))
            return x + y if self.residual else y

    class Zero(nn.Module):
        def forward(self, x):
            return x

    layout = spec["space"]

    class ProxylessCifar(ModelSpace):
        def __init__(self):
            super().__init__()
            self.stem = conv_bn(layout["in_channels"], layout["stem_out"], 3, layout["stem_stride"])
            so, fo = layout["stem_out"], layout["first_out"]
            self.first = MBConv(so, fo, 3, 1, 1, so == fo)
            blocks = []
            for b in layout["blocks"]:
                cands = {}
                for tok in b["choices"]:
                    if tok == "zero":
                        cands[tok] = Zero()
                    else:
                        k, e = tok[1:].split("e")
                        cands[tok] = MBConv(b["in_ch"], b["out_ch"], int(k), int(e), b["stride"], b["residual"])
                blocks.append(LayerChoice(cands, label=b["label"]))
            self.blocks = nn.Sequential(*blocks)
            self.head_conv = conv_bn(layout["last_ch"], layout["head_out"], 1)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Linear(layout["head_out"], layout["num_classes"])

        def forward(self, x):
            x = self.blocks(self.first(self.stem(x)))
            return self.classifier(torch.flatten(self.pool(self.head_conv(x)), 1))

    # ---- hwnas's latency table as an NNI expression profiler --------------------------------------------------
    costs = spec["costs"]

    class TableLatencyProfiler(ExpressionProfiler):
        """E[LAT] = const + Σ_blocks switch_case(choice, {name: ms}) over hwnas's per-block costs."""

        def __init__(self, model_space):
            super().__init__(model_space)
            mutables = model_space.simplify()
            expr = costs["const_ms"]
            for b, row in zip(layout["blocks"], costs["costs"], strict=True):
                expr = expr + SymbolicExpression.switch_case(mutables[b["label"]], dict(zip(b["choices"], row, strict=True)))
            self.expression = expr

    # ---- data -----------------------------------------------------------------------------------------------
    d = np.load(a.data)
    xs = {k: torch.from_numpy(d[f"x_{k}"]) for k in ("train", "valid", "test")}
    ys = {k: torch.from_numpy(d[f"y_{k}"]).long() for k in ("train", "valid", "test")}
    seed = int(cfg["seed"])
    pl.seed_everything(seed, workers=True)
    gen = torch.Generator().manual_seed(seed)
    bs = int(cfg["batch_size"])
    train_loader = DataLoader(torch.utils.data.TensorDataset(xs["train"], ys["train"]), batch_size=bs, shuffle=True,
                              generator=gen)
    valid_loader = DataLoader(torch.utils.data.TensorDataset(xs["valid"], ys["valid"]), batch_size=bs, shuffle=True,
                              generator=gen)

    class SmoothCE(nn.CrossEntropyLoss):
        def __init__(self):
            super().__init__(label_smoothing=float(cfg["label_smoothing"]))

    class NesterovSGD(torch.optim.SGD):
        def __init__(self, params, lr, weight_decay):
            super().__init__(params, lr=lr, momentum=float(cfg["momentum"]), nesterov=True,
                             weight_decay=weight_decay)

    epochs = int(cfg["warmup_epochs"]) + int(cfg["epochs"])
    times: list[float] = []

    class EpochTimer(pl.Callback):
        def on_train_epoch_start(self, trainer, module):
            self.t0 = time.perf_counter()

        def on_train_epoch_end(self, trainer, module):
            times.append(time.perf_counter() - self.t0)

    evaluator = Classification(criterion=SmoothCE, learning_rate=float(cfg["init_lr"]),
                               weight_decay=float(cfg["weight_decay"]), optimizer=NesterovSGD,
                               train_dataloaders=train_loader, val_dataloaders=valid_loader,
                               num_classes=layout["num_classes"], max_epochs=epochs, accelerator="cpu", devices=1,
                               enable_progress_bar=False, enable_model_summary=False, logger=False,
                               enable_checkpointing=False, num_sanity_val_steps=0, callbacks=[EpochTimer()])
    space = ProxylessCifar()
    penalty = None
    penalty_note = "none (accuracy only)"
    if spec.get("target_ms"):
        profiler = TableLatencyProfiler(space)
        penalty = ExpectationProfilerPenalty(profiler, baseline=float(spec["target_ms"]),
                                             scale=float(cfg["loss_lambda"]), nonlinear="absolute", aggregate="add")
        penalty_note = (f"ExpectationProfilerPenalty(TableLatencyProfiler, baseline={spec['target_ms']:.4g}, "
                        f"scale={cfg['loss_lambda']}, nonlinear='absolute', aggregate='add')")
    strategy = Proxyless(arc_learning_rate=float(cfg["arch_lr"]), warmup_epochs=int(cfg["warmup_epochs"]),
                         penalty=penalty)
    engine = SequentialExecutionEngine()
    base_rss = _rss_mb()
    t0 = time.perf_counter()
    strategy(RawFormatModelSpace.from_model(space, evaluator), engine)  # initialise + run: the whole search
    search_s = time.perf_counter() - t0
    peak = _peak_mb()

    module = strategy.oneshot_module
    supernet = strategy.supernet
    probs = module.export_probs()
    exported = next(strategy.list_models()).sample  # what NNI hands a user (Proxyless samples from softmax(α))
    argmax = {lab: max(pr, key=pr.get) for lab, pr in probs.items()}

    # Does NNI's expected-latency penalty carry a gradient to α? Check it on NNI's own objects.
    penalty_grad = None
    expected_ms = None
    if penalty is not None:
        loss = torch.zeros((), requires_grad=True)
        _, details = penalty(loss, module.export_probs())
        expected_ms = float(details["penalty"])
        pen = details["normalized_penalty"]
        penalty_grad = bool(isinstance(pen, torch.Tensor) and pen.requires_grad)

    # accuracy of the exported and argmax architectures with inherited supernet weights, per-batch BN statistics
    # (as hwnas evaluates its supernet)
    def accuracy(sample: dict) -> float:
        module.set_model(supernet)
        for m in module.supernet_modules():
            m.resample(memo=dict(sample))
        supernet.eval()
        for m in supernet.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.train()
                m.track_running_stats = False
        correct = 0
        with torch.no_grad():
            for i in range(0, len(ys["test"]), bs):
                out = supernet(xs["test"][i:i + bs])
                if isinstance(out, tuple):
                    out = out[0]
                correct += int((out.argmax(1) == ys["test"][i:i + bs]).sum())
        return correct / len(ys["test"])

    def arch_string(sample: dict) -> str:
        stages: dict[int, list[str]] = {}
        for b in layout["blocks"]:
            stages.setdefault(b["stage"], []).append(sample[b["label"]])
        return "|".join("-".join(stages[s]) for s in sorted(stages))

    n_params = sum(p.numel() for name, p in supernet.named_parameters() if "_arch_alpha" not in name)
    result = {
        "tool": "nni", "nni": nni.__version__, "torch": torch.__version__, "lightning": pl.__version__,
        "seed": seed, "epochs": epochs, "warmup_epochs": int(cfg["warmup_epochs"]), "epoch_s": times,
        "search_s": search_s, "import_s": import_s, "peak_rss_mb": peak, "rss_before_search_mb": base_rss,
        "arch": arch_string(exported), "argmax_arch": arch_string(argmax),
        "test_acc": accuracy(exported), "argmax_test_acc": accuracy(argmax),
        "expected_ms": expected_ms, "penalty": penalty_note, "penalty_has_gradient": penalty_grad,
        "supernet_params": n_params, "probs": {k: {c: round(v, 5) for c, v in pr.items()} for k, pr in probs.items()},
    }
    tmp = Path(a.out + ".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, a.out)


if __name__ == "__main__":
    sys.exit(main())
