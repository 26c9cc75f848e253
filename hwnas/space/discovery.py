"""Finding the choices of a user's model: where they are, what each sees and returns, and a fingerprint of every
candidate (its class, configuration and parameter shapes)."""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..errors import UsageError
from .choices import InputChoice, LayerChoice
from .counting import count_macs, count_params
from .keys import ModuleKey, shape_text


@dataclass(frozen=True)
class Decision:
    """One decision of a model space: a ``LayerChoice`` key (choose a candidate) or an ``InputChoice`` key (choose a
    subset of inputs), with the module paths that share it and, per option, the table keys it runs."""

    key: str
    kind: str  # "layer" | "input"
    labels: tuple[str, ...]
    paths: tuple[str, ...]
    keys: tuple[tuple[ModuleKey, ...], ...]  # per option: the keys timed for it (one per path; none for inputs)
    classes: tuple[str, ...] = ()  # per option: the candidate's class name ("input" for input choices)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "labels": list(self.labels), "paths": list(self.paths),
                "classes": list(self.classes),
                "keys": [[{**k.to_dict(), **k.info()} for k in ks] for ks in self.keys]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Decision:
        return cls(str(d["key"]), str(d["kind"]), tuple(d["labels"]), tuple(d["paths"]),
                   tuple(tuple(ModuleKey.from_dict(k) for k in ks) for ks in d["keys"]), tuple(d.get("classes", ())))


def module_fingerprint(module: nn.Module) -> str:
    """12 hex digits of the module's class, configuration (its repr, nested modules included) and the shapes of its
    parameters and buffers: equal for two modules that compute the same function shape-wise."""
    parts = [f"{type(module).__module__}.{type(module).__qualname__}", repr(module)]
    parts += [f"{n}:{tuple(t.shape)}" for n, t in (*module.named_parameters(), *module.named_buffers())]
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:12]




def find_choices(model: nn.Module) -> list[tuple[str, LayerChoice | InputChoice]]:
    """``(path, choice)`` for every choice in ``model``, in ``named_modules`` order (choices nested inside a
    candidate are not supported: the outer one is reported)."""
    out = []
    for path, m in model.named_modules():
        if isinstance(m, (LayerChoice, InputChoice)):
            if any(path.startswith(p + ".") for p, _ in out):
                raise UsageError(f"choice {path!r} sits inside the candidates of {out[-1][0]!r}: nested choices are "
                                 "not supported; flatten them into separate choices")
            out.append((path, m))
    return out


def qualified(factory: Callable[..., Any]) -> str | None:
    mod, name = getattr(factory, "__module__", None), getattr(factory, "__qualname__", None)
    if not mod or not name or "<" in name or mod == "__main__":
        return None
    return f"{mod}:{name}"


def load_factory(ref: str) -> Callable[[], nn.Module]:
    """``package.module:factory`` (a class or a function with no required arguments)."""
    mod, sep, attr = ref.partition(":")
    if not sep or not mod or not attr:
        raise UsageError(f"--model must look like package.module:factory, got {ref!r}")
    import os
    import sys

    if os.getcwd() not in sys.path and "" not in sys.path:  # a console script leaves the current directory out
        sys.path.append(os.getcwd())
    try:
        obj: Any = importlib.import_module(mod)
    except ImportError as exc:
        raise UsageError(f"cannot import {mod!r} for --model {ref} ({exc}); is it on PYTHONPATH?") from None
    except Exception as exc:  # the user's module fails while it is imported (a SyntaxError, a raise at import)
        raise UsageError(f"importing {mod!r} for --model {ref} failed: {type(exc).__name__}: {exc}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UsageError(f"module {mod!r} has no {attr!r} (--model {ref})")
        obj = getattr(obj, part)
    if not callable(obj):
        raise UsageError(f"--model {ref} is not a class or function")
    return obj


def discover(model: nn.Module, input_shape: tuple[int, ...]):
    found = find_choices(model)
    if not found:
        raise UsageError(f"the model ({type(model).__name__}) has no LayerChoice or InputChoice: nothing to search")
    explicit = {c.key: p for p, c in found if c.key is not None}
    for path, c in found:
        if c.key is None:
            if path in explicit:
                raise UsageError(f"choice {explicit[path]!r} has key {path!r}, which is also the default key of the "
                                 f"choice at {path!r} (its module path): give one of them another key, or both the "
                                 "same key on purpose")
            c.key = path
    seen_in: dict[int, list[tuple[tuple[int, ...], ...]]] = {id(c): [] for _, c in found}
    seen_out: dict[int, Any] = {}

    def hook(mod: nn.Module, args: tuple, out: Any) -> None:
        if isinstance(mod, InputChoice):
            ins = mod.as_list(args[0])  # a list, or NNI 1.x's dict keyed by choose_from
            bad = [i for i, t in enumerate(ins) if not isinstance(t, torch.Tensor)]
            if bad:
                raise UsageError(f"InputChoice {mod.key!r} got {type(ins[bad[0]]).__name__} as input {bad[0]}: "
                                 "every candidate input must be a tensor")
            shapes = tuple(tuple(t.shape) for t in ins)
        else:
            if len(args) != 1 or not isinstance(args[0], torch.Tensor):
                raise UsageError(f"LayerChoice {mod.key!r} is called with {len(args)} argument(s); hwnas times "
                                 "candidates that take one tensor")
            shapes = (tuple(args[0].shape),)
        seen_in[id(mod)].append(shapes)
        seen_out[id(mod)] = tuple(out.shape) if isinstance(out, torch.Tensor) else None

    handles = [c.register_forward_hook(hook) for _, c in found]
    was = model.training
    probe = torch.randn(input_shape, generator=torch.Generator().manual_seed(0))  # data-dependent branches run
    try:
        model.eval()
        with torch.no_grad():
            model(probe)
    except UsageError:
        raise
    except Exception as exc:
        raise UsageError(f"the model does not run on an input of shape {shape_text(input_shape)} "
                         f"({type(exc).__name__}: {exc}); check --input-shape") from None
    finally:
        for h in handles:
            h.remove()
        model.train(was)
    with torch.no_grad():
        out = model.eval()(probe)
    model.train(was)
    num_classes = int(out.shape[-1]) if isinstance(out, torch.Tensor) and out.ndim == 2 else None

    never = [p for p, c in found if not seen_in[id(c)]]
    if never:
        raise UsageError(f"choice(s) {never} never run in forward: call each LayerChoice/InputChoice in forward, or "
                         "remove it")
    twice = [p for p, c in found if len(seen_in[id(c)]) > 1]
    if twice:
        raise UsageError(f"choice(s) {twice} run more than once in one forward pass: give each call its own choice "
                         "(share a decision with the same key)")

    groups: dict[str, list[tuple[str, Any]]] = {}
    for path, c in found:
        groups.setdefault(c.key, []).append((path, c))
    modules: dict[tuple[str, str], nn.Module] = {}
    decisions = []
    for key, members in groups.items():
        kinds = {type(c) for _, c in members}
        if len(kinds) > 1:
            raise UsageError(f"key {key!r} is used by a LayerChoice and an InputChoice: "
                             f"{[p for p, _ in members]}")
        first_path, first = members[0]
        if isinstance(first, LayerChoice):
            per_option: list[list[ModuleKey]] = [[] for _ in first.names]
            classes = tuple(type(m).__name__ for m in first.candidates)
            for path, c in members:
                if c.names != first.names or tuple(type(m).__name__ for m in c.candidates) != classes:
                    raise UsageError(f"key {key!r} is reused with different candidate sets: {first_path!r} has "
                                     f"{list(zip(first.names, classes, strict=True))}, {path!r} has "
                                     f"{list(zip(c.names, (type(m).__name__ for m in c.candidates), strict=True))}")
                (shape,) = seen_in[id(c)][0]
                outs = []
                for name, cand in zip(c.names, c.candidates, strict=True):
                    was_c = cand.training
                    with torch.no_grad():
                        o = cand.eval()(torch.zeros(shape))
                    cand.train(was_c)
                    outs.append((name, tuple(o.shape) if isinstance(o, torch.Tensor) else None))
                if len({s for _, s in outs}) > 1:
                    raise UsageError(f"LayerChoice {key!r} ({path}): candidates give different output shapes for "
                                     f"input {shape_text(shape)}: "
                                     + ", ".join(f"{n}: {shape_text(s) if s else type(s).__name__}" for n, s in outs)
                                     + "; every candidate must return the same shape")
                for j, cand in enumerate(c.candidates):
                    fp = module_fingerprint(cand)
                    was_c = cand.training
                    k = ModuleKey(fp, shape_text(shape), label=f"{path}[{c.names[j]}] {type(cand).__name__} @"
                                  f"{shape_text(shape)}", macs_=count_macs(cand, shape), params_=count_params(cand))
                    cand.train(was_c)
                    modules.setdefault(k.ident(), cand)
                    per_option[j].append(k)
            decisions.append(Decision(key, "layer", first.names, tuple(p for p, _ in members),
                                      tuple(tuple(ks) for ks in per_option), classes))
        else:
            for path, c in members:
                if (c.n_candidates, c.n_chosen, c.reduction, c.input_names) != \
                        (first.n_candidates, first.n_chosen, first.reduction, first.input_names):
                    raise UsageError(f"key {key!r} is reused by InputChoices with different settings: {first_path!r} "
                                     f"and {path!r}")
                if c.reduction == "none":
                    raise UsageError(f"InputChoice {key!r} ({path}) has reduction='none': its output (a list) cannot "
                                     "be weighted by a gate; use sum, mean or concat to search it")
                if c.reduction == "concat" and c.n_chosen is None:
                    raise UsageError(f"InputChoice {key!r} ({path}) concatenates a varying number of inputs "
                                     "(n_chosen=None): the output shape would change; give n_chosen")
                shapes = seen_in[id(c)][0]
                if c.reduction in ("sum", "mean") and len(set(shapes)) > 1:
                    raise UsageError(f"InputChoice {key!r} ({path}) adds inputs of different shapes "
                                     f"{[shape_text(s) for s in shapes]}")
                if c.reduction == "concat":
                    outs = {o: tuple(c.reduce([torch.zeros(shapes[i]) for i in o]).shape) for o in c.options}
                    if len(set(outs.values())) > 1:
                        raise UsageError(f"InputChoice {key!r} ({path}) concatenates inputs of shapes "
                                         f"{[shape_text(s) for s in shapes]}: its options give different output "
                                         f"shapes ({', '.join(f'{c.names[c.options.index(o)]}: {shape_text(s)}' for o, s in outs.items())})")
            if len(first.options) < 2:
                continue  # nothing to choose (e.g. n_candidates=1, n_chosen=1): not a decision
            decisions.append(Decision(key, "input", first.names, tuple(p for p, _ in members),
                                      tuple(() for _ in first.options),
                                      tuple(f"input:{first.reduction}" for _ in first.options)))
    if not decisions:
        raise UsageError(f"the model ({type(model).__name__}) has no choice with two or more options: nothing to "
                         "search (an InputChoice of one candidate and n_chosen=1 always takes it; n_chosen=None lets "
                         "it choose none)")
    inside = {p for d in decisions for p in d.paths}
    rest = [f"{n}:{tuple(t.shape)}" for n, t in model.state_dict().items()
            if not any(n.startswith(p + ".") for p in inside)]
    return tuple(decisions), modules, num_classes, rest, tuple(p for p, _ in found)
