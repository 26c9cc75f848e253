"""One choice's value in NNI's fixed-architecture JSON, in every dialect NNI writes or reads, read to hwnas's label
(the same for ``apply_fixed_architecture`` and ``ModelSpace.parse``), and written back in NNI 1.x's form.

The dialects (NNI 1.x's ``FixedArchitecture._from_human_readable_architecture`` and NNI 2/3's ``fixed_arch``):

- a list of booleans, or of floats, as long as the choice (NNI 1.x's one-hot / multi-hot): a mask;
- a candidate's name or index, or a list of one (NNI 1.x's human-readable export; NNI 2/3's ``LayerChoice``);
- a list of input indices or ``choose_from`` names, or one of them alone (NNI 2/3's ``InputChoice``; NNI 1.x's
  human-readable export), ``[]`` for none;
- hwnas's own labels (``"0+2"``, ``"none"``).

A list of 0/1 integers as long as the choice could be NNI's index list or a 0/1 mask. NNI reads integers as indices
(NNI 1.x's loader: "a multihot array has to be a boolean array or a float array"; NNI 3.0 likewise), and so does
hwnas: ``[0]`` on an ``InputChoice(1, n_chosen=None)`` keeps input 0. A list that cannot be an index list (an index
repeats or is out of range) is read as a 0/1 mask (``[1, 0, 1]``). A list of distinct indices that is no valid
choice while the mask reading would be one (``[0, 1]`` on a 1-of-2 choice) is refused as ambiguous, naming both.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .spec import ArchError


@dataclass(frozen=True)
class ChoiceInfo:
    """What reading a value needs to know of a choice: its key, kind, labels (hwnas's option names) and, for an
    input choice, the number of inputs and their ``choose_from`` names."""

    key: str
    kind: str  # "layer" | "input"
    labels: tuple[str, ...]
    n_inputs: int = 0
    input_names: tuple[str, ...] | None = None
    n_chosen: int | None | str = "?"  # for messages only

    @classmethod
    def of(cls, key: str, choice: Any) -> ChoiceInfo:
        """From a live ``LayerChoice`` / ``InputChoice``."""
        if hasattr(choice, "candidates"):
            return cls(key, "layer", tuple(choice.names))
        return cls(key, "input", tuple(choice.names), choice.n_candidates, choice.input_names, choice.n_chosen)

    def subsets(self) -> dict[tuple[int, ...], str]:
        return {label_inputs(lab): lab for lab in self.labels}


def label_inputs(label: str) -> tuple[int, ...]:
    """hwnas's label of an input subset (``"0+2"``, ``"none"``) -> the input indices."""
    return () if label == "none" else tuple(int(v) for v in label.split("+"))


def show(value: Any) -> str:
    """A value as the JSON it came from (``[true, false]``, ``"x"``)."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_mask(v: Sequence[Any]) -> bool:
    """NNI 1.x's test for a multi-hot list: all booleans, or all floats."""
    return bool(v) and (all(isinstance(b, bool) for b in v) or all(isinstance(b, float) for b in v))


def _mask_hot(info: ChoiceInfo, v: list[Any], n: int, what: str) -> tuple[int, ...]:
    if len(v) != n:
        raise ArchError(f"choice {info.key!r}: {show(v)} is a mask of {len(v)}, expected {n} (one per {what})")
    if any(b not in (0, 1) for b in v):
        raise ArchError(f"choice {info.key!r}: {show(v)} holds weights, not a choice: write true/false per {what}")
    return tuple(i for i, b in enumerate(v) if b)


def read_value(info: ChoiceInfo, value: Any) -> str:
    """The label ``value`` chooses for the choice ``info`` (an ``ArchError`` in one line, naming the choice and the
    value, when it chooses nothing valid or could mean two things)."""
    if hasattr(value, "tolist") and not isinstance(value, (str, list)):  # a tensor or array, as NNI's to_list
        value = value.tolist()
    if isinstance(value, tuple):
        value = list(value)
    return _read_layer(info, value) if info.kind == "layer" else _read_input(info, value)


def _layer_index(info: ChoiceInfo, x: Any) -> int | None:
    if _int(x) and 0 <= x < len(info.labels):
        return x
    if isinstance(x, str) and x in info.labels:
        return info.labels.index(x)
    return None


def _read_layer(info: ChoiceInfo, v: Any) -> str:
    n, key = len(info.labels), info.key
    if not isinstance(v, list):
        i = _layer_index(info, v)
        if i is None:
            raise ArchError(f"choice {key!r}: cannot read {show(v)}: expected one of {list(info.labels)}, an index "
                            f"below {n}, or a one-hot list of {n}")
        return info.labels[i]
    if _is_mask(v):
        hot = _mask_hot(info, v, n, "candidate")
        if len(hot) != 1:
            raise ArchError(f"choice {key!r}: {show(v)} chooses {len(hot)} candidates; a LayerChoice takes one")
        return info.labels[hot[0]]
    idx = [_layer_index(info, x) for x in v]
    as_index = idx[0] if len(v) == 1 and idx[0] is not None else None  # NNI 1.x: a list of one name / index
    as_mask = v.index(1) if len(v) == n and all(_int(b) and b in (0, 1) for b in v) and sum(v) == 1 else None
    if as_index is not None:
        return info.labels[as_index]
    distinct = all(i is not None for i in idx) and len(set(idx)) == len(idx)
    if as_mask is not None and not distinct:  # repeats: no index list, so the 0/1 one-hot it is
        return info.labels[as_mask]
    if as_mask is not None:
        raise ArchError(f"choice {key!r}: {show(v)} is ambiguous: as NNI's index list it chooses {len(v)} candidates, "
                        f"as a 0/1 mask candidate {info.labels[as_mask]!r}; write "
                        f"{show([j == as_mask for j in range(n)])} if the mask is meant")
    raise ArchError(f"choice {key!r}: cannot read {show(v)}: expected one candidate (one of {list(info.labels)} or "
                    f"an index below {n}) or a one-hot list of {n}")


def _input_index(info: ChoiceInfo, x: Any) -> int | None:
    if _int(x):
        return x if 0 <= x < info.n_inputs else None
    if isinstance(x, str):
        if info.input_names and x in info.input_names:
            return info.input_names.index(x)
        if x.isascii() and x.isdigit() and int(x) < info.n_inputs:
            return int(x)
    return None


def _read_input(info: ChoiceInfo, v: Any) -> str:
    n, key, subsets = info.n_inputs, info.key, info.subsets()
    valid = (f"one of its options {list(info.labels)} (n_chosen={info.n_chosen})")
    if isinstance(v, str):  # hwnas's label ("0+2", "none"), or a choose_from name
        found = {v} if v in info.labels else set()
        if info.input_names and v in info.input_names and (info.input_names.index(v),) in subsets:
            found.add(subsets[(info.input_names.index(v),)])
        if len(found) > 1:
            raise ArchError(f"input choice {key!r}: {show(v)} is ambiguous: the option {v!r} or the input named so "
                            f"(input {info.input_names.index(v)}); write the input's index in a list")
        if found:
            return found.pop()
    if isinstance(v, bool):
        v = [v]  # NNI wraps a scalar in a list; a single boolean is a mask of one
    elif not isinstance(v, list):
        i = _input_index(info, v)
        if i is None:
            raise ArchError(f"input choice {key!r}: cannot read {show(v)}: expected input indices below {n}"
                            + (f" or names {list(info.input_names)}" if info.input_names else "")
                            + f", a mask of {n}, or one of {list(info.labels)}")
        if (i,) not in subsets:
            raise ArchError(f"input choice {key!r}: {show(v)} chooses input {i} alone, which is not {valid}")
        return subsets[(i,)]
    if _is_mask(v):
        hot = _mask_hot(info, v, n, "input")
        if hot not in subsets:
            raise ArchError(f"input choice {key!r}: {show(v)} chooses inputs {list(hot)}, which is not {valid}")
        return subsets[hot]
    idx = [_input_index(info, x) for x in v]
    as_indices = tuple(sorted(idx)) if all(i is not None for i in idx) and len(set(idx)) == len(idx) else None
    as_mask = tuple(i for i, b in enumerate(v) if b) if len(v) == n and all(_int(b) and b in (0, 1) for b in v) \
        else None
    if as_indices is not None:  # NNI's reading of integers (1.x's loader, 2/3's fixed architectures): indices
        if as_indices in subsets:
            return subsets[as_indices]
        if as_mask is not None and as_mask in subsets:
            raise ArchError(f"input choice {key!r}: {show(v)} is ambiguous: as NNI's index list it chooses inputs "
                            f"{list(as_indices)}, which is not {valid}; as a 0/1 mask it chooses inputs "
                            f"{list(as_mask)}: write {show([i in as_mask for i in range(n)])} if the mask is meant")
        raise ArchError(f"input choice {key!r}: {show(v)} chooses inputs {list(as_indices)}, which is not {valid}")
    if as_mask is not None and as_mask in subsets:  # an index repeats or is out of range: a 0/1 mask it is
        return subsets[as_mask]
    raise ArchError(f"input choice {key!r}: cannot read {show(v)}: neither distinct input indices below {n} nor a "
                    f"0/1 mask of {n} that is {valid}")


def write_value(info: ChoiceInfo, label: str) -> list[bool]:
    """NNI 1.x's form of a label: a one-hot list over the candidates, a multi-hot list over the inputs."""
    if info.kind == "layer":
        return [lab == label for lab in info.labels]
    chosen = set(label_inputs(label))
    return [i in chosen for i in range(info.n_inputs)]
