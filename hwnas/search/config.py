"""Search settings as one dataclass: defaults, JSON load, flag overrides, validation.

Names follow NNI's ``ProxylessNasTrainer`` (``n_epochs``, ``init_lr``, ``binary_mode``, ``arch_init_type``,
``arch_init_ratio``, ``arch_optim_lr``, ``arch_weight_decay``, ``grad_update_arch_param_every``,
``grad_update_steps``, ``warmup``, ``warmup_epochs``, ``arch_valid_frequency``, ``label_smoothing``); the rest are
the official ProxylessNAS code's latency-loss and REINFORCE settings. The resolved config is written into the
run directory and checked on ``--resume``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..io import read_json

BINARY_MODES = ("full", "two", "full_v2")
ARCH_INIT_TYPES = ("normal", "uniform")
RL_PRESETS = {"soft": (-0.07, -0.07), "hard": (0.0, -1.0)}  # MnasNet: (alpha, beta)

def _type_problems(obj: Any) -> list[str]:
    """Each field's value against its annotation (``int``, ``float``, ``str``, ``bool``, ``X | None``): a config
    file or a recorded run can hold anything JSON can; floats must also be finite."""
    out = []
    for f in fields(obj):
        v, typ = getattr(obj, f.name), str(f.type)
        if v is None and typ.endswith("| None"):
            continue
        base = typ.split("|")[0].split("[")[0].strip()
        ok = {"int": isinstance(v, int) and not isinstance(v, bool),
              "float": isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
              "str": isinstance(v, str), "bool": isinstance(v, bool), "dict": isinstance(v, dict),
              "list": isinstance(v, (list, tuple))}.get(base, True)
        if not ok:
            want = {"float": "a finite number", "int": "an integer", "str": "a string", "bool": "true or false",
                    "dict": "an object of settings", "list": "a list"}[base]
            out.append(f"{f.name} must be {want}, not {v!r}"[:200])
    return out


# settings that may differ when resuming (they do not change what was already computed)
# (a run started on a GPU may continue on the CPU and back: device, mixed precision and workers may change)
# the settings that only choose the method's parts: two configs whose resolved parts are equal search alike whatever
# these say (a method's alias, or an experiment file that spells its parts out)
PART_FIELDS = frozenset({"method", "mixed_op", "mixed_op_args", "arch_optim", "arch_optim_args", "stages", "train_args",
                         "search_args", "search_rounds", "n_epochs", "warmup", "warmup_epochs", "binary_mode"})
RESUMABLE_CHANGES = ("n_epochs", "arch_valid_frequency", "progress", "export", "device", "amp", "channels_last",
                     "workers")


@dataclass(frozen=True)
class SearchConfig:
    # what to search for: a named method (hwnas.search.methods: grad = proxyless-g, rl = proxyless-r, darts, gdas,
    # gumbel, enas, spos, ofa, evolution, random), a combination of parts
    method: str = "grad"
    target_ms: float | None = None          # latency target T; None searches for accuracy only
    seed: int = 0
    # schedule (NNI ProxylessNasTrainer names and defaults)
    n_epochs: int = 120                     # search epochs, after warm-up
    warmup: bool = True
    warmup_epochs: int = 25
    batch_size: int = 64                    # per process: under torchrun the global batch is this x world size
    init_lr: float = 0.025                  # SGD, cosine-annealed (warm-up and search each have their own cycle)
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 4e-5              # on conv / linear weights only
    label_smoothing: float = 0.1
    dropout: float = 0.0
    # candidate weights: separate (one set per candidate, ProxylessNAS) | shared (built-in spaces: the centre
    # kernel and first channels of one largest MBConv per block, Once-for-All style; hwnas.search.shared) | auto
    # (the default: shared on built-in spaces, where separate weights stay at chance in a short search
    # (docs/search.md), separate on model spaces, whose candidates are arbitrary modules)
    supernet_weights: str = "auto"
    grad_update_arch_param_every: int = 5   # an architecture step after every this many weight steps
    grad_update_steps: int = 1              # architecture steps each time
    arch_valid_frequency: int = 1           # evaluate the argmax architecture on the held-out split every N epochs
    # architecture parameters
    binary_mode: str = "full_v2"            # full | two | full_v2
    arch_init_type: str = "normal"          # normal: N(0, ratio); uniform: U(-ratio, ratio)
    arch_init_ratio: float = 1e-3
    arch_optim_lr: float = 1e-3             # Adam, betas (0, 0.999)
    arch_adam_beta1: float = 0.0
    arch_adam_beta2: float = 0.999
    arch_adam_eps: float = 1e-8
    arch_weight_decay: float = 0.0
    # gradient search: the latency loss (hwnas.search.latency_loss)
    # auto: mul#log where target and fastest network are above 1 ms (official), else add#abs (any unit)
    latency_loss: str = "auto"              # auto | mul#log | add#linear | mul#pow | add#abs
    loss_alpha: float = 0.2                 # mul#log: α·CE·(log E[LAT] / log T)^β
    loss_beta: float = 0.3                  # mul#log / mul#pow exponent
    loss_lambda: float = 0.1                # add#linear / add#abs weight
    # REINFORCE
    rl_preset: str | None = "soft"          # soft (α=β=-0.07) | hard (α=0, β=-1) | None: use rl_alpha / rl_beta
    rl_alpha: float = -0.07                 # exponent w when LAT <= T
    rl_beta: float = -0.07                  # exponent w when LAT > T
    rl_samples: int = 10                    # architectures sampled per REINFORCE step
    rl_baseline_decay: float = 0.9          # b <- decay·b + (1 - decay)·mean(R)
    # export: argmax α per block (ProxylessNAS), or "fit": the argmax made to fit the target under the latency
    # model (cheapened where it is over, budget spent where it is more than 5% under; hwnas.search.derive)
    export: str = "fit"
    # where it runs (hwnas.train.device): auto | cpu | cuda | cuda:N; weights' mixed precision off | bf16 | fp16;
    # channels-last memory (None: on for built-in spaces, off for model spaces); DataLoader worker processes (None:
    # 0 for in-memory data, else up to 8)
    device: str = "auto"
    amp: str = "off"
    channels_last: bool | None = None
    workers: int | None = None
    # the method's parts, overridden (None: the method's; hwnas.search.mixed / .optim / .estim name them)
    mixed_op: str | None = None             # BinGate, BinGateUniform, WeightedSum, GumbelSum, Index
    mixed_op_args: dict[str, Any] | None = None
    arch_optim: str | None = None           # binarygate, reinforce, darts, directgrad, enas, evolution, ...
    arch_optim_args: dict[str, Any] | None = None
    train_args: dict[str, Any] | None = None    # the training estimator's settings (spos: sandwich, distill, ...)
    search_args: dict[str, Any] | None = None   # the search stage's (inherited: per_round, band, predictor, ...)
    stages: list[dict[str, Any]] | None = None  # the whole estimator chain [{type, epochs, ...}], replacing the above
    search_rounds: int = 10                 # rounds of a derivative-free search stage (spos, ofa, evolution, random)
    supernet: str | None = None             # a trained supernet run to search without training (evolution, random)
    # bookkeeping
    progress: bool = True

    def __post_init__(self) -> None:
        problems = _type_problems(self)
        if problems:  # the range checks below assume the types are right
            raise UsageError("invalid search config: " + "; ".join(problems))
        from .methods import METHODS, method_names

        if self.method not in method_names():
            problems.append(f"method must be one of {', '.join(method_names())}, not {self.method!r}")
        elif METHODS.get(self.method) is not None and METHODS[self.method].training is None \
                and self.supernet is None and self.stages is None:
            problems.append(f"method {self.method} searches a trained supernet: give supernet (--supernet RUN, a "
                            f"search run trained with spos, ofa or another method)")
        if self.stages is not None:
            object.__setattr__(self, "stages", [dict(s) if isinstance(s, dict) else s for s in self.stages])
            if not self.stages or not all(isinstance(s, dict) for s in self.stages):
                problems.append("stages must be a non-empty list of {type, epochs, ...} objects")
        if self.search_rounds < 0:
            problems.append("search_rounds must be >= 0")
        if self.export not in ("argmax", "fit"):
            problems.append(f"export must be argmax or fit, not {self.export!r}")
        if self.supernet_weights not in ("auto", "separate", "shared"):
            problems.append(f"supernet_weights must be auto, separate or shared, not {self.supernet_weights!r}")
        if self.binary_mode not in BINARY_MODES:
            problems.append(f"binary_mode must be one of {', '.join(BINARY_MODES)}, not {self.binary_mode!r}")
        if self.arch_init_type not in ARCH_INIT_TYPES:
            problems.append(f"arch_init_type must be normal or uniform, not {self.arch_init_type!r}")
        if self.rl_preset is not None and self.rl_preset not in RL_PRESETS:
            problems.append(f"rl_preset must be one of {', '.join(RL_PRESETS)} or None, not {self.rl_preset!r}")
        if self.target_ms is not None and not (self.target_ms > 0 and math.isfinite(self.target_ms)):
            problems.append(f"target_ms must be a positive, finite number of ms, not {self.target_ms}")
        for name in ("init_lr", "arch_optim_lr"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be > 0, not {getattr(self, name)}")
        for name in ("weight_decay", "arch_weight_decay", "arch_init_ratio", "arch_adam_eps"):
            if not getattr(self, name) >= 0:
                problems.append(f"{name} must be >= 0, not {getattr(self, name)}")
        for name in ("momentum", "label_smoothing", "dropout", "arch_adam_beta1", "arch_adam_beta2"):
            if not 0 <= getattr(self, name) < 1:
                problems.append(f"{name} must be in [0, 1), not {getattr(self, name)}")
        for name in ("n_epochs", "warmup_epochs"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0")
        for name in ("batch_size", "grad_update_arch_param_every", "grad_update_steps", "arch_valid_frequency",
                     "rl_samples"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        if self.amp not in ("off", "bf16", "fp16"):
            problems.append(f"amp must be off, bf16 or fp16, not {self.amp!r}")
        if self.workers is not None and self.workers < 0:
            problems.append("workers must be >= 0")
        if not 0 <= self.rl_baseline_decay < 1:
            problems.append("rl_baseline_decay must be in [0, 1)")
        from .latency_loss import LOSS_NAMES

        if self.latency_loss not in LOSS_NAMES:
            problems.append(f"latency_loss must be one of {', '.join(LOSS_NAMES)}, not {self.latency_loss!r}")
        if problems:
            raise UsageError("invalid search config: " + "; ".join(problems))

    @property
    def reward_exponents(self) -> tuple[float, float]:
        """(α, β) of the REINFORCE reward ACC·(LAT/T)^w."""
        return RL_PRESETS[self.rl_preset] if self.rl_preset else (self.rl_alpha, self.rl_beta)

    @property
    def warmup_epochs_effective(self) -> int:
        return self.warmup_epochs if self.warmup else 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchConfig:
        if not isinstance(data, dict):
            raise UsageError(f"search settings must be a JSON object of SearchConfig fields, not "
                             f"{type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(f"unknown search setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**data)

    @classmethod
    def load(cls, path: str | Path) -> SearchConfig:
        data = read_json(path, "search config")
        if isinstance(data, dict) and "search" in data:  # a run directory's resolved config
            data = data["search"]
        return cls.from_dict(data)

    def override(self, **changes: Any) -> SearchConfig:
        """A copy with the non-``None`` ``changes`` applied (command-line flags over a config file)."""
        changes = {k: v for k, v in changes.items() if v is not None}
        try:
            return replace(self, **changes)
        except TypeError as exc:
            raise UsageError(f"search config: {exc}") from None

    def resume_differences(self, other: SearchConfig, *, same_parts: bool = False) -> list[str]:
        """Settings that differ from a run's saved config in a way that resuming cannot honour (``same_parts``:
        both resolve to the same parts, so the fields that only choose them do not count)."""
        mine, theirs = self.to_dict(), other.to_dict()
        skip = set(RESUMABLE_CHANGES) | (PART_FIELDS if same_parts else set())
        return [f"{k}: run has {theirs[k]!r}, requested {mine[k]!r}" for k in mine
                if k not in skip and mine[k] != theirs[k]]

