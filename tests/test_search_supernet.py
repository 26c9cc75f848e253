from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from hwnas.predictors.block_costs import BlockCosts, expected_latency_ms
from hwnas.search import Supernet, architecture_loss
from hwnas.search.gates import alpha_grad_from_gates
from hwnas.search.inherit import inherited_weights
from hwnas.search.latency_loss import check_latency_loss
from hwnas.space import build_model, get_space
from hwnas.train.training import seeded


def _net(space=None, seed=0):
    space = space or get_space("tiny")
    net = seeded(lambda: Supernet(space), seed)
    net.init_arch("normal", 0.5, torch.Generator().manual_seed(seed))
    return net


def _batch(space, n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, space.resolution, space.resolution, generator=g), torch.randint(10, (n,), generator=g)


def _gate_backward(net, mode, indices, x, y, involved=None):
    """Forward in ``mode`` with the given active ops, backward to α and gates; returns (gate grads, α grads)."""
    net.train()
    for b, i, inv in zip(net.blocks, indices, involved or [None] * len(indices), strict=True):
        b.set_active(i, mode, inv)
    for a in net.arch_parameters():
        a.grad = None
    loss = F.cross_entropy(net(x), y)
    torch.autograd.backward(loss, inputs=net.arch_parameters() + [b.gates for b in net.blocks])
    gates = [b.gates.grad.clone() for b in net.blocks]
    net.accumulate_alpha_grads()
    return gates, [a.grad.clone() for a in net.arch_parameters()]


def test_alpha_gradient_follows_the_binaryconnect_formula():
    net = _net()
    x, y = _batch(net.space)
    gate_grads, alpha_grads = _gate_backward(net, "full", [1, 4, 2, 0], x, y)
    for g, a, got in zip(gate_grads, net.arch_parameters(), alpha_grads, strict=True):
        p = torch.softmax(a.detach(), 0)
        n = len(p)
        want = torch.tensor([sum(float(g[j] * p[j] * (float(i == j) - float(p[i]))) for j in range(n)) for i in range(n)])
        assert torch.allclose(got, want, atol=1e-7)
        # the same thing as the gradient of Σ_j g_j·softmax(α)_j
        a2 = a.detach().clone().requires_grad_(True)
        (g * torch.softmax(a2, 0)).sum().backward()
        assert torch.allclose(got, a2.grad, atol=1e-7)
        assert got.abs().sum() > 0


def test_gate_gradients_are_inner_products_of_candidate_outputs_with_the_output_gradient():
    space = get_space("tiny")
    net = _net(space)
    x, y = _batch(space)
    net.train()
    net.set_indices([0, 0, 0, 0], "full")
    feats = {}
    net.blocks[3].register_forward_hook(lambda m, i, o: feats.update(inp=i[0], out=o))
    loss = F.cross_entropy(net(x), y)
    g_out, g3 = torch.autograd.grad(loss, [feats["out"], net.blocks[3].gates])
    with torch.no_grad():
        want = torch.stack([(op(feats["inp"]) * g_out).sum() for op in net.blocks[3].candidates])
    assert torch.allclose(g3, want, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("indices", [[0, 4, 3, 1], [3, 2, 1, 4]])
def test_full_v2_alpha_gradients_equal_full_mode_on_the_same_sample(indices):
    x, y = _batch(get_space("tiny"))
    g_full, a_full = _gate_backward(_net(), "full", indices, x, y)
    g_v2, a_v2 = _gate_backward(_net(), "full_v2", indices, x, y)
    for u, v in zip(g_full + a_full, g_v2 + a_v2, strict=True):
        assert torch.allclose(u, v, rtol=1e-4, atol=1e-6)


def _forward_calls(net, mode, gen):
    calls = {}
    hooks = [op.register_forward_hook(lambda m, i, o, k=(bi, ci): calls.__setitem__(k, calls.get(k, 0) + 1))
             for bi, b in enumerate(net.blocks) for ci, op in enumerate(b.candidates)]
    net.sample(gen, mode=mode)
    x, y = _batch(net.space)
    loss = F.cross_entropy(net(x), y)
    fwd = dict(calls)
    torch.autograd.backward(loss, inputs=[b.gates for b in net.blocks])
    for h in hooks:
        h.remove()
    return fwd, calls


def test_two_and_full_v2_forward_one_or_two_paths_only():
    net = _net(get_space("tiny", kernels=(3, 5, 7), expands=(1, 3, 4, 6)))  # 12 (+zero) candidates per block
    gen = torch.Generator().manual_seed(0)
    fwd, _ = _forward_calls(net, "two", gen)
    assert len(fwd) == 2 * len(net.blocks)
    fwd, after_backward = _forward_calls(net, "full_v2", gen)
    assert len(fwd) == len(net.blocks)  # the others are recomputed in backward only
    assert len(after_backward) == sum(b.n for b in net.blocks)
    fwd, _ = _forward_calls(net, "full", gen)
    assert len(fwd) == sum(b.n for b in net.blocks)


def test_two_mode_rescaling_keeps_the_unsampled_probabilities():
    net = _net()
    x, y = _batch(net.space)
    before = [p.detach().clone() for p in net.probs()]
    opt = torch.optim.Adam(net.arch_parameters(), lr=0.5, betas=(0.0, 0.999))
    net.sample(torch.Generator().manual_seed(3), mode="two")
    involved = [b.involved for b in net.blocks]
    loss = F.cross_entropy(net(x), y)
    opt.zero_grad()
    torch.autograd.backward(loss, inputs=net.arch_parameters() + [b.gates for b in net.blocks])
    net.accumulate_alpha_grads()
    opt.step()
    unscaled = [p.detach().clone() for p in net.probs()]
    net.rescale()
    after = [p.detach() for p in net.probs()]
    moved = 0
    for b, inv, p0, p1, pu in zip(net.blocks, involved, before, after, unscaled, strict=True):
        rest = [i for i in range(b.n) if i not in inv]
        assert len(inv) == 2
        assert torch.allclose(p1[rest], p0[rest], atol=1e-6)
        assert torch.isclose(p1[list(inv)].sum(), p0[list(inv)].sum(), atol=1e-6)
        moved += float((p1[list(inv)] - p0[list(inv)]).abs().sum())
        if not torch.allclose(pu[rest], p0[rest], atol=1e-4):
            assert not torch.allclose(pu[rest], p1[rest], atol=1e-6)  # rescaling is what restored them
    assert moved > 1e-3


def test_alpha_grad_from_gates_is_zero_for_a_constant_gate_gradient():
    # a constant added to every gate gradient (e.g. a shared skip path) does not move α
    alpha = torch.randn(5)
    assert torch.allclose(alpha_grad_from_gates(torch.full((5,), 3.0), alpha), torch.zeros(5), atol=1e-6)


def _costs(space, fast=1.0, slow=5.0):
    return BlockCosts(0.5, tuple(tuple(0.0 if c.is_zero else (slow if c.expand == 6 else fast) for c in p.choices)
                                 for p in space.positions()))


@pytest.mark.parametrize("kind", ["mul#log", "add#linear", "mul#pow", "add#abs"])
def test_expected_latency_gradient_reaches_alpha_through_every_loss(kind):
    space = get_space("tiny")
    net = _net(space)
    costs = _costs(space, 2.0, 9.0)
    ce = torch.tensor(1.3)
    exp_ms = expected_latency_ms(net.probs(), costs)
    target = 8.0
    loss = architecture_loss(ce, exp_ms, target, kind=kind, alpha=0.2, beta=0.3, lam=0.1)
    e, t = float(exp_ms.detach()), target
    want = {"mul#log": 0.2 * 1.3 * (torch.log(torch.tensor(e)) / torch.log(torch.tensor(t))) ** 0.3,
            "add#linear": 1.3 + 0.1 * (e - t) / t, "mul#pow": 1.3 * (e / t) ** 0.3,
            "add#abs": 1.3 + 0.1 * abs(e / t - 1)}[kind]
    assert float(loss.detach()) == pytest.approx(float(want), rel=1e-5)
    loss.backward()
    grads = [a.grad for a in net.arch_parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    # dL/dα_b = dL/dE · p_b ⊙ (c_b − p_b·c_b): slow choices are pushed down
    for a, c, g in zip(net.arch_parameters(), costs.tensors(), grads, strict=True):
        p = torch.softmax(a.detach(), 0)
        direction = p * (c - (p * c).sum())
        cos = F.cosine_similarity(g, direction, dim=0)
        assert float(cos) == pytest.approx(1.0, abs=1e-4)  # dL/dE > 0 for every form here


def test_a_detached_expected_latency_is_refused():
    with pytest.raises(ValueError, match="autograd graph"):
        architecture_loss(torch.tensor(1.0, requires_grad=True), torch.tensor(3.0), 2.0, kind="add#linear")


def test_mul_log_refuses_latencies_below_one_ms():
    with pytest.raises(ValueError, match="mul#pow"):
        check_latency_loss("mul#log", 0.5, 0.2)
    check_latency_loss("mul#log", 40.0, 20.0)


def test_child_weights_from_the_supernet_reproduce_the_single_path_output():
    space = get_space("tiny")
    net = _net(space)
    arch = space.sample(1)
    net.set_arch(arch)
    child = build_model(arch, space)
    child.load_state_dict(net.child_state_dict(arch))
    x, _ = _batch(space)
    net.eval()
    child.eval()
    with torch.no_grad():
        assert torch.allclose(net(x), child(x), atol=1e-6)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_shared_weights_child_reproduces_the_path_and_its_batchnorm_statistics(seed):
    space = get_space("tiny")
    net = seeded(lambda: Supernet(space, weights="shared"), 0)
    arch = space.sample(seed)
    net.set_arch(arch)
    x, _ = _batch(space)
    net.train()
    net(x)  # moves the running statistics of the sliced BatchNorms
    child = build_model(arch, space)
    child.load_state_dict(net.child_state_dict(arch))
    net.eval()
    child.eval()
    with torch.no_grad():
        assert torch.allclose(net(x), child(x), atol=1e-6)


def test_shared_candidates_of_a_block_are_slices_of_one_set_of_weights():
    space = get_space("tiny")
    shared, separate = Supernet(space, weights="shared"), Supernet(space)
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(shared) < n(separate)
    x, y = _batch(space)
    a, b = space.uniform("k3e3"), space.uniform("k5e6")  # the smallest and the largest candidate of every block
    for arch in (a, b):  # a step on either path moves the same tensor: the centre of the largest kernel
        shared.set_arch(arch)
        shared.zero_grad()
        F.cross_entropy(shared(x), y).backward()
        w = shared.blocks[0].shared.depthwise[0].weight.grad
        assert w is not None and w[:, :, 1:4, 1:4].abs().sum() > 0


def test_shared_weights_in_a_search_export_inherited_weights(space, costs, tmp_path):
    from hwnas.search import SearchConfig, retrain, run_search
    from hwnas.train.data import load_synthetic
    from hwnas.train.retrain import RetrainConfig

    data = load_synthetic(resolution=16, n=96, seed=1)
    cfg = SearchConfig(target_ms=1.0, n_epochs=1, warmup_epochs=1, batch_size=32, progress=False,
                       supernet_weights="shared", latency_loss="add#linear")
    res = run_search(space, costs, data, cfg, run_dir=tmp_path / "r", log=None)
    assert json.loads((tmp_path / "r" / "config.json").read_text())["search"]["supernet_weights"] == "shared"
    out = retrain(res.arch, space, data, RetrainConfig(epochs=1), init_weights=inherited_weights(tmp_path / "r", res.arch, space), progress=False, log=None)
    assert out.inherited and 0 <= out.test_acc <= 1


def test_shared_weights_are_refused_for_a_model_space_and_unknown_kinds_are_named():
    from hwnas.errors import UsageError
    from hwnas.search import SearchConfig
    from hwnas.search.supernet import build_supernet

    with pytest.raises(UsageError, match="auto, separate or shared"):
        SearchConfig(supernet_weights="tied")
    with pytest.raises(UsageError, match="must be one of auto, separate, shared"):
        build_supernet(get_space("tiny"), weights="tied")
