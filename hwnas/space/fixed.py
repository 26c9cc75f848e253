"""From a searched architecture back to a plain network: every choice replaced by what it chose (NNI's
``apply_fixed_architecture``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import UsageError
from .choices import InputChoice, LayerChoice
from .discovery import find_choices
from .spec import ArchError, ModelArch


def _child(model: nn.Module, path: str) -> tuple[nn.Module, str]:
    parent_path, _, name = path.rpartition(".")
    return (model.get_submodule(parent_path) if parent_path else model), name


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
                             space: Any = None) -> nn.Module:
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
        except OSError as exc:  # a folder, no permission
            raise UsageError(f"cannot read architecture file {path}: {exc.strerror or exc}") from None
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
        return ModelArch.pairs(data["arch"])
    by_key = {c.key: c for _, c in found}
    out = {}
    for key, v in data.items():
        c = by_key.get(key)
        if c is None:
            out[str(key)] = str(v)  # reported as not in the model by the caller
            continue
        if isinstance(v, list):
            if any(b not in (True, False, 0, 1) for b in v):
                raise ArchError(f"choice {key!r}: {v} is not a list of booleans")
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
