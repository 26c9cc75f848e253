"""A user's network as a search space: the ``LayerChoice`` / ``InputChoice`` points found in its module tree.

:class:`ModelSpace` gives a model the interface hwnas's built-in MBConv spaces have (decisions and their labels,
table keys per choice, sampling, parsing, building a fixed network), so that profiling, predictors, search and
export run on it unchanged:

- every choice is found in ``named_modules`` order; choices with the same key share one decision;
- one forward pass with hooks records the input shape each choice sees; each candidate is checked against its
  siblings' output shapes, and is timed alone at that shape (its table key: :class:`ModuleKey`, the candidate's
  fingerprint plus the input shape, so identical candidates at equal shapes are timed once);
- the space's fingerprint (every candidate's class, configuration and parameter shapes, the input shapes, and the
  shapes of the parameters outside the choices) is recorded by tables, predictors and runs, which refuse another.

An architecture of a model space is a :class:`ModelArch`: the chosen label of every decision, written
``key=label;key=label``; NNI's JSON (key → one-hot list, multi-hot for several chosen inputs) reads and writes too.
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import UsageError
from .choices import InputChoice, LayerChoice
from .counting import count_macs, count_params
from .spec import ArchError

# ---- fingerprints and keys -------------------------------------------------------------------------------------


def module_fingerprint(module: nn.Module) -> str:
    """12 hex digits of the module's class, configuration (its repr, nested modules included) and the shapes of its
    parameters and buffers: equal for two modules that compute the same function shape-wise."""
    parts = [f"{type(module).__module__}.{type(module).__qualname__}", repr(module)]
    parts += [f"{n}:{tuple(t.shape)}" for n, t in (*module.named_parameters(), *module.named_buffers())]
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:12]


def _shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(str(int(v)) for v in shape)


def _parse_shape(text: str | tuple | list) -> tuple[int, ...]:
    if isinstance(text, (tuple, list)):
        return tuple(int(v) for v in text)
    try:
        return tuple(int(v) for v in str(text).replace(",", "x").split("x") if v.strip())
    except ValueError:
        raise UsageError(f"input shape {text!r} is not like 1x3x32x32") from None


@dataclass(frozen=True, order=True)
class ModuleKey:
    """A candidate module at one input shape: the latency-table key of model spaces."""

    fingerprint: str
    input_shape: str  # e.g. "1x32x26x26" (batch 1)
    op: str = "module"
    label: str = ""
    macs_: int = 0
    params_: int = 0

    @property
    def shape(self) -> tuple[int, ...]:
        return _parse_shape(self.input_shape)

    def macs(self) -> int:
        return self.macs_

    def params(self) -> int:
        return self.params_

    def activation_elems(self) -> int:
        return int(np.prod(self.shape))

    def ident(self) -> tuple[str, str]:
        return self.fingerprint, self.input_shape

    def __hash__(self) -> int:
        return hash(self.ident())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ModuleKey) and self.ident() == other.ident()

    def to_dict(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "input_shape": self.input_shape}

    def info(self) -> dict[str, Any]:
        return {"op": self.op, "label": self.label, "macs": self.macs_, "params": self.params_}

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> ModuleKey:
        return cls(str(row["fingerprint"]), str(row["input_shape"]), label=str(row.get("label", "") or ""),
                   macs_=int(row.get("macs", 0) or 0), params_=int(row.get("params", 0) or 0))


MODULE_KEY_COLUMNS = ("fingerprint", "input_shape")


# ---- what the model offers ----------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class ModelArch:
    """The chosen label of every decision of a model space, in decision order."""

    choices: tuple[tuple[str, str], ...]

    def to_string(self) -> str:
        return ";".join(f"{k}={v}" for k, v in self.choices)

    __str__ = to_string

    def as_dict(self) -> dict[str, str]:
        return dict(self.choices)

    def to_dict(self) -> dict[str, Any]:
        return {"arch": self.to_string(), "choices": self.as_dict()}


def _child(model: nn.Module, path: str) -> tuple[nn.Module, str]:
    parent_path, _, name = path.rpartition(".")
    return (model.get_submodule(parent_path) if parent_path else model), name


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


class ModelSpace:
    """A user's ``nn.Module`` with choice points, as a search space.

    ``factory`` builds a fresh model (a class or function; ``"package.module:factory"`` works too), ``input_shape``
    is the shape of one input with batch 1 (e.g. ``(1, 1, 28, 28)``). Discovery runs one forward pass on zeros."""

    kind = "model"

    def __init__(self, factory: Callable[[], nn.Module] | str, input_shape: tuple[int, ...] | str, *,
                 name: str | None = None):
        self.factory_ref = factory if isinstance(factory, str) else _qualified(factory)
        self.factory = load_factory(factory) if isinstance(factory, str) else factory
        self.input_shape = _parse_shape(input_shape)
        if len(self.input_shape) < 2 or self.input_shape[0] != 1:
            raise UsageError(f"--input-shape must start with a batch of 1, e.g. 1,1,28,28; got "
                             f"{_shape_text(self.input_shape)}")
        template = self.factory()
        if not isinstance(template, nn.Module):
            raise UsageError(f"model factory {self.factory_ref!r} returned {type(template).__name__}, not a "
                             "torch.nn.Module")
        self.name = name or (self.factory_ref.rsplit(":", 1)[-1] if self.factory_ref else type(template).__name__)
        self._template = template
        self.decisions, self._modules, self.num_classes, self._rest = _discover(template, self.input_shape)
        self.fingerprint = hashlib.sha1(json.dumps(
            [d.to_dict() for d in self.decisions] + [self._rest, _shape_text(self.input_shape)],
            sort_keys=True).encode()).hexdigest()[:16]

    # ---- the interface the stages use (shared with the built-in MBConv spaces) ------------------------------------
    @property
    def in_channels(self) -> int:
        return self.input_shape[1]

    @property
    def resolution(self) -> int:
        return self.input_shape[-1]

    @property
    def num_decisions(self) -> int:
        return len(self.decisions)

    def choice_labels(self) -> list[tuple[str, ...]]:
        return [d.labels for d in self.decisions]

    def decision_names(self) -> list[str]:
        return [d.key for d in self.decisions]

    def decision_groups(self) -> list[int]:
        """The calibration group of every decision: each decision is its own group."""
        return list(range(len(self.decisions)))

    def kinds(self) -> tuple[str, ...]:
        """The candidate kinds the calibrated predictor scales separately (candidate class and label)."""
        seen: dict[str, None] = {}
        for d in self.decisions:
            if d.kind == "layer":
                for c, lab in zip(d.classes, d.labels, strict=True):
                    seen.setdefault(f"{c}:{lab}", None)
        return tuple(seen)

    def choice_kind(self, d: int, option: int) -> int:
        """Index of the option's kind in :meth:`kinds`, or -1 for an input choice."""
        dec = self.decisions[d]
        if dec.kind != "layer":
            return -1
        return self.kinds().index(f"{dec.classes[option]}:{dec.labels[option]}")

    def choice_active(self, d: int, option: int) -> bool:
        """Whether the option runs anything (an input choice of no input does not)."""
        dec = self.decisions[d]
        return dec.kind == "layer" or dec.labels[option] != "none"

    def fixed_keys(self) -> tuple[ModuleKey, ...]:
        """Nothing outside the choices is timed in isolation: the calibrated predictor learns the rest from whole
        networks measured end to end."""
        return ()

    def choice_keys(self, d: int, option: int) -> tuple[ModuleKey, ...]:
        return self.decisions[d].keys[option]

    def layer_keys(self) -> tuple[ModuleKey, ...]:
        seen: dict[ModuleKey, None] = {}
        for d in self.decisions:
            for ks in d.keys:
                for k in ks:
                    seen.setdefault(k, None)
        return tuple(seen)

    def module_for(self, key: ModuleKey) -> nn.Module:
        """A copy of the candidate module a table key times (for profiling it alone)."""
        try:
            return copy.deepcopy(self._modules[key.ident()])
        except KeyError:
            raise UsageError(f"model space {self.name!r} has no candidate {key.fingerprint} at {key.input_shape}") \
                from None

    # ---- architectures ----------------------------------------------------------------------------------------
    def from_indices(self, indices: list[int] | tuple[int, ...]) -> ModelArch:
        if len(indices) != len(self.decisions):
            raise ArchError(f"model space {self.name!r} has {len(self.decisions)} decisions, got {len(indices)} "
                            "choices")
        return ModelArch(tuple((d.key, d.labels[int(i)]) for d, i in zip(self.decisions, indices, strict=True)))

    def indices(self, arch: ModelArch) -> list[int]:
        self.validate(arch)
        return [d.labels.index(v) for d, (_, v) in zip(self.decisions, arch.choices, strict=True)]

    def validate(self, arch: Any) -> ModelArch:
        if not isinstance(arch, ModelArch):
            raise ArchError(f"expected an architecture of model space {self.name!r}, got {type(arch).__name__}")
        keys = [k for k, _ in arch.choices]
        want = self.decision_names()
        if keys != want:
            missing, extra = sorted(set(want) - set(keys)), sorted(set(keys) - set(want))
            raise ArchError(f"the architecture's keys do not match model space {self.name!r}: "
                            + "; ".join(p for p in (f"missing {missing}" if missing else "",
                                                    f"not in the model {extra}" if extra else "") if p)
                            + ("" if missing or extra else f"; expected the order {want}"))
        for d, (_, v) in zip(self.decisions, arch.choices, strict=True):
            if v not in d.labels:
                raise ArchError(f"choice {d.key!r}: {v!r} is not one of {list(d.labels)}")
        return arch

    def parse(self, text: str | Mapping[str, Any]) -> ModelArch:
        """``key=label;key=label``, hwnas's JSON record (``{"arch": ...}`` or ``{"choices": {...}}``), or NNI's JSON
        (key → one-hot / multi-hot list)."""
        if isinstance(text, str):
            t = text.strip()
            if not t.startswith("{"):
                return self._parse_string(t)
            try:
                data = json.loads(t)
            except json.JSONDecodeError as exc:
                raise ArchError(f"architecture JSON is malformed: {exc}") from None
        else:
            data = text
        if not isinstance(data, Mapping):
            raise ArchError("an architecture JSON must be an object")
        if "choices" in data and isinstance(data["choices"], Mapping):
            data = data["choices"]
        elif "arch" in data and isinstance(data["arch"], str):
            return self._parse_string(data["arch"])
        return self.from_nni(data)

    def _parse_string(self, text: str) -> ModelArch:
        pairs = []
        for part in text.split(";"):
            k, sep, v = part.strip().partition("=")
            if not sep:
                raise ArchError(f"architecture {text[:80]!r}: expected key=label pairs joined by ';'")
            pairs.append((k.strip(), v.strip()))
        return self.validate(ModelArch(tuple(pairs)))

    def from_nni(self, data: Mapping[str, Any]) -> ModelArch:
        """NNI's exported JSON: key → list of booleans (one-hot over a LayerChoice's candidates, multi-hot over an
        InputChoice's inputs); a label or an index is accepted for a LayerChoice too."""
        unknown = sorted(set(data) - set(self.decision_names()))
        missing = sorted(set(self.decision_names()) - set(data))
        if unknown or missing:
            raise ArchError(f"the JSON's keys do not match model space {self.name!r}"
                            + (f"; not in the model: {unknown}" if unknown else "")
                            + (f"; missing: {missing}" if missing else ""))
        pairs = []
        for d in self.decisions:
            v = data[d.key]
            if isinstance(v, list):
                hot = tuple(i for i, b in enumerate(v) if b)
                if d.kind == "layer":
                    if len(v) != len(d.labels) or len(hot) != 1:
                        raise ArchError(f"choice {d.key!r}: expected a one-hot list of {len(d.labels)}, got {v}")
                    pairs.append((d.key, d.labels[hot[0]]))
                else:
                    label = "+".join(map(str, hot)) if hot else "none"
                    if label not in d.labels:
                        raise ArchError(f"input choice {d.key!r}: {v} chooses inputs {list(hot)}, which is not one of "
                                        f"its options {list(d.labels)}")
                    pairs.append((d.key, label))
            elif isinstance(v, int) and not isinstance(v, bool) and 0 <= v < len(d.labels):
                pairs.append((d.key, d.labels[v]))
            elif isinstance(v, str) and v in d.labels:
                pairs.append((d.key, v))
            else:
                raise ArchError(f"choice {d.key!r}: cannot read {v!r} (a one-hot list, a label or an index)")
        return self.validate(ModelArch(tuple(pairs)))

    def to_nni(self, arch: ModelArch) -> dict[str, list[bool]]:
        """NNI's JSON for ``arch``: key → one-hot list (LayerChoice) or multi-hot list over inputs (InputChoice)."""
        out = {}
        for d, i in zip(self.decisions, self.indices(arch), strict=True):
            if d.kind == "layer":
                out[d.key] = [j == i for j in range(len(d.labels))]
            else:
                chosen = set() if d.labels[i] == "none" else {int(v) for v in d.labels[i].split("+")}
                n = self._input_count(d)
                out[d.key] = [j in chosen for j in range(n)]
        return out

    def _input_count(self, d: Decision) -> int:
        mod = self._template.get_submodule(d.paths[0])
        return mod.n_candidates  # type: ignore[union-attr]

    def sample(self, rng: np.random.Generator | int) -> ModelArch:
        rng = np.random.default_rng(rng)
        return self.from_indices([int(rng.integers(len(d.labels))) for d in self.decisions])

    def first(self) -> ModelArch:
        """The architecture the model computes outside a search (first candidates, first inputs)."""
        out = []
        for d in self.decisions:
            mod = self._template.get_submodule(d.paths[0])
            out.append(mod.default_option() if isinstance(mod, InputChoice) else 0)
        return self.from_indices(out)

    def arch_keys(self, arch: ModelArch) -> list[ModuleKey]:
        return [k for d, i in enumerate(self.indices(arch)) for k in self.choice_keys(d, i)]

    def macs(self, arch: ModelArch) -> int:
        return sum(k.macs() for k in self.arch_keys(arch))

    def params(self, arch: ModelArch) -> int:
        return count_params(self.build_model(arch))

    # ---- models -----------------------------------------------------------------------------------------------
    def build(self) -> nn.Module:
        """A fresh model with every choice still in it (the supernet's body)."""
        model = self.factory()
        if [p for p, _ in find_choices(model)] != [p for d in self.decisions for p in d.paths] and \
                sorted(p for p, _ in find_choices(model)) != sorted(p for d in self.decisions for p in d.paths):
            raise UsageError(f"model factory {self.factory_ref!r} built a model with other choices than before")
        return model

    def build_model(self, arch: ModelArch, *, dropout: float = 0.0) -> nn.Module:
        """The fixed network of ``arch``: every choice replaced by what it chose."""
        return apply_fixed_architecture(self.build(), arch, space=self)

    # ---- persistence ------------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "factory": self.factory_ref,
                "input_shape": list(self.input_shape), "fingerprint": self.fingerprint,
                "num_classes": self.num_classes, "decisions": [d.to_dict() for d in self.decisions]}

    def __repr__(self) -> str:
        return (f"ModelSpace({self.name!r}, {len(self.decisions)} decisions, input {_shape_text(self.input_shape)}, "
                f"fingerprint {self.fingerprint})")


class RecordedModelSpace(ModelSpace):
    """A model space read back from a file (a table's or predictor's metadata): its decisions, keys and fingerprint,
    without the user's code. It prices and parses architectures; building a network needs the model
    (``--model package.module:factory``), whose fingerprint must match."""

    def __init__(self, d: Mapping[str, Any]):  # noqa: D107 - no discovery: the record is the space
        try:
            self.name, self.factory_ref = str(d["name"]), d.get("factory")
            self.input_shape = _parse_shape(d["input_shape"])
            self.fingerprint = str(d["fingerprint"])
            self.num_classes = d.get("num_classes")
            self.decisions = tuple(Decision.from_dict(x) for x in d["decisions"])
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"the model space record is incomplete or damaged ({type(exc).__name__}: {exc})") \
                from None
        self.factory, self._template, self._modules, self._rest = None, None, {}, []

    def _need_model(self) -> None:
        raise UsageError(f"building networks of model space {self.name!r} needs its code: pass --model "
                         f"{self.factory_ref or 'package.module:factory'} --input-shape "
                         f"{','.join(map(str, self.input_shape))}")

    def build(self) -> nn.Module:
        self._need_model()

    def module_for(self, key: ModuleKey) -> nn.Module:
        self._need_model()

    def first(self) -> ModelArch:
        return self.from_indices([0] * len(self.decisions))

    def _input_count(self, d: Decision) -> int:
        return max((int(v) for lab in d.labels if lab != "none" for v in lab.split("+")), default=-1) + 1


def space_from_dict(d: Mapping[str, Any]) -> Any:
    """The space a file records: a built-in MBConv space, or a model space (its record, without the user's code)."""
    from .spaces import SearchSpace

    if not isinstance(d, Mapping):
        raise UsageError(f"a space record must be a JSON object, not {type(d).__name__}")
    if d.get("kind") == "model":
        return RecordedModelSpace(d)
    try:
        return SearchSpace.from_dict(d)
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"the space record is incomplete or damaged ({type(exc).__name__}: {exc})") from None


def arch_from_record(space: Any, data: Mapping[str, Any]) -> Any:
    """The architecture an exported record (``arch.json``) holds, for ``space``."""
    from .spec import ArchSpec

    if getattr(space, "kind", None) == "model":
        return space.parse(data)
    return space.validate(ArchSpec.from_dict(data))


def check_same_space(recorded: Mapping[str, Any] | None, space: Any, what: str) -> None:
    """Refuse a file made for another model (fingerprints differ)."""
    if recorded is None or space is None:
        return
    if (recorded.get("kind") == "model") != (getattr(space, "kind", None) == "model"):
        raise UsageError(f"{what} was made for " + (f"model {recorded.get('name')!r}" if recorded.get("kind") == "model"
                         else f"the built-in space {recorded.get('name')!r}") + f", not for {space.name!r}")
    if recorded.get("kind") != "model":
        return
    fp = recorded.get("fingerprint")
    if fp != space.fingerprint:
        raise UsageError(f"{what} was made for model space {recorded.get('name')!r} (fingerprint {fp}), not for "
                         f"{space.name!r} (fingerprint {space.fingerprint}): its candidates, input shapes or the "
                         "rest of the model differ; profile this model again")


# ---- discovery -----------------------------------------------------------------------------------------------------


def _qualified(factory: Callable[..., Any]) -> str | None:
    mod, name = getattr(factory, "__module__", None), getattr(factory, "__qualname__", None)
    if not mod or not name or "<" in name or mod == "__main__":
        return None
    return f"{mod}:{name}"


def load_factory(ref: str) -> Callable[[], nn.Module]:
    """``package.module:factory`` (a class or a function with no required arguments)."""
    mod, sep, attr = ref.partition(":")
    if not sep or not mod or not attr:
        raise UsageError(f"--model must look like package.module:factory, got {ref!r}")
    try:
        obj: Any = importlib.import_module(mod)
    except ImportError as exc:
        raise UsageError(f"cannot import {mod!r} for --model {ref} ({exc}); is it on PYTHONPATH?") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UsageError(f"module {mod!r} has no {attr!r} (--model {ref})")
        obj = getattr(obj, part)
    if not callable(obj):
        raise UsageError(f"--model {ref} is not a class or function")
    return obj


def _discover(model: nn.Module, input_shape: tuple[int, ...]):
    found = find_choices(model)
    if not found:
        raise UsageError(f"the model ({type(model).__name__}) has no LayerChoice or InputChoice: nothing to search")
    for path, c in found:
        if c.key is None:
            c.key = path
    seen_in: dict[int, list[tuple[tuple[int, ...], ...]]] = {id(c): [] for _, c in found}
    seen_out: dict[int, Any] = {}

    def hook(mod: nn.Module, args: tuple, out: Any) -> None:
        if isinstance(mod, InputChoice):
            shapes = tuple(tuple(t.shape) for t in args[0] if isinstance(t, torch.Tensor))
        else:
            if len(args) != 1 or not isinstance(args[0], torch.Tensor):
                raise UsageError(f"LayerChoice {mod.key!r} is called with {len(args)} argument(s); hwnas times "
                                 "candidates that take one tensor")
            shapes = (tuple(args[0].shape),)
        seen_in[id(mod)].append(shapes)
        seen_out[id(mod)] = tuple(out.shape) if isinstance(out, torch.Tensor) else None

    handles = [c.register_forward_hook(hook) for _, c in found]
    was = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(input_shape))
    except UsageError:
        raise
    except Exception as exc:
        raise UsageError(f"the model does not run on an input of shape {_shape_text(input_shape)} "
                         f"({type(exc).__name__}: {exc}); check --input-shape") from None
    finally:
        for h in handles:
            h.remove()
        model.train(was)
    with torch.no_grad():
        out = model.eval()(torch.zeros(input_shape))
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
                                     f"input {_shape_text(shape)}: "
                                     + ", ".join(f"{n}: {_shape_text(s) if s else type(s).__name__}" for n, s in outs)
                                     + "; every candidate must return the same shape")
                for j, cand in enumerate(c.candidates):
                    fp = module_fingerprint(cand)
                    was_c = cand.training
                    k = ModuleKey(fp, _shape_text(shape), label=f"{path}[{c.names[j]}] {type(cand).__name__} @"
                                  f"{_shape_text(shape)}", macs_=count_macs(cand, shape), params_=count_params(cand))
                    cand.train(was_c)
                    modules.setdefault(k.ident(), cand)
                    per_option[j].append(k)
            decisions.append(Decision(key, "layer", first.names, tuple(p for p, _ in members),
                                      tuple(tuple(ks) for ks in per_option), classes))
        else:
            for path, c in members:
                if (c.n_candidates, c.n_chosen, c.reduction) != (first.n_candidates, first.n_chosen, first.reduction):
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
                                     f"{[_shape_text(s) for s in shapes]}")
            if len(first.options) < 2:
                continue  # nothing to choose (e.g. n_candidates=1, n_chosen=1): not a decision
            decisions.append(Decision(key, "input", first.names, tuple(p for p, _ in members),
                                      tuple(() for _ in first.options), tuple("input" for _ in first.options)))
    inside = {p for d in decisions for p in d.paths}
    rest = [f"{n}:{tuple(t.shape)}" for n, t in model.state_dict().items()
            if not any(n.startswith(p + ".") for p in inside)]
    return tuple(decisions), modules, num_classes, rest


# ---- fixing an architecture -------------------------------------------------------------------------------------


class FixedInputChoice(nn.Module):
    """An ``InputChoice`` after the search: always the same inputs, combined the same way (no parameters)."""

    def __init__(self, choice: InputChoice, option: int):
        super().__init__()
        self.n_candidates, self.reduction = choice.n_candidates, choice.reduction
        self.chosen = tuple(choice.options[option])
        self._reduce = choice.reduce

    def forward(self, inputs: list[torch.Tensor | None]) -> Any:
        return self._reduce([inputs[i] for i in self.chosen])

    def extra_repr(self) -> str:
        return f"chosen={list(self.chosen)}, reduction={self.reduction!r}"


def apply_fixed_architecture(model: nn.Module, arch: ModelArch | Mapping[str, Any] | str | Path, *,
                             space: ModelSpace | None = None) -> nn.Module:
    """``model`` with every ``LayerChoice`` replaced by its chosen candidate and every ``InputChoice`` by a fixed
    selector, so it holds exactly the chosen network's parameters (NNI's ``apply_fixed_architecture``).

    ``arch``: a :class:`ModelArch`, an NNI JSON dict (key → one-hot list), hwnas's record, or the path of a JSON file
    holding either. Keys that do not match the model's choices are refused with the differences."""
    found = find_choices(model)
    for path, c in found:
        if c.key is None:
            c.key = path
    if isinstance(arch, (str, Path)) and not str(arch).lstrip().startswith("{") and \
            (isinstance(arch, Path) or "=" not in str(arch)):
        path = Path(arch)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise UsageError(f"architecture file not found: {path}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UsageError(f"architecture file {path} is not JSON ({exc})") from None
        arch = data
    chosen = _chosen_labels(arch, found) if not isinstance(arch, ModelArch) else arch.as_dict()
    if space is not None and isinstance(arch, ModelArch):
        space.validate(arch)
    keys = {c.key for _, c in found}
    unknown, missing = sorted(set(chosen) - keys), sorted(k for k in keys if k not in chosen and
                                                         not _trivial(found, k))
    if unknown or missing:
        raise ArchError("the architecture's keys do not match the model's choices"
                        + (f"; not in the model: {unknown}" if unknown else "")
                        + (f"; missing: {missing}" if missing else ""))
    for path, c in found:
        parent, name = _child(model, path)
        if isinstance(c, LayerChoice):
            label = chosen[c.key]
            if label not in c.names:
                raise ArchError(f"choice {c.key!r}: {label!r} is not one of {list(c.names)}")
            setattr(parent, name, c.candidates[c.names.index(label)])
        else:
            label = chosen.get(c.key)
            if label is not None and label not in c.names:
                raise ArchError(f"input choice {c.key!r}: {label!r} is not one of {list(c.names)}")
            option = c.names.index(label) if label is not None else c.default_option()
            setattr(parent, name, FixedInputChoice(c, option))
    return model


def _trivial(found: list[tuple[str, Any]], key: str) -> bool:
    return all(isinstance(c, InputChoice) and len(c.options) < 2 for _, c in found if c.key == key)


def _chosen_labels(data: Mapping[str, Any] | str, found: list[tuple[str, Any]]) -> dict[str, str]:
    """key -> chosen label from hwnas's record (``{"arch": "k=v;..."}``, ``{"choices": {...}}``, ``k=v;...``) or NNI's
    JSON (key -> one-hot list over a LayerChoice's candidates / multi-hot list over an InputChoice's inputs; a label
    or an index is accepted too), read against the model's own choice modules."""
    if isinstance(data, str):
        text = data.strip()
        if text.startswith("{"):
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ArchError(f"architecture JSON is malformed: {exc}") from None
        else:
            data = {"arch": text}
    if not isinstance(data, Mapping):
        raise ArchError("an architecture JSON must be an object")
    if isinstance(data.get("choices"), Mapping):
        return {str(k): str(v) for k, v in data["choices"].items()}
    if isinstance(data.get("arch"), str):
        out = {}
        for part in data["arch"].split(";"):
            k, sep, v = part.strip().partition("=")
            if not sep:
                raise ArchError(f"architecture {data['arch'][:80]!r}: expected key=label pairs joined by ';'")
            out[k.strip()] = v.strip()
        return out
    by_key = {c.key: c for _, c in found}
    out = {}
    for key, v in data.items():
        c = by_key.get(key)
        if c is None:
            out[str(key)] = str(v)  # reported as not in the model by the caller
            continue
        if isinstance(v, list):
            hot = tuple(i for i, b in enumerate(v) if b)
            if isinstance(c, LayerChoice):
                if len(v) != len(c.names) or len(hot) != 1:
                    raise ArchError(f"choice {key!r}: expected a one-hot list of {len(c.names)}, got {v}")
                out[key] = c.names[hot[0]]
            else:
                if len(v) != c.n_candidates or hot not in c.options:
                    raise ArchError(f"input choice {key!r}: {v} is not a valid choice of {c.n_candidates} inputs "
                                    f"(n_chosen={c.n_chosen})")
                out[key] = c.names[c.options.index(hot)]
        elif isinstance(v, int) and not isinstance(v, bool) and 0 <= v < len(c.names):
            out[key] = c.names[v]
        elif isinstance(v, str) and v in c.names:
            out[key] = v
        else:
            raise ArchError(f"choice {key!r}: cannot read {v!r} (a one-hot list, a label or an index)")
    return out
