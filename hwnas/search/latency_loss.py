"""Architecture losses combining cross-entropy with the expected latency E[LAT] (official ProxylessNAS forms).

``E[LAT]`` must be a tensor in the autograd graph of the architecture logits (from
:func:`hwnas.predictors.block_costs.expected_latency_ms`); every form here keeps it there.

- ``mul#log``:    α·CE·(log E[LAT] / log T)^β   (official default α=0.2, β=0.3; needs latencies above 1 ms)
- ``add#linear``: CE + λ·(E[LAT] − T)/T          (λ=0.1)
- ``mul#pow``:    CE·(E[LAT]/T)^β
- ``add#abs``:    CE + λ·|E[LAT]/T − 1|          (not in the official code: a TuNAS-style absolute penalty that
  pulls E[LAT] to T from both sides; the multiplicative forms only scale the loss by a constant in T, which
  Adam's step normalisation largely cancels, so they trade accuracy for latency rather than aim at T)
- ``auto`` (the default): ``mul#log`` where it is defined (the target and the fastest network above 1 ms: the
  official default, so such searches are unchanged), else ``add#abs``, which is defined for any positive target
  in any unit. The built-in CPU-scale spaces run at 0.03–1 ms, where ``mul#log``'s log(T) is ≤ 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..errors import UsageError

LossFn = Callable[[torch.Tensor, torch.Tensor, float, float, float, float], torch.Tensor]


def _mul_log(ce, lat, target, alpha, beta, lam):
    return alpha * ce * (torch.log(lat) / math.log(target)) ** beta


def _add_linear(ce, lat, target, alpha, beta, lam):
    return ce + lam * (lat - target) / target


def _mul_pow(ce, lat, target, alpha, beta, lam):
    return ce * (lat / target) ** beta


def _add_abs(ce, lat, target, alpha, beta, lam):
    return ce + lam * torch.abs(lat / target - 1.0)


LATENCY_LOSSES: dict[str, LossFn] = {
    "mul#log": _mul_log,
    "add#linear": _add_linear,
    "mul#pow": _mul_pow,
    "add#abs": _add_abs,
}
AUTO = "auto"
LOSS_NAMES = (AUTO, *LATENCY_LOSSES)


def resolve_latency_loss(kind: str, target_ms: float | None, min_ms: float) -> str:
    """The loss ``kind`` names; ``auto``: ``mul#log`` where its formula is defined for these latencies (target and
    fastest network above 1 ms), else ``add#abs``."""
    if kind != AUTO:
        return kind
    if target_ms is not None and target_ms > 1.0 and min_ms > 1.0:
        return "mul#log"
    return "add#abs"


def check_latency_loss(kind: str, target_ms: float, min_ms: float) -> None:
    """Refuse a loss whose formula is undefined for these latencies, with the fix in the message."""
    if kind not in LOSS_NAMES:
        raise UsageError(f"unknown latency loss {kind!r}; known: {', '.join(LOSS_NAMES)}")
    kind = resolve_latency_loss(kind, target_ms, min_ms)
    if kind == "mul#log" and (target_ms <= 1.0 or min_ms <= 1.0):
        raise UsageError(
            f"latency loss 'mul#log' divides log(E[LAT]) by log(T) with latencies in ms, so it needs both above "
            f"1 ms; here the target is {target_ms:.4g} ms and the fastest architecture {min_ms:.4g} ms: use the "
            f"latency loss auto (the default; latency_loss='auto'), add#abs, mul#pow or add#linear")
    if kind == "mul#pow" and min_ms <= 0:
        raise UsageError(f"latency loss 'mul#pow' raises E[LAT]/T to a power, so it needs latencies above 0; the "
                         f"fastest architecture is {min_ms:.4g} ms under this latency model: use add#abs or "
                         f"add#linear")


def architecture_loss(ce: torch.Tensor, expected_ms: torch.Tensor | None, target_ms: float | None, *,
                      kind: str = "mul#log", alpha: float = 0.2, beta: float = 0.3, lam: float = 0.1
                      ) -> torch.Tensor:
    """The loss an architecture step minimises; plain ``ce`` when there is no target."""
    if target_ms is None or expected_ms is None:
        return ce
    if kind not in LATENCY_LOSSES:
        raise UsageError(f"unknown latency loss {kind!r}; known: {', '.join(LATENCY_LOSSES)}")
    if not expected_ms.requires_grad and ce.requires_grad:
        raise UsageError("E[LAT] is not in the autograd graph: the latency term would have no gradient")
    return LATENCY_LOSSES[kind](ce, expected_ms, float(target_ms), alpha, beta, lam)
