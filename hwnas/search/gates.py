"""Binary gates: the BinaryConnect estimate of ∂L/∂α from the gradients of one-hot gates.

With gates g (one-hot on the sampled op) standing in for the probabilities p = softmax(α), the official
ProxylessNAS code uses ∂L/∂α_i ≈ Σ_j ∂L/∂g_j · p_j·(δ_ij − p_i) = p_i·(∂L/∂g_i − Σ_j ∂L/∂g_j·p_j).
In ``two`` mode the sum and the softmax run over the two sampled ops only, and after the α step the pair is
shifted so that the other ops keep their probabilities.
"""

from __future__ import annotations

from typing import Any

import torch


def alpha_grad_from_gates(gate_grads: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Σ_j g_j·p_j·(δ_ij − p_i) for every i, with p = softmax(alpha) (over the ops passed in)."""
    p = torch.softmax(alpha.detach(), dim=0)
    return p * (gate_grads - (gate_grads * p).sum())


def rescale_pair(alpha: torch.Tensor, involved: tuple[int, ...], old: torch.Tensor) -> None:
    """``two`` mode: shift the updated logits of the sampled ops by −log(Σ exp α_new / Σ exp α_old) over them,
    so the total probability of the pair, and so every other op's probability, is what it was before the step."""
    idx = torch.as_tensor(involved, dtype=torch.long, device=alpha.device)
    with torch.no_grad():  # in place on α itself (not .data), so its version counter records the change
        offset = torch.logsumexp(alpha[idx], 0) - torch.logsumexp(old, 0)
        alpha[idx] -= offset


class ActivePathWithGateGrads(torch.autograd.Function):
    """``full_v2``: forward only the active op of ``op`` (a mixed op with ``candidates``, ``active``, ``involved``); in backward, recompute every other involved op (one at a time,
    without keeping its graph) just to get ∂L/∂g_k = ⟨o_k(x), ∂L/∂out⟩. Memory stays that of one path.

    Under mixed precision the recomputation runs in the forward's autocast state, on whichever device the input is
    (as ``torch.amp.custom_bwd`` does for one named device), and the inner products accumulate in fp32, so the gate
    gradients keep fp32's precision while the step keeps bf16's memory."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, gates: torch.Tensor, op: Any) -> torch.Tensor:  # type: ignore[override]
        detached = x.detach().requires_grad_(x.requires_grad)
        with torch.enable_grad():
            out = op.candidates[op.active](detached)
        ctx.op, ctx.active, ctx.involved = op, op.active, op.involved
        kind = x.device.type
        ctx.autocast = (kind, torch.is_autocast_enabled(kind), torch.get_autocast_dtype(kind))
        ctx.save_for_backward(detached, out)
        return out.detach()

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        detached, out = ctx.saved_tensors
        grad_x = None
        if detached.requires_grad:
            grad_x = torch.autograd.grad(out, detached, grad_out)[0]
        gate_grads = torch.zeros(len(ctx.op.candidates), dtype=torch.float32, device=grad_out.device)
        kind, enabled, dtype = ctx.autocast
        with torch.no_grad(), torch.autocast(kind, enabled=enabled, dtype=dtype):
            for k in ctx.involved:
                ok = out if k == ctx.active else ctx.op.candidates[k](detached)
                gate_grads[k] = (ok * grad_out).sum(dtype=torch.float32)
        return grad_x, gate_grads, None
