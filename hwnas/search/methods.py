"""Named methods: combinations of a mixed op, an architecture optimizer and a chain of estimators, as ModularNAS
names its configurations. ``hwnas search --method NAME`` (or ``method:`` in a config file) picks one; every part
can be overridden (``--mixed-op``, ``--arch-optim``, ``stages``), and a combination that makes no sense is refused
in one line naming what fits (:func:`hwnas.search.optim.check_fit`).

| method | mixed op | optimizer | estimators |
|---|---|---|---|
| ``proxyless-g`` (``grad``) | BinGate | binarygate | warmup, supernet |
| ``proxyless-r`` (``rl``) | BinGate | reinforce | warmup, supernet |
| ``darts`` | WeightedSum | darts | warmup, supernet |
| ``gdas`` | GumbelSum (hard) | darts | warmup, supernet |
| ``gumbel`` (SNAS) | GumbelSum (soft) | darts | warmup, supernet |
| ``enas`` | Index | enas | warmup, supernet |
| ``spos`` | Index | evolution | spos, inherited |
| ``ofa`` | Index | evolution | progressive, inherited |
| ``evolution`` / ``random`` | Index | evolution / random | inherited (on a trained ``supernet``) |
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import UnknownNameError, UsageError


@dataclass(frozen=True)
class Method:
    mixed_op: str
    optim: str
    training: str | None            # the main training estimator (after the warm-up), or None
    search: bool = False            # a derivative-free search stage after training
    warmup: bool = True             # honours warmup / warmup_epochs
    mixed_op_args: dict[str, Any] = field(default_factory=dict)
    train_args: dict[str, Any] = field(default_factory=dict)
    summary: str = ""


METHODS: dict[str, Method] = {
    "proxyless-g": Method("BinGate", "binarygate", "supernet", summary="ProxylessNAS, gradient (binary gates)"),
    "proxyless-r": Method("BinGate", "reinforce", "supernet", summary="ProxylessNAS, REINFORCE"),
    "darts": Method("WeightedSum", "darts", "supernet", summary="DARTS, first order"),
    "gdas": Method("GumbelSum", "darts", "supernet", mixed_op_args={"hard": True},
                   summary="GDAS / GumbelDARTS: hard Gumbel-softmax samples, one path per step"),
    "gumbel": Method("GumbelSum", "darts", "supernet", mixed_op_args={"hard": False},
                     summary="SNAS / FBNet: soft Gumbel-softmax over every candidate"),
    "enas": Method("Index", "enas", "supernet", summary="ENAS: LSTM controller, REINFORCE, shared weights"),
    "spos": Method("Index", "evolution", "spos", search=True, warmup=False,
                   summary="single-path one-shot training, then evolution on inherited accuracy"),
    "ofa": Method("Index", "evolution", "progressive", search=True, warmup=False,
                  summary="Once-for-All: progressive shrinking, then evolution on inherited accuracy"),
    "evolution": Method("Index", "evolution", None, search=True, warmup=False,
                        summary="evolution on a trained supernet (--supernet RUN)"),
    "random": Method("Index", "random", None, search=True, warmup=False,
                     summary="random search on a trained supernet (--supernet RUN)"),
}
ALIASES = {"grad": "proxyless-g", "rl": "proxyless-r", "snas": "gumbel", "gumbeldarts": "gdas",
           "once-for-all": "ofa"}


def method_names() -> list[str]:
    return sorted([*METHODS, *ALIASES])


def get_method(name: str) -> Method:
    key = ALIASES.get(name, name)
    if key not in METHODS:
        raise UnknownNameError(f"unknown method {name!r}; known: {', '.join(method_names())}")
    return METHODS[key]


def canonical(name: str) -> str:
    return ALIASES.get(name, name)


def resolve_parts(cfg: Any) -> dict[str, Any]:
    """The parts a search config stands for: the mixed op and its settings, the optimizer and its settings, and
    the estimator chain as ``[{"type", "epochs", ...settings}]`` (what ``config.json`` records as ``parts``)."""
    from .estim import ESTIMATORS
    from .mixed import MIXED_OPS
    from .optim import OPTIMIZERS

    m = get_method(cfg.method)
    mixed = cfg.mixed_op or m.mixed_op
    margs = dict(m.mixed_op_args) if mixed == m.mixed_op else {}
    if MIXED_OPS.get(mixed).__name__ in ("BinGate", "BinGateUniform"):
        margs.setdefault("binary_mode", cfg.binary_mode)
    margs.update(cfg.mixed_op_args or {})
    optim = cfg.arch_optim or m.optim
    if cfg.stages is not None:
        stages = [dict(s) for s in cfg.stages]
    else:
        stages = []
        if m.warmup and cfg.warmup_epochs_effective > 0 and cfg.supernet is None:
            stages.append({"type": "warmup", "epochs": cfg.warmup_epochs_effective})
        if m.training is not None and cfg.supernet is None:
            stages.append({"type": m.training, "epochs": cfg.n_epochs, **m.train_args, **(cfg.train_args or {})})
        if m.search:
            stages.append({"type": "inherited", "epochs": cfg.search_rounds, **(cfg.search_args or {})})
    for s in stages:
        if not isinstance(s, dict) or "type" not in s or "epochs" not in s:
            raise UsageError(f"each stage must be an object with 'type' and 'epochs', not {s!r}")
        ESTIMATORS.check_args(s["type"], {k: v for k, v in s.items() if k not in ("type", "epochs")})
    return {"mixed_op": {"type": MIXED_OPS.spelled(mixed), **MIXED_OPS.check_args(mixed, margs)},
            "optim": {"type": OPTIMIZERS.spelled(optim), **OPTIMIZERS.check_args(optim, cfg.arch_optim_args)},
            "stages": [{**s, "type": ESTIMATORS.spelled(s["type"])} for s in stages]}


def _stage_kind(s: dict[str, Any]) -> str:
    from .estim import ESTIMATORS

    est = ESTIMATORS.get(s["type"])
    return "warm-up" if est.name == "warmup" else ("training" if est.trains else "search")


# SearchConfig fields that only a search learning α (gradient, REINFORCE) or its BinGate mixed op reads: an optimizer
# proposing whole architectures (evolution, random, grid) ignores them
ALPHA_FIELDS = ("arch_optim_lr", "arch_init_type", "arch_init_ratio", "grad_update_arch_param_every",
                "grad_update_steps", "latency_loss", "loss_alpha", "loss_beta", "loss_lambda", "rl_preset",
                "rl_samples", "binary_mode")


def check_alpha_flags(cfg: Any, given: dict[str, str]) -> None:
    """One line for a flag (``given``: SearchConfig field -> the flag that set it) that a derivative-free
    optimizer would drop: it proposes whole architectures, so α's learning rate, the latency loss and the
    REINFORCE reward do nothing."""
    from .optim import OPTIMIZERS

    optim = OPTIMIZERS.get(resolve_parts(cfg)["optim"]["type"])
    dropped = [flag for field, flag in given.items() if field in ALPHA_FIELDS]
    if optim.derivative_free and dropped:
        raise UsageError(f"{dropped[0]} sets how α is learned, and {optim.name} (method {cfg.method}) proposes whole "
                         f"architectures under the latency model, with no α: leave it out")


_FLAG_STAGES = ((("--warmup-epochs", None), "warm-up"), (("--epochs", "--train-arg"), "training"),
                (("--search-rounds", "--search-arg"), "search"))


def check_stage_flags(stages: list[dict[str, Any]], method: str, *, n_epochs: int | None = None,
                      warmup_epochs: int | None = None, search_rounds: int | None = None,
                      train_args: Any = None, search_args: Any = None) -> None:
    """A named method's chain: one line for a flag that sets a stage the chain does not have (``--search-arg`` for
    darts, ``--train-arg`` for a search of a trained supernet), which would otherwise be dropped."""
    given = {"warm-up": (warmup_epochs, None), "training": (n_epochs, train_args),
             "search": (search_rounds, search_args)}
    kinds = {_stage_kind(s) for s in stages}
    for flags, want in _FLAG_STAGES:
        epochs, args = given[want]
        if (epochs is not None or args) and want not in kinds:
            flag = flags[0] if epochs is not None else flags[1]
            chain = " -> ".join(s["type"] for s in stages) or "none"
            raise UsageError(f"{flag} sets the {want} stage, and method {method} ({chain}) has no {want} stage: "
                             f"leave it out, or choose a method that has one (docs/methods.md)")


def stages_with_flags(stages: list[dict[str, Any]], *, n_epochs: int | None = None, warmup_epochs: int | None = None,
                      no_warmup: bool = False, search_rounds: int | None = None,
                      train_args: dict[str, Any] | None = None,
                      search_args: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """An experiment file's estimator chain with the command line's flags on top (the flags override the file):
    ``--warmup-epochs`` / ``--no-warmup`` the warm-up stage, ``--epochs`` and ``--train-arg`` the training stage,
    ``--search-rounds`` and ``--search-arg`` the search stage. A flag whose stage the chain has none of, or
    several of, is refused in one line (the file must say which)."""
    kind = _stage_kind
    out = [dict(s) for s in stages]
    if no_warmup:
        out = [s for s in out if kind(s) != "warm-up"]
    for flags, want, epochs, args in ((("--warmup-epochs", None), "warm-up", warmup_epochs, None),
                                      (("--epochs", "--train-arg"), "training", n_epochs, train_args),
                                      (("--search-rounds", "--search-arg"), "search", search_rounds, search_args)):
        if epochs is None and not args:
            continue
        hits = [s for s in out if kind(s) == want]
        if len(hits) != 1:
            chain = " -> ".join(s["type"] for s in out) or "none"
            flag = flags[0] if epochs is not None else flags[1]
            raise UsageError(f"{flag} sets the {want} stage, and the experiment's estim chain ({chain}) has "
                             f"{len(hits) or 'no'} {want} stage{'s' if len(hits) > 1 else ''}: set it in the file")
        if epochs is not None:
            hits[0]["epochs"] = epochs
        hits[0].update(args or {})
    return out
