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

import inspect
from collections.abc import Iterator, Mapping, Sequence
from itertools import combinations
from typing import Any

import torch
from torch import nn

from ..errors import UsageError

REDUCTIONS = ("sum", "mean", "concat", "none")


def check_key(key: Any) -> str | None:
    """A decision key as written in arch strings (``key=label;...``) and JSON: no ``=`` or ``;``, no edge spaces."""
    if key is None:
        return None
    if not isinstance(key, str) or not key.strip() or key != key.strip() or any(c in key for c in "=;"):
        raise UsageError(f"choice key {key!r} must be a non-empty string without '=', ';' or spaces at its ends")
    return key


def check_names(names: Sequence[str]) -> tuple[str, ...]:
    """Candidate names as they appear in arch strings: distinct, non-empty, no ';', no edge spaces."""
    out = tuple(names)
    for n in out:
        if not n or n != n.strip() or ";" in n:
            raise UsageError(f"candidate name {n!r} must be non-empty, without ';' or spaces at its ends")
    dup = sorted({n for n in out if out.count(n) > 1})
    if dup:
        raise UsageError(f"candidate names {dup} repeat: every candidate needs its own name")
    return out


def choice_name(choice: nn.Module) -> str:
    """How errors name a choice: its key, else (standalone use, before any discovery gave it one) the attribute its
    parent module holds it under, found from the calling ``forward``; else that it has no key."""
    key = getattr(choice, "key", None)
    if key is not None:
        return repr(key)
    frame = inspect.currentframe()
    for _ in range(16):
        if frame is None:
            break
        parent = frame.f_locals.get("self")
        if isinstance(parent, nn.Module) and parent is not choice:
            for name, child in parent._modules.items():
                if child is choice:
                    return repr(name)
        frame = frame.f_back
    return "(without a key)"


def _no_mask(kind: str, return_mask: Any) -> None:
    if return_mask:
        raise UsageError(f"{kind}(return_mask=True) is not supported: hwnas's choices return the output only (NNI "
                         "1.x's mask of the chosen candidates has no fixed meaning in a search); drop return_mask")


class LayerChoice(nn.Module):
    """One of ``candidates`` (a list, or an ordered dict / ``nn.ModuleDict`` whose keys name them) at this point of
    the network. NNI 1.x's ``reduction`` is accepted (one candidate is ever chosen, so it never combines anything);
    ``lc["name"]`` and ``lc[0]`` give a candidate, as in NNI."""

    def __init__(self, candidates: Sequence[nn.Module] | Mapping[str, nn.Module] | nn.ModuleDict,
                 key: str | None = None, *, reduction: str = "sum", return_mask: bool = False,
                 label: str | None = None):
        super().__init__()
        if isinstance(candidates, (Mapping, nn.ModuleDict)):
            names, mods = [str(k) for k in candidates], list(candidates.values())
        elif isinstance(candidates, (list, tuple, nn.ModuleList)):
            mods = list(candidates)
            names = [str(i) for i in range(len(mods))]
        else:
            raise UsageError(f"LayerChoice takes a list, an ordered dict or an nn.ModuleDict of modules, not "
                             f"{type(candidates).__name__}")
        if not mods:
            raise UsageError("LayerChoice needs at least one candidate")
        bad = [n for n, m in zip(names, mods, strict=True) if not isinstance(m, nn.Module)]
        if bad:
            raise UsageError(f"LayerChoice candidates must be torch.nn.Module objects; {bad[0]!r} is "
                             f"{type(mods[names.index(bad[0])]).__name__}")
        if reduction not in REDUCTIONS:
            raise UsageError(f"LayerChoice reduction must be one of {', '.join(REDUCTIONS)} (NNI 1.x's), not "
                             f"{reduction!r}")
        _no_mask("LayerChoice", return_mask)
        self.candidates = nn.ModuleList(mods)
        self.names = check_names(names)
        self.key = check_key(key or label)
        self.reduction = reduction
        self.chosen: int | None = None  # fixed by a sampler or apply_fixed_architecture's standalone use
        object.__setattr__(self, "_search", None)  # set by a supernet: (decision, forward function)

    def __len__(self) -> int:
        return len(self.candidates)

    def __getitem__(self, idx: int | str | slice) -> Any:
        """A candidate by its name (``lc["conv5x5"]``) or position (``lc[0]``, ``lc[-1]``, slices), as NNI's."""
        if isinstance(idx, str):
            if idx not in self.names:
                raise KeyError(f"LayerChoice {choice_name(self)} has no candidate {idx!r}; it has {list(self.names)}")
            return self.candidates[self.names.index(idx)]
        return list(self.candidates)[idx]

    def __iter__(self) -> Iterator[nn.Module]:
        return iter(self.candidates)

    @property
    def choices(self) -> list[nn.Module]:
        """The candidates (NNI's name)."""
        return list(self.candidates)

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
    (``forward`` then returns None when nothing is chosen), as in NNI 1.x's guide.

    NNI 1.x's ``choose_from`` (names of the inputs, e.g. the keys of the choices that make them) is accepted: it
    gives ``n_candidates`` and names the inputs in architecture JSON, and ``forward`` then also takes a dict of
    those names."""

    MAX_OPTIONS = 64

    def __init__(self, n_candidates: int | None = None, n_chosen: int | None = 1, reduction: str = "sum",
                 key: str | None = None, *, choose_from: Sequence[str] | None = None, return_mask: bool = False,
                 label: str | None = None):
        super().__init__()
        if isinstance(n_chosen, (list, tuple)):
            raise UsageError(f"InputChoice n_chosen must be a number or None, got {n_chosen!r}: NNI 1.x's second "
                             "argument, choose_from, goes by keyword here (choose_from=[...])")
        if choose_from is not None:
            if isinstance(choose_from, str) or not isinstance(choose_from, (list, tuple)) or \
                    not all(isinstance(n, str) for n in choose_from) or not choose_from:
                raise UsageError(f"InputChoice choose_from must be a non-empty list of names (strings), got "
                                 f"{choose_from!r}")
            if n_candidates is None:
                n_candidates = len(choose_from)
            elif n_candidates != len(choose_from):
                raise UsageError(f"InputChoice choose_from names {len(choose_from)} inputs but n_candidates is "
                                 f"{n_candidates}")
        if n_candidates is None:
            raise UsageError("InputChoice needs n_candidates (the number of inputs forward gets) or choose_from")
        if not isinstance(n_candidates, int) or isinstance(n_candidates, bool) or n_candidates < 1:
            raise UsageError(f"InputChoice needs n_candidates >= 1, got {n_candidates!r}")
        if n_chosen is not None and not (isinstance(n_chosen, int) and 1 <= n_chosen <= n_candidates):
            raise UsageError(f"InputChoice n_chosen must be between 1 and n_candidates ({n_candidates}) or None, "
                             f"got {n_chosen!r}")
        if reduction not in REDUCTIONS:
            raise UsageError(f"InputChoice reduction must be one of {', '.join(REDUCTIONS)}, not {reduction!r}")
        _no_mask("InputChoice", return_mask)
        self.n_candidates, self.n_chosen, self.reduction = n_candidates, n_chosen, reduction
        self.choose_from = tuple(choose_from) if choose_from is not None else None
        self.options = input_options(n_candidates, n_chosen)
        if len(self.options) > self.MAX_OPTIONS:
            raise UsageError(f"InputChoice with {n_candidates} candidates and n_chosen={n_chosen} has "
                             f"{len(self.options)} subsets; hwnas searches at most {self.MAX_OPTIONS}")
        self.names = tuple("+".join(map(str, o)) if o else "none" for o in self.options)
        self.key = check_key(key or label)
        self.chosen: int | None = None  # index into options
        object.__setattr__(self, "_search", None)

    @property
    def input_names(self) -> tuple[str, ...] | None:
        """The inputs' names from ``choose_from`` when they are distinct and non-empty (NNI 1.x's "" means none)."""
        names = self.choose_from
        if names is None or len(set(names)) != len(names) or not all(names):
            return None
        return names

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

    def as_list(self, inputs: Sequence[torch.Tensor | None] | Mapping[str, torch.Tensor | None]) -> list[Any]:
        """The inputs in order: a list as given, or a dict keyed by ``choose_from``'s names (NNI 1.x)."""
        if isinstance(inputs, Mapping):
            names = self.input_names
            if names is None:
                raise UsageError(f"InputChoice {choice_name(self)} got a dict of inputs but has no choose_from names "
                                 "to order them by; pass a list")
            extra = [k for k in inputs if k not in names]
            missing = [n for n in names if n not in inputs]
            if extra or missing:
                raise UsageError(f"InputChoice {choice_name(self)} chooses from {list(names)}; its dict of inputs "
                                 + "; ".join(p for p in (f"has {extra!r}" if extra else "",
                                                         f"lacks {missing!r}" if missing else "") if p))
            return [inputs[n] for n in names]
        inputs = list(inputs)
        if len(inputs) != self.n_candidates:
            raise UsageError(f"InputChoice {choice_name(self)} was declared with {self.n_candidates} candidates but "
                             f"got {len(inputs)} input{'' if len(inputs) == 1 else 's'}")
        return inputs

    def forward(self, inputs: Sequence[torch.Tensor | None] | Mapping[str, torch.Tensor | None]) -> Any:
        inputs = self.as_list(inputs)
        if self._search is not None:
            decision, run = self._search
            return run(decision, self, inputs)
        option = self.options[self.chosen if self.chosen is not None else self.default_option()]
        return self.reduce([inputs[i] for i in option])

    def extra_repr(self) -> str:
        return f"key={self.key!r}, n_candidates={self.n_candidates}, n_chosen={self.n_chosen}, " \
               f"reduction={self.reduction!r}" + (f", choose_from={list(self.choose_from)}" if self.choose_from
                                                  else "")
