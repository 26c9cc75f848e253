"""Choice points in any PyTorch network, as NNI's NAS guide writes them: ``LayerChoice`` (one of several modules)
and ``InputChoice`` (some of several tensors), declared in ``__init__`` with ``forward`` unchanged::

    from hwnas.space import InputChoice, LayerChoice

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = LayerChoice([nn.Conv2d(1, 32, 3, 1), nn.Conv2d(1, 32, 5, 1, padding=1)])
            self.skipcon = InputChoice(n_candidates=1, n_chosen=None)   # 0 or 1 of [x]
            ...

        def forward(self, x):
            x = F.relu(self.conv1(x))
            x0 = self.skipcon([x])          # None when no input is chosen
            ...

Choices with the same ``key`` share one decision (they must offer the same candidates); without a key, a choice is
named by its place in the module tree (``conv1``, ``layers.2.op``): stable across runs and readable in exported
files. Outside a search the first candidate (``LayerChoice``) or the first ``n_chosen`` inputs (``InputChoice``) are
used, as NNI's standalone mode does; :func:`hwnas.space.model_space.apply_fixed_architecture` replaces each choice by
the chosen module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any

import torch
from torch import nn

from ..errors import UsageError

REDUCTIONS = ("sum", "mean", "concat", "none")


class LayerChoice(nn.Module):
    """One of ``candidates`` (a list, or an ordered dict whose keys name them) at this point of the network."""

    def __init__(self, candidates: Sequence[nn.Module] | Mapping[str, nn.Module], key: str | None = None, *,
                 label: str | None = None):
        super().__init__()
        if isinstance(candidates, Mapping):
            names, mods = [str(k) for k in candidates], list(candidates.values())
        elif isinstance(candidates, (list, tuple, nn.ModuleList)):
            mods = list(candidates)
            names = [str(i) for i in range(len(mods))]
        else:
            raise UsageError(f"LayerChoice takes a list or an ordered dict of modules, not {type(candidates).__name__}")
        if not mods:
            raise UsageError("LayerChoice needs at least one candidate")
        bad = [n for n, m in zip(names, mods, strict=True) if not isinstance(m, nn.Module)]
        if bad:
            raise UsageError(f"LayerChoice candidates must be torch.nn.Module objects; {bad[0]!r} is "
                             f"{type(mods[names.index(bad[0])]).__name__}")
        self.candidates = nn.ModuleList(mods)
        self.names = tuple(names)
        self.key = key or label
        self.chosen: int | None = None  # fixed by a sampler or apply_fixed_architecture's standalone use
        object.__setattr__(self, "_search", None)  # set by a supernet: (decision, forward function)

    def __len__(self) -> int:
        return len(self.candidates)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self._search is not None:
            decision, run = self._search
            return run(decision, self.candidates, *args, **kwargs)
        return self.candidates[self.chosen or 0](*args, **kwargs)

    def extra_repr(self) -> str:
        return f"key={self.key!r}, names={list(self.names)}"


def input_options(n_candidates: int, n_chosen: int | None) -> tuple[tuple[int, ...], ...]:
    """The subsets of inputs an ``InputChoice`` can pick: every ``n_chosen``-subset, or every subset (the empty one
    first) when ``n_chosen`` is None."""
    if n_chosen is None:
        return tuple(c for k in range(n_candidates + 1) for c in combinations(range(n_candidates), k))
    return tuple(combinations(range(n_candidates), n_chosen))


class InputChoice(nn.Module):
    """Some of the ``n_candidates`` tensors passed to ``forward`` (as a list), combined by ``reduction``: ``sum``,
    ``mean``, ``concat`` (along dim 1) or ``none`` (the list). ``n_chosen=None`` allows any number, none included
    (``forward`` then returns None when nothing is chosen), as in NNI 1.x's guide."""

    MAX_OPTIONS = 64

    def __init__(self, n_candidates: int, n_chosen: int | None = 1, reduction: str = "sum", key: str | None = None, *,
                 label: str | None = None):
        super().__init__()
        if not isinstance(n_candidates, int) or n_candidates < 1:
            raise UsageError(f"InputChoice needs n_candidates >= 1, got {n_candidates!r}")
        if n_chosen is not None and not (isinstance(n_chosen, int) and 1 <= n_chosen <= n_candidates):
            raise UsageError(f"InputChoice n_chosen must be between 1 and n_candidates ({n_candidates}) or None, "
                             f"got {n_chosen!r}")
        if reduction not in REDUCTIONS:
            raise UsageError(f"InputChoice reduction must be one of {', '.join(REDUCTIONS)}, not {reduction!r}")
        self.n_candidates, self.n_chosen, self.reduction = n_candidates, n_chosen, reduction
        self.options = input_options(n_candidates, n_chosen)
        if len(self.options) > self.MAX_OPTIONS:
            raise UsageError(f"InputChoice with {n_candidates} candidates and n_chosen={n_chosen} has "
                             f"{len(self.options)} subsets; hwnas searches at most {self.MAX_OPTIONS}")
        self.names = tuple("+".join(map(str, o)) if o else "none" for o in self.options)
        self.key = key or label
        self.chosen: int | None = None  # index into options
        object.__setattr__(self, "_search", None)

    def __len__(self) -> int:
        return len(self.options)

    def default_option(self) -> int:
        """Standalone use: the first ``n_chosen`` inputs (the first input when any number may be chosen)."""
        want = tuple(range(self.n_chosen if self.n_chosen is not None else 1))
        return self.options.index(want)

    def reduce(self, tensors: list[torch.Tensor], like: torch.Tensor | None = None) -> Any:
        """The chosen ``tensors`` combined; for no tensor, None (or zeros like ``like`` inside a search, where a
        gate must multiply something)."""
        if not tensors:
            return None if like is None else torch.zeros_like(like)
        if self.reduction == "sum":
            return tensors[0] if len(tensors) == 1 else torch.stack(tensors).sum(0)
        if self.reduction == "mean":
            return tensors[0] if len(tensors) == 1 else torch.stack(tensors).mean(0)
        if self.reduction == "concat":
            return torch.cat(tensors, dim=1)
        return list(tensors)

    def forward(self, inputs: Sequence[torch.Tensor | None]) -> Any:
        inputs = list(inputs)
        if len(inputs) != self.n_candidates:
            raise UsageError(f"InputChoice {self.key!r} was declared with {self.n_candidates} candidates but got "
                             f"{len(inputs)} inputs")
        if self._search is not None:
            decision, run = self._search
            return run(decision, self, inputs)
        option = self.options[self.chosen if self.chosen is not None else self.default_option()]
        return self.reduce([inputs[i] for i in option])

    def extra_repr(self) -> str:
        return f"key={self.key!r}, n_candidates={self.n_candidates}, n_chosen={self.n_chosen}, " \
               f"reduction={self.reduction!r}"
