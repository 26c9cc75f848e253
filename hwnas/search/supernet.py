"""The over-parameterised network: every decision of the space is a mixed op over its options.

A decision (:class:`ArchDecision`) holds architecture logits ``alpha`` (one per option: every candidate of a
block or ``LayerChoice``, ``zero`` where the space allows it, every subset of an ``InputChoice``) and runs in mode
``None`` (single path: the ``active`` option only, a plain child network) or in a mode of its mixed op
(:mod:`hwnas.search.mixed`: ``BinGate``'s ``full`` / ``two`` / ``full_v2`` binary gates, ``WeightedSum``'s
``sum``, ``GumbelSum``'s ``gumbel``). Every decision of a supernet shares one mixed op (``BinGate`` unless
:meth:`_SupernetMixin.set_mixed_op` says otherwise).

One mechanism serves both kinds of space: the built-in MBConv spaces (:class:`Supernet`, one :class:`MixedBlock` per
block) and a user's model with ``LayerChoice`` / ``InputChoice`` (:class:`ModelSupernet`: the model itself, whose
choices run through the decisions of their keys, so choices sharing a key share α, the sampled path and the gates).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import UsageError
from ..space.builder import build_block, build_fixed
from ..space.choices import InputChoice, LayerChoice
from ..space.discovery import find_choices
from ..space.spaces import BlockPosition, SearchSpace
from ..space.spec import ArchSpec
from .gates import alpha_grad_from_gates, rescale_pair
from .mixed import BinGate, MixedOp
from .shared import SharedCandidate, SharedMBConv, check_weights


class ArchDecision(nn.Module):
    """One decision: α over ``n`` options, the sampled active option, the involved options, and what its mixed op
    keeps for the current mode (binary gates, Gumbel weights)."""

    def __init__(self, n: int, mixed: MixedOp | None = None):
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(n))
        self.mode: str | None = None
        self.active = 0
        self.involved: tuple[int, ...] = (0,)
        self.gates: torch.Tensor | None = None
        self.mix: torch.Tensor | None = None
        object.__setattr__(self, "mixed", mixed or BinGate())  # shared by the supernet's decisions: not a child
        self._old_alpha: torch.Tensor | None = None
        self._host: tuple[tuple[int, int], torch.Tensor] | None = None

    @property
    def n(self) -> int:
        return int(self.alpha.numel())

    def probs(self) -> torch.Tensor:
        return F.softmax(self.alpha, dim=0)

    def host_alpha(self) -> torch.Tensor:
        """α on the CPU, for sampling paths with the CPU generators: copied only when α has changed since the last
        copy (its version counter moves with every optimiser step, rescale or load), so a weight step on a GPU
        does not wait for the device to read α back every time."""
        key = (self.alpha._version, self.alpha.data_ptr())
        if self._host is None or self._host[0] != key:
            self._host = (key, self.alpha.detach().to("cpu", copy=True))
        return self._host[1]

    # ---- choosing the path ----------------------------------------------------------------------------------
    def sample(self, generator: torch.Generator, *, mode: str | None = None, uniform: bool = False) -> None:
        """Draw the active option (uniformly, or from softmax(α)) and, for a binary mode, the involved options and
        gates."""
        with torch.no_grad():
            p = torch.full((self.n,), 1.0 / self.n) if uniform else F.softmax(self.host_alpha(), dim=0)
            if mode == "two" and self.n >= 2:
                pair = torch.multinomial(p, 2, replacement=False, generator=generator)
                p_pair = F.softmax(self.host_alpha()[pair], dim=0)
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
        if mode is not None and mode not in self.mixed.modes:
            raise UsageError(f"mode {mode!r} is not one of the {self.mixed.name} mixed op's "
                             f"({', '.join(self.mixed.modes) or 'single path only'})")
        self.mode = mode
        self.gates = None
        self.mixed.on_mode(self)

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
        """``two`` mode, after the α step: unsampled options keep their probabilities."""
        if self.mode == "two" and self._old_alpha is not None and len(self.involved) == 2:
            rescale_pair(self.alpha, self.involved, self._old_alpha)
        self._old_alpha = None


def mixed_forward(decision: ArchDecision, candidates: nn.ModuleList, x: torch.Tensor) -> torch.Tensor:
    """The output of ``candidates`` on ``x``: the active one alone, or as the decision's mixed op runs its mode."""
    if decision.mode is None:
        return candidates[decision.active](x)
    return decision.mixed.forward(decision, candidates, x)


def input_forward(decision: ArchDecision, choice: InputChoice, inputs: list[torch.Tensor | None]) -> Any:
    """An ``InputChoice``: the active subset alone (None when it is empty, exactly as the fixed network), or as the
    decision's mixed op runs its mode (an empty subset counts as zeros)."""
    subsets = [[inputs[i] for i in o] for o in choice.options]
    if decision.mode is None:
        return choice.reduce(subsets[decision.active])
    like = next((t for t in inputs if isinstance(t, torch.Tensor)), None)
    return decision.mixed.input_forward(decision, choice, subsets, like)


class MixedBlock(ArchDecision):
    """A searchable block of a built-in space: its decision and its candidate blocks (``zero`` included)."""

    def __init__(self, pos: BlockPosition, weights: str = "separate"):
        super().__init__(len(pos.choices))
        self.choices = pos.choices
        self.shared: SharedMBConv | None = None
        if weights == "shared" and any(not c.is_zero for c in pos.choices):
            self.shared = SharedMBConv(pos)
            self.candidates = nn.ModuleList(SharedCandidate(self.shared, c) for c in pos.choices)
        else:
            self.candidates = nn.ModuleList(build_block(pos, c) for c in pos.choices)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return mixed_forward(self, self.candidates, x)


class _SupernetMixin:
    """Architecture parameters and paths of a supernet, over its :meth:`decisions` (shared by both kinds)."""

    space: Any

    def decisions(self) -> list[ArchDecision]:  # pragma: no cover - defined by each supernet
        raise NotImplementedError

    # ---- parameters -----------------------------------------------------------------------------------------
    def arch_parameters(self) -> list[nn.Parameter]:
        return [d.alpha for d in self.decisions()]

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
        return [d.probs() for d in self.decisions()]

    def entropy(self) -> float:
        with torch.no_grad():
            return float(sum(-(p * torch.log(p.clamp_min(1e-12))).sum() for p in self.probs()))

    def gates(self) -> list[torch.Tensor]:
        return [d.gates for d in self.decisions() if d.gates is not None]

    # ---- paths ----------------------------------------------------------------------------------------------
    def sample(self, generator: torch.Generator, *, mode: str | None = None, uniform: bool = False) -> None:
        for d in self.decisions():
            d.sample(generator, mode=mode, uniform=uniform)

    def set_mode(self, mode: str | None) -> None:
        for d in self.decisions():
            d.set_mode(mode)

    def set_mixed_op(self, op: MixedOp) -> None:
        """Run every decision through ``op`` (one instance, shared)."""
        for d in self.decisions():
            d.set_mode(None)
            object.__setattr__(d, "mixed", op)

    @property
    def mixed_op(self) -> MixedOp:
        return self.decisions()[0].mixed if self.decisions() else BinGate()

    def set_indices(self, indices: list[int] | tuple[int, ...], mode: str | None = None) -> None:
        for d, i in zip(self.decisions(), indices, strict=True):
            d.set_active(int(i), mode)

    def set_arch(self, arch: Any) -> None:
        """Make ``arch`` the active path (single-path mode)."""
        self.set_indices(self.space.indices(arch))

    def indices_to_arch(self, indices: list[int] | tuple[int, ...]) -> Any:
        return self.space.from_indices([int(i) for i in indices])

    def argmax_indices(self) -> list[int]:
        return [int(torch.argmax(d.alpha.detach())) for d in self.decisions()]

    def argmax_arch(self) -> Any:
        return self.indices_to_arch(self.argmax_indices())

    def sample_indices(self, generator: torch.Generator, n: int) -> torch.Tensor:
        """``n`` architectures drawn from softmax(α): (n, decisions) option indices."""
        with torch.no_grad():
            return torch.stack([torch.multinomial(F.softmax(d.host_alpha(), dim=0), n, replacement=True,
                                                  generator=generator) for d in self.decisions()], dim=1)

    def log_prob(self, indices: torch.Tensor) -> torch.Tensor:
        """log p(architecture) under softmax(α) for (n, decisions) indices, differentiable in α."""
        return sum(F.log_softmax(d.alpha, 0)[indices[:, i].to(d.alpha.device)] for i, d in enumerate(self.decisions()))

    # ---- architecture gradient ------------------------------------------------------------------------------
    def accumulate_alpha_grads(self) -> None:
        for d in self.decisions():
            d.accumulate_alpha_grad()

    def rescale(self) -> None:
        for d in self.decisions():
            d.rescale()


class Supernet(_SupernetMixin, nn.Module):
    """A built-in space: stem -> first fixed block -> one :class:`MixedBlock` per searchable block -> head."""

    def __init__(self, space: SearchSpace, *, dropout: float = 0.0, weights: str = "separate"):
        super().__init__()
        self.space = space
        self.weights = "shared" if check_weights(weights) == "auto" else weights
        self.stem, self.first, self.head = build_fixed(space, dropout)
        self.blocks = nn.ModuleList(MixedBlock(pos, self.weights) for pos in space.positions())

    def decisions(self) -> list[ArchDecision]:
        return list(self.blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.first(self.stem(x))
        for b in self.blocks:
            x = b(x)
        return self.head(x)

    def child_state_dict(self, arch: ArchSpec) -> dict[str, torch.Tensor]:
        """The weights of ``arch`` inside the supernet, keyed for ``build_model(arch, space)``."""
        chosen = self.space.indices(arch)
        out = {}
        for key, value in self.state_dict().items():
            parts = key.split(".")
            if parts[0] != "blocks":
                out[key] = value
            elif parts[2] == "candidates" and int(parts[3]) == chosen[int(parts[1])]:
                out[".".join(["blocks", parts[1], *parts[4:]])] = value
        for i, (b, j) in enumerate(zip(self.blocks, chosen, strict=True)):
            if b.shared is not None and not b.choices[j].is_zero:
                out.update({f"blocks.{i}.{k}": v for k, v in b.shared.child_state(b.choices[j]).items()})
        return out


class ModelSupernet(_SupernetMixin, nn.Module):
    """A user's model as a supernet: the model (``model``) whose choices run through the decisions of their keys
    (``arch.<i>``, one per decision of the space)."""

    def __init__(self, space: Any, *, dropout: float = 0.0):
        super().__init__()
        self.space = space
        self.model = space.build()
        self.arch = nn.ModuleList(ArchDecision(len(d.labels)) for d in space.decisions)
        by_key = {d.key: i for i, d in enumerate(space.decisions)}
        self._paths: dict[str, tuple[str, int]] = {}
        for path, c in find_choices(self.model):
            if c.key is None:
                c.key = path
            i = by_key.get(c.key)
            if i is None:  # an input choice with a single option: nothing to decide
                continue
            dec = self.arch[i]
            run = mixed_forward if isinstance(c, LayerChoice) else input_forward
            object.__setattr__(c, "_search", (dec, run))
            self._paths[path] = (c.key, i)

    def decisions(self) -> list[ArchDecision]:
        return list(self.arch)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.model(*args, **kwargs)

    def child_state_dict(self, arch: Any) -> dict[str, torch.Tensor]:
        """The weights of ``arch`` inside the supernet, keyed for the fixed network
        (``apply_fixed_architecture``): each LayerChoice's chosen candidate takes the choice's place."""
        chosen = self.space.indices(arch)
        layer_paths = {p: chosen[i] for p, (_, i) in self._paths.items()
                       if isinstance(self.model.get_submodule(p), LayerChoice)}
        out = {}
        for key, value in self.model.state_dict().items():
            owner = next((p for p in layer_paths if key.startswith(p + ".candidates.")), None)
            if owner is None:
                out[key] = value
                continue
            rest = key[len(owner) + len(".candidates."):]
            j, _, tail = rest.partition(".")
            if int(j) == layer_paths[owner]:
                out[f"{owner}.{tail}"] = value
        return out


def build_supernet(space: Any, *, dropout: float = 0.0, weights: str = "separate") -> nn.Module:
    """The supernet of any space: :class:`Supernet` for a built-in one, :class:`ModelSupernet` for a model.
    ``weights``: ``separate`` (one set per candidate, as ProxylessNAS), ``shared`` (built-in spaces: one MBConv
    per block at its largest kernel and expansion, :mod:`hwnas.search.shared`) or ``auto`` (shared for a built-in
    space, separate for a model space)."""
    check_weights(weights)
    if getattr(space, "kind", None) == "model":
        if weights == "shared":
            raise UsageError("shared supernet weights are for the built-in MBConv spaces; a model space's candidates "
                             "are arbitrary modules (use separate)")
        return ModelSupernet(space, dropout=dropout)
    return Supernet(space, dropout=dropout, weights="shared" if weights == "auto" else weights)
