"""Bring your own model, measured (issue 15): for each example model space, the calibrated predictor on held-out
networks and a gradient search's exported network against its target, on this CPU with ONNX Runtime.

For ``examples/resnet_space.py:ResNetSpace`` (Fashion-MNIST sized, 1x1x28x28) and the NNI guide's network
(``examples/nni_mnist.py:Net``):

1. profile every candidate alone at the shape it sees (ONNX Runtime, 1 thread, the benchmarks' robust protocol:
   minimum over 3 interleaved passes of 10 runs);
2. measure ``--n-fit`` networks spread over the latency range and ``--n-test`` disjoint held-out ones end to end;
   fit the calibrated predictor (per-candidate LUT + per-decision and per-kind corrections + the rest of the model
   as a constant) and report its error on the held-out networks beside LUT-sum (which knows nothing of the layers
   outside the choices);
3. search (gradient, ``add#abs``, ``two`` mode, short schedule) on Fashion-MNIST (Debian's dataset-fashion-mnist;
   small generated 1-channel data where it is not installed) at the middle of the predicted range, measure the
   exported network with the same protocol and compare with the target (goal: within ±5%); then retrain it briefly
   from the supernet's weights and export it to ONNX (checked against torch): the whole pipeline on the user's model.

The guide's network has 2 decisions and 4 networks in all: its "held-out" set is each network predicted by a
predictor fitted on the other three (leave-one-out).

    python benchmarks/model_spaces.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))
from _common import measure_networks, robust_protocol, write_result  # noqa: E402

from hwnas.predictors import CalibratedPredictor, accuracy_report  # noqa: E402
from hwnas.predictors.archs import measure_archs  # noqa: E402
from hwnas.predictors.block_costs import lut_block_costs  # noqa: E402
from hwnas.profilers import build_table, create_backend  # noqa: E402
from hwnas.search import SearchConfig, run_search  # noqa: E402
from hwnas.space import ModelSpace  # noqa: E402
from hwnas.train.data import DataSplits, ImageData  # noqa: E402

SPACES = {"resnet_space": ("examples.resnet_space:ResNetSpace", (1, 1, 28, 28)),
          "nni_guide": ("examples.nni_mnist:Net", (1, 1, 28, 28))}


def toy_data(shape: tuple[int, ...], n: int, classes: int = 10, seed: int = 0) -> DataSplits:
    """Smooth class templates plus noise, in the model's input shape (1 channel)."""
    g = torch.Generator().manual_seed(seed)
    templates = torch.nn.functional.interpolate(torch.randn(classes, shape[1], 4, 4, generator=g), size=shape[2:],
                                                mode="bilinear", align_corners=False)

    def split(m: int) -> ImageData:
        y = torch.randint(classes, (m,), generator=g)
        return ImageData(templates[y] + 0.5 * torch.randn(m, *shape[1:], generator=g), y)

    return DataSplits("generated", split(n), split(n // 4), split(n // 4), classes)


def fashion_or_toy(space, shape: tuple[int, ...], n: int) -> DataSplits:
    """Fashion-MNIST (``n`` images) where Debian's package is installed, else generated images."""
    from hwnas.pareto.demo import fashion_mnist_available
    from hwnas.train.data import data_for_space

    if fashion_mnist_available():
        return data_for_space("fashion-mnist", space, limit=n)
    return toy_data(shape, n)


def run_space(name: str, a: argparse.Namespace, work: Path) -> dict:
    ref, shape = SPACES[name]
    space = ModelSpace(ref, shape)
    backend = create_backend("onnxruntime", threads=1, protocol=robust_protocol())
    t0 = time.perf_counter()
    table = build_table(space, backend, work / f"{name}-table.csv", progress=not a.quiet)
    costs = lut_block_costs(table, space)
    t_profile = time.perf_counter() - t0
    n_all = int(np.prod([len(labels) for labels in space.choice_labels()]))
    out: dict = {"model": ref, "input_shape": list(shape), "decisions": space.decision_names(),
                 "networks_in_space": n_all, "table_entries": len(table), "profile_s": t_profile,
                 "fingerprint": space.fingerprint}
    if n_all <= a.n_fit + a.n_test:  # a tiny space: every network, leave-one-out
        archs = [space.from_indices(np.unravel_index(i, [len(x) for x in space.choice_labels()])) for i in
                 range(n_all)]
        y = np.array(measure_networks(backend, archs, space))
        s = [str(x) for x in archs]
        pred = np.array([CalibratedPredictor(table=table).fit(s[:i] + s[i + 1:], np.delete(y, i)).predict([s[i]])[0]
                         for i in range(n_all)])
        lut = np.array([costs.arch_ms(x, space) for x in archs])
        out["protocol"] = "leave-one-out over every network of the space"
        out["calibrated"], out["lut_sum"] = accuracy_report(y, pred), accuracy_report(y, lut)
        fit_archs, fit_y = s, y
    else:
        fit = measure_archs(space, backend, work / f"{name}-fit.csv", n=a.n_fit, seed=1, progress=not a.quiet)
        test = measure_archs(space, backend, work / f"{name}-test.csv", n=a.n_test, seed=2,
                             exclude=set(fit.arch_strings), progress=not a.quiet)
        p = CalibratedPredictor(table=table).fit(fit.arch_strings, fit.latencies())
        out["protocol"] = f"{len(fit)} networks fitted, {len(test)} held out (disjoint)"
        out["calibrated"] = accuracy_report(test.latencies(), p.predict(test.arch_strings))
        out["lut_sum"] = accuracy_report(test.latencies(), np.array([costs.arch_ms(x, space) for x in test.archs()]))
        fit_archs, fit_y = fit.arch_strings, fit.latencies()
    model = CalibratedPredictor(table=table).fit(fit_archs, fit_y).block_costs()
    lo, hi = model.min_ms(), model.max_ms()
    target = round(lo + 0.5 * (hi - lo), 4)
    cfg = SearchConfig(target_ms=target, latency_loss="add#abs", loss_lambda=1.0, binary_mode="two",
                       grad_update_arch_param_every=1, arch_optim_lr=0.1, n_epochs=a.epochs, warmup_epochs=1,
                       batch_size=32, init_lr=0.05, progress=False)
    t0 = time.perf_counter()
    data = fashion_or_toy(space, shape, a.images)
    res = run_search(space, model, data, cfg, run_dir=work / f"{name}-run", log=None)
    t_search = time.perf_counter() - t0
    measured = measure_networks(backend, [res.arch], space)[0]
    from hwnas.search.inherit import inherited_weights
    from hwnas.train.retrain import RetrainConfig, retrain

    rt = retrain(res.arch, space, data, RetrainConfig(epochs=a.retrain_epochs, batch_size=32),
                 init_weights=inherited_weights(work / f"{name}-run", res.arch, space), output=work / f"{name}-retrained", progress=False, log=None,
                 formats=("onnx",))
    out["retrain"] = {"data": data.name, "epochs": a.retrain_epochs, "test_acc": rt.test_acc,
                      "exported": [dict(e) for e in rt.exported]}
    out["search"] = {"target_ms": target, "range_ms": [lo, hi], "arch": str(res.arch),
                     "predicted_ms": res.predicted_ms, "measured_ms": measured, "vs_target": measured / target - 1,
                     "within_5pct": abs(measured / target - 1) <= 0.05, "search_s": t_search}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--spaces", default=",".join(SPACES))
    p.add_argument("--n-fit", type=int, default=40)
    p.add_argument("--n-test", type=int, default=30)
    p.add_argument("--epochs", type=int, default=3, help="search epochs after 1 warm-up epoch")
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--retrain-epochs", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="CI-sized: 8 + 6 networks, 1 search epoch")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args()
    if a.quick:
        a.n_fit, a.n_test, a.epochs, a.images, a.retrain_epochs = 8, 6, 1, 128, 1
    torch.set_num_threads(1)
    results = {}
    with tempfile.TemporaryDirectory(prefix="hwnas-model-spaces-") as d:
        for name in a.spaces.split(","):
            r = run_space(name, a, Path(d))
            results[name] = r
            c, s = r["calibrated"], r["search"]
            print(f"{name}: calibrated within ±10% {c['within_10pct']:.0%} (±5% {c['within_5pct']:.0%}, MAPE "
                  f"{c['mape']:.1%}; LUT-sum ±10% {r['lut_sum']['within_10pct']:.0%}) — {r['protocol']}; search "
                  f"target {s['target_ms']:.4g} ms: measured {s['measured_ms']:.4g} ms ({s['vs_target']:+.1%}); "
                  f"retrained on {r['retrain']['data']}: accuracy {r['retrain']['test_acc']:.3f}, ONNX max diff "
                  f"{max((e.get('max_abs_diff', float('nan')) for e in r['retrain']['exported']), default=float('nan')):.2g}",
                  flush=True)
    path = write_result("model_spaces" + ("_quick" if a.quick else ""),
                        {"quick": a.quick, "backend": "onnxruntime", "threads": 1,
                         "protocol": robust_protocol().to_dict(), "spaces": results})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
