"""The over-parameterised network: every searchable block is a :class:`MixedOp` over its candidates.

A mixed op holds architecture logits ``alpha`` (one per allowed choice, ``zero`` included where the space
allows it) and runs in one of these modes:

- ``None``   : single path, the ``active`` op only (weight steps, warm-up, evaluation): a plain child network.
- ``full``   : all candidates forward; the active one with its graph, the others detached; out = Σ g_i·o_i.
- ``two``    : two sampled candidates forward (active with graph, the other detached); out = Σ g_i·o_i.
- ``full_v2``: the active op only; the others are recomputed in backward to get their gate gradients.
- ``darts``  : Σ softmax(α)_i·o_i over all candidates with full graphs (for cost comparisons only).

Zero (skip) outputs its input, so every candidate returns the whole block output; the constant this adds to
every gate gradient cancels in the α gradient, since Σ_j p_j·(δ_ij − p_i) = 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UsageError
from ..space.builder import build_block, build_fixed
from ..space.spaces import BlockPosition, SearchSpace
from ..space.spec import ArchSpec
from .gates import ActivePathWithGateGrads, alpha_grad_from_gates, rescale_pair

MODES = (None, "full", "two", "full_v2", "darts")


class MixedOp(nn.Module):
    def __init__(self, pos: BlockPosition):
        super().__init__()
        self.choices = pos.choices
        self.candidates = nn.ModuleList(build_block(pos, c) for c in pos.choices)
        self.alpha = nn.Parameter(torch.zeros(len(pos.choices)))
        self.mode: str | None = None
        self.active = 0
        self.involved: tuple[int, ...] = (0,)
        self.gates: torch.Tensor | None = None
        self._old_alpha: torch.Tensor | None = None

    @property
    def n(self) -> int:
        return len(self.candidates)

    def probs(self) -> torch.Tensor:
        return F.softmax(self.alpha, dim=0)

    # ---- choosing the path ----------------------------------------------------------------------------------
    def sample(self, generator: torch.Generator, *, mode: str | None = None, uniform: bool = False) -> None:
        """Draw the active op (uniformly, or from softmax(α)) and, for a binary mode, the involved ops and gates."""
        with torch.no_grad():
            p = torch.full((self.n,), 1.0 / self.n) if uniform else self.probs().detach().cpu()
            if mode == "two" and self.n >= 2:
                pair = torch.multinomial(p, 2, replacement=False, generator=generator)
                p_pair = F.softmax(self.alpha.detach().cpu()[pair], dim=0)
                pick = int(torch.multinomial(p_pair, 1, generator=generator))
                self.active, self.involved = int(pair[pick]), (int(pair[pick]), int(pair[1 - pick]))
            else:
                self.active = int(torch.multinomial(p, 1, generator=generator))
                self.involved = tuple(range(self.n)) if mode in ("full", "full_v2") else (self.active,)
        self.set_mode(mode)

    def set_active(self, index: int, mode: str | None = None, involved: tuple[int, ...] | None = None) -> None:
        self.active = index
        self.involved = involved if involved is not None else (
            tuple(range(self.n)) if mode in ("full", "full_v2") else (index,))
        self.set_mode(mode)

    def set_mode(self, mode: str | None) -> None:
        if mode not in MODES:
            raise UsageError(f"unknown binary mode {mode!r}; known: full, two, full_v2")
        self.mode = mode
        self.gates = None
        if mode in ("full", "two", "full_v2"):
            g = torch.zeros(self.n, device=self.alpha.device)
            g[self.active] = 1.0
            self.gates = g.requires_grad_(True)

    # ---- forward --------------------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode is None:
            return self.candidates[self.active](x)
        if self.mode == "darts":
            p = self.probs()
            return sum(p[i] * op(x) for i, op in enumerate(self.candidates))
        if self.mode == "full_v2":
            return ActivePathWithGateGrads.apply(x, self.gates, self)
        out = 0
        for i in self.involved:
            if i == self.active:
                oi = self.candidates[i](x)
            else:
                with torch.no_grad():
                    oi = self.candidates[i](x)
            out = out + self.gates[i] * oi
        return out

    # ---- architecture gradient ------------------------------------------------------------------------------
    def accumulate_alpha_grad(self) -> None:
        """Add the binary-gate estimate of ∂L/∂α to ``alpha.grad`` (after ``backward``)."""
        if self.gates is None or self.gates.grad is None:
            return
        idx = torch.as_tensor(self.involved, dtype=torch.long, device=self.alpha.device)
        grad = alpha_grad_from_gates(self.gates.grad[idx], self.alpha.detach()[idx])
        if self.alpha.grad is None:
            self.alpha.grad = torch.zeros_like(self.alpha)
        self.alpha.grad[idx] += grad
        self._old_alpha = self.alpha.detach()[idx].clone()

    def rescale(self) -> None:
        """``two`` mode, after the α step: unsampled ops keep their probabilities."""
        if self.mode == "two" and self._old_alpha is not None and len(self.involved) == 2:
            rescale_pair(self.alpha.data, self.involved, self._old_alpha)
        self._old_alpha = None


class Supernet(nn.Module):
    """stem -> first fixed block -> one :class:`MixedOp` per searchable block -> head."""

    def __init__(self, space: SearchSpace, *, dropout: float = 0.0):
        super().__init__()
        self.space = space
        self.stem, self.first, self.head = build_fixed(space, dropout)
        self.blocks = nn.ModuleList(MixedOp(pos) for pos in space.positions())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.first(self.stem(x))
        for b in self.blocks:
            x = b(x)
        return self.head(x)

    # ---- parameters -----------------------------------------------------------------------------------------
    def arch_parameters(self) -> list[nn.Parameter]:
        return [b.alpha for b in self.blocks]

    def arch_parameter_names(self) -> list[str]:
        """The state-dict names of α (DDP leaves them alone: architecture steps average their gradients)."""
        arch = {id(p) for p in self.arch_parameters()}
        return [name for name, p in self.named_parameters() if id(p) in arch]

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def init_arch(self, kind: str = "normal", ratio: float = 1e-3, generator: torch.Generator | None = None) -> None:
        """α ~ N(0, ratio) (``normal``) or U(-ratio, ratio) (``uniform``), as the official code."""
        with torch.no_grad():
            for a in self.arch_parameters():
                if kind == "normal":
                    a.copy_(torch.randn(a.shape, generator=generator) * ratio)
                elif kind == "uniform":
                    a.copy_((torch.rand(a.shape, generator=generator) * 2 - 1) * ratio)
                else:
                    raise UsageError(f"arch_init_type must be normal or uniform, not {kind!r}")

    def probs(self) -> list[torch.Tensor]:
        return [b.probs() for b in self.blocks]

    def entropy(self) -> float:
        with torch.no_grad():
            return float(sum(-(p * torch.log(p.clamp_min(1e-12))).sum() for p in self.probs()))

    # ---- paths ----------------------------------------------------------------------------------------------
    def sample(self, generator: torch.Generator, *, mode: str | None = None, uniform: bool = False) -> None:
        for b in self.blocks:
            b.sample(generator, mode=mode, uniform=uniform)

    def set_mode(self, mode: str | None) -> None:
        for b in self.blocks:
            b.set_mode(mode)

    def set_indices(self, indices: list[int] | tuple[int, ...], mode: str | None = None) -> None:
        for b, i in zip(self.blocks, indices, strict=True):
            b.set_active(int(i), mode)

    def set_arch(self, arch: ArchSpec) -> None:
        """Make ``arch`` the active path (single-path mode)."""
        self.space.validate(arch)
        self.set_indices([b.choices.index(c) for b, c in zip(self.blocks, arch.blocks, strict=True)])

    def indices_to_arch(self, indices: list[int] | tuple[int, ...]) -> ArchSpec:
        return ArchSpec.from_blocks([b.choices[int(i)] for b, i in zip(self.blocks, indices, strict=True)],
                                    self.space.depths)

    def argmax_indices(self) -> list[int]:
        return [int(torch.argmax(b.alpha.detach())) for b in self.blocks]

    def argmax_arch(self) -> ArchSpec:
        return self.indices_to_arch(self.argmax_indices())

    def sample_indices(self, generator: torch.Generator, n: int) -> torch.Tensor:
        """``n`` architectures drawn from softmax(α): (n, blocks) choice indices."""
        with torch.no_grad():
            return torch.stack([torch.multinomial(p.detach().cpu(), n, replacement=True, generator=generator)
                                for p in self.probs()], dim=1)

    def log_prob(self, indices: torch.Tensor) -> torch.Tensor:
        """log p(architecture) under softmax(α) for (n, blocks) indices, differentiable in α."""
        return sum(F.log_softmax(b.alpha, 0)[indices[:, i].to(b.alpha.device)] for i, b in enumerate(self.blocks))

    # ---- architecture gradient ------------------------------------------------------------------------------
    def accumulate_alpha_grads(self) -> None:
        for b in self.blocks:
            b.accumulate_alpha_grad()

    def rescale(self) -> None:
        for b in self.blocks:
            b.rescale()

    # ---- a child network from the supernet ------------------------------------------------------------------
    def child_state_dict(self, arch: ArchSpec) -> dict[str, torch.Tensor]:
        """The weights of ``arch`` inside the supernet, keyed for ``build_model(arch, space)``."""
        self.space.validate(arch)
        chosen = [b.choices.index(c) for b, c in zip(self.blocks, arch.blocks, strict=True)]
        out = {}
        for key, value in self.state_dict().items():
            parts = key.split(".")
            if parts[0] != "blocks":
                out[key] = value
            elif parts[2] == "candidates" and int(parts[3]) == chosen[int(parts[1])]:
                out[".".join(["blocks", parts[1], *parts[4:]])] = value
        return out
