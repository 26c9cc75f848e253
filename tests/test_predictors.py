from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone

from hwnas.predictors import (
    ArchDataset,
    CalibratedPredictor,
    FittedPredictor,
    FlopsLinearPredictor,
    LUTSumPredictor,
    TransferPredictor,
    accuracy_report,
    expected_latency_ms,
    load_predictor,
    measure_archs,
    plan_archs,
    read_arch_list,
    save_predictor,
)
from hwnas.profilers import ROBUST, TableError, TableMismatchError, build_table, create_backend
from hwnas.space import get_space

CIFAR = dict(width_mult=0.35)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """A fake device whose whole networks are slower than the sum of their layers (a non-additive term)."""
    d = tmp_path_factory.mktemp("syn")
    space = get_space("proxyless-cifar", **CIFAR)
    dev = create_backend("fake", nonadditive=0.08, noise=0.005)
    table = build_table(space, dev, d / "t.csv", progress=False)
    train = measure_archs(space, dev, d / "train.csv", n=60, seed=1, progress=False)
    test = measure_archs(space, dev, d / "test.csv", n=40, seed=2, exclude=set(train.arch_strings), progress=False)
    return space, table, train, test


def test_plan_covers_the_latency_range_and_is_disjoint():
    space = get_space("proxyless-mobile")
    plan = plan_archs(space, 40, seed=0)
    macs = np.array([space.macs(a) for a in plan])
    uniform = np.array([space.macs(space.sample(s)) for s in range(200)])
    assert len({str(a) for a in plan}) == 40
    assert macs.min() < np.percentile(uniform, 2) and macs.max() > np.percentile(uniform, 98)
    other = plan_archs(space, 40, seed=1, exclude={str(a) for a in plan})
    assert not {str(a) for a in plan} & {str(a) for a in other}
    assert [str(a) for a in plan_archs(space, 40, seed=0)] == [str(a) for a in plan]


@pytest.mark.parametrize("cls", [CalibratedPredictor, FittedPredictor])
def test_predictors_beat_lut_sum_on_a_non_additive_device(synthetic, cls):
    space, table, train, test = synthetic
    lut = accuracy_report(test.latencies(), LUTSumPredictor(table=table).fit().predict(test.arch_strings))
    pred = cls(table=table).fit(train.arch_strings, train.latencies())
    r = accuracy_report(test.latencies(), pred.predict(test.arch_strings))
    assert lut["within_10pct"] < 0.5  # the non-additive term defeats the plain sum
    assert r["mape"] < lut["mape"] / 3
    assert r["within_10pct"] >= 0.95


def test_flops_linear_is_a_weaker_baseline(synthetic):
    space, table, train, test = synthetic
    flops = FlopsLinearPredictor(table=table).fit(train.arch_strings, train.latencies())
    cal = CalibratedPredictor(table=table).fit(train.arch_strings, train.latencies())
    assert accuracy_report(test.latencies(), flops.predict(test.arch_strings))["mape"] > \
        accuracy_report(test.latencies(), cal.predict(test.arch_strings))["mape"]


def test_calibrated_expected_latency_matches_predictions_and_finite_differences(synthetic):
    space, table, train, _ = synthetic
    cal = CalibratedPredictor(table=table).fit(train.arch_strings, train.latencies())
    costs = cal.block_costs()
    arch = space.sample(7)
    one_hot = [torch.tensor([1.0 if c == b else 0.0 for c in p.choices], dtype=torch.float64)
               for p, b in zip(space.positions(), arch.blocks, strict=True)]
    assert float(expected_latency_ms(one_hot, costs)) == pytest.approx(cal.predict([str(arch)])[0], rel=1e-9)

    gen = torch.Generator().manual_seed(0)
    alphas = [torch.randn(len(p.choices), generator=gen, dtype=torch.float64, requires_grad=True)
              for p in space.positions()]
    e = expected_latency_ms([torch.softmax(a, 0) for a in alphas], costs)
    e.backward()
    eps = 1e-6
    for b in (0, 5, 20):
        for i in range(len(alphas[b])):
            with torch.no_grad():
                plus = [a.clone() for a in alphas]
                minus = [a.clone() for a in alphas]
                plus[b][i] += eps
                minus[b][i] -= eps
                fd = (expected_latency_ms([torch.softmax(a, 0) for a in plus], costs)
                      - expected_latency_ms([torch.softmax(a, 0) for a in minus], costs)) / (2 * eps)
            assert alphas[b].grad[i].item() == pytest.approx(fd.item(), rel=1e-5, abs=1e-9)
    assert any(a.grad.abs().sum() > 0 for a in alphas)


def test_fitted_predictor_gives_uncertainty_and_clones(synthetic):
    space, table, train, test = synthetic
    pred = FittedPredictor(table=table, n_ensemble=4).fit(train.arch_strings, train.latencies())
    mean, std = pred.predict(test.arch_strings[:5], return_std=True)
    assert mean.shape == std.shape == (5,) and (std >= 0).all() and (std > 0).any()
    assert pred.model_name_ in pred.cv_scores_
    c = clone(pred)
    assert not hasattr(c, "estimator_") and c.get_params()["n_ensemble"] == 4


def test_transfer_to_a_new_device_improves_with_k(synthetic, tmp_path):
    space, table, train, test = synthetic
    base = CalibratedPredictor(table=table).fit(train.arch_strings, train.latencies())
    dev_b = create_backend("fake", ms_per_mmac=0.009, ms_per_layer=0.03, nonadditive=0.05, noise=0.005)
    b_train = measure_archs(space, dev_b, tmp_path / "b_train.csv", n=30, seed=3, progress=False)
    b_test = measure_archs(space, dev_b, tmp_path / "b_test.csv", n=30, seed=4, exclude=set(b_train.arch_strings),
                           progress=False)
    raw = accuracy_report(b_test.latencies(), base.predict(b_test.arch_strings))
    errs = []
    for k in (5, 20):
        t = TransferPredictor(base=base).fit(b_train.arch_strings[:k], b_train.latencies()[:k])
        errs.append(accuracy_report(b_test.latencies(), t.predict(b_test.arch_strings))["mape"])
    assert errs[0] < raw["mape"] / 2
    assert errs[1] <= errs[0] * 1.1


def test_save_load_refuses_another_device(synthetic, tmp_path):
    space, table, train, test = synthetic
    pred = CalibratedPredictor(table=table).fit(train.arch_strings, train.latencies())
    path = tmp_path / "p.joblib"
    save_predictor(pred, path)
    loaded = load_predictor(path, expect_meta=test.meta)
    np.testing.assert_allclose(loaded.predict(test.arch_strings), pred.predict(test.arch_strings))
    other = dict(test.meta, settings={**test.meta["settings"], "backend": "onnxruntime", "threads": 2})
    with pytest.raises(TableMismatchError, match="threads: predictor's table has 1"):
        load_predictor(path, expect_meta=other)
    load_predictor(path, expect_meta=other, force=True)
    (tmp_path / "bad.joblib").write_bytes(b"not a pickle")
    with pytest.raises(TableError, match="corrupt"):
        load_predictor(tmp_path / "bad.joblib")


def test_dataset_resumes_and_refuses_other_plans(tmp_path, tiny, fake):
    path = tmp_path / "a.csv"
    measure_archs(tiny, fake, path, n=8, seed=0, progress=False)
    again = measure_archs(tiny, fake, path, n=8, seed=0, progress=False)
    assert len(again) == 8
    with pytest.raises(ValueError, match="planned with"):
        measure_archs(tiny, fake, path, n=9, seed=0, progress=False)
    with pytest.raises(TableMismatchError):
        measure_archs(tiny, create_backend("fake", threads=2), path, n=8, seed=0, progress=False)


def test_given_networks_are_measured_again_in_their_order(tmp_path, tiny, fake):
    """measure-archs --archs: a dataset's networks measured again (another runtime, or a noise floor), the first
    N of them; a list with a bad architecture is refused with its line, before anything is measured."""
    from hwnas.cli import main

    first = measure_archs(tiny, fake, tmp_path / "a.csv", n=10, seed=0, progress=False)
    cmd = ["measure-archs", "--space", "tiny", "--backend", "fake", "--archs", str(tmp_path / "a.csv"), "--quiet",
           "-o", str(tmp_path / "b.csv")]
    assert main([*cmd, "--n", "4"]) == 0
    again = ArchDataset.load(tmp_path / "b.csv")
    assert again.arch_strings == first.arch_strings[:4]
    np.testing.assert_allclose(again.latencies(), first.latencies()[:4], rtol=0.2)
    assert main([*cmd, "--n", "4"]) == 0 and len(ArchDataset.load(tmp_path / "b.csv")) == 4  # resumes
    with pytest.raises(ValueError, match="planned with"):  # another list is refused
        measure_archs(tiny, create_backend("fake", protocol=ROBUST), tmp_path / "b.csv", n=5, seed=0, archs=first.archs(),
                      progress=False)
    lst = tmp_path / "list.txt"
    lst.write_text(f"# two networks\n{first.arch_strings[5]}\n\n{first.arch_strings[6]}\n")
    assert [str(a) for a in read_arch_list(lst, tiny)] == first.arch_strings[5:7]
    lst.write_text(f"{first.arch_strings[5]}\nnot-an-arch\n")
    with pytest.raises(ValueError, match="line 2"):
        read_arch_list(lst, tiny)
    assert not (tmp_path / "c.csv").exists()


class _DriftingBackend:
    """Wraps a backend so that the machine gets slower with every network measured (like a shared box)."""

    def __init__(self, inner, step):
        self.inner, self.step, self.calls = inner, step, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def _factor(self):
        return 1.0 + self.step * self.calls

    def measure_many(self, jobs, **kw):
        from hwnas.profilers.base import Backend

        return Backend.measure_many(self, jobs, **kw)

    def measure(self, module, shape):
        from dataclasses import replace

        st = self.inner.measure(module, shape)
        f = self._factor()
        self.calls += 1
        return replace(st, median_ms=st.median_ms * f, min_ms=st.min_ms * f, mean_ms=st.mean_ms * f)

    def prepare(self, module, shape):
        outer, runner = self, self.inner.prepare(module, shape)

        class Slowed:
            def __call__(self):
                return runner() * outer._factor()

            def close(self):
                runner.close()

        return Slowed()


def test_reference_probes_remove_machine_drift(tmp_path, tiny):
    steady = measure_archs(tiny, create_backend("fake"), tmp_path / "s.csv", n=12, seed=0, progress=False)
    drifting = _DriftingBackend(create_backend("fake"), step=0.05)
    ds = measure_archs(tiny, drifting, tmp_path / "d.csv", n=12, seed=0, reference=True, progress=False)
    by = dict(zip(steady.arch_strings, steady.latencies(), strict=True))
    truth = np.array([by[s] for s in ds.arch_strings])
    raw_err = np.abs(ds.latencies() / truth - 1)
    first_ref = float(ds.rows["ref_ms"].iloc[0])
    norm_err = np.abs(ds.latencies(normalise_to=first_ref) / truth - 1)
    assert raw_err.max() > 0.3  # 12 networks at +5% each
    assert norm_err.max() < 0.06
    with pytest.raises(ValueError, match="no reference probes"):
        steady.latencies(normalise_to=1.0)


def test_eval_names_machine_drift_when_every_network_is_off_the_same_way():
    from hwnas.predictors.metrics import drift_note

    rng = np.random.default_rng(0)
    predicted = rng.uniform(0.02, 0.06, 40)
    # the machine 5% faster than when the predictor's data were measured, each network ±0.5% around that
    faster = accuracy_report(predicted * 0.95 * rng.uniform(0.995, 1.005, 40), predicted)
    assert faster["bias"] == pytest.approx(1 / 0.95 - 1, abs=0.003)
    note = drift_note(faster)
    assert note is not None and "running 5.0% faster" in note and "--reference" in note
    assert "slower" in drift_note(accuracy_report(predicted * 1.06, predicted))
    # a predictor that errs both ways, or only slightly, is not drift
    assert drift_note(accuracy_report(predicted * rng.choice([0.9, 1.1], 40), predicted)) is None
    assert drift_note(accuracy_report(predicted * 0.99, predicted)) is None
