"""The search run directory: resolved config, per-epoch CSV log, checkpoints, exported architecture.

```
run/
  config.json        search settings, space, latency model summary, data description, hwnas version
  block_costs.json   the per-block latency model the search used (so export and retrain can predict latency)
  log.csv            one row per finished epoch: losses, accuracies, E[LAT], argmax arch, probabilities
  checkpoint.pt      supernet, optimisers, random states, history: written atomically after every epoch
  arch.json          the exported architecture (argmax per block) with its predicted latency
```
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .. import __version__
from ..errors import InputNotFound, UsageError
from ..io import atomic_write, atomic_write_json, make_dirs, read_json
from ..predictors.block_costs import BlockCosts
from ..space.model_space import space_from_dict
from ..space.spaces import SearchSpace
from .config import SearchConfig

if TYPE_CHECKING:
    import pandas as pd


class RunError(UsageError):
    """A run directory that cannot be used as asked (exists, incompatible, corrupt)."""


def costs_to_dict(costs: BlockCosts) -> dict[str, Any]:
    return {"const_ms": costs.const_ms, "costs": [list(c) for c in costs.costs]}


def costs_from_dict(d: dict[str, Any], where: str = "block costs") -> BlockCosts:
    """Read recorded block costs, checked: finite milliseconds in a list per block, and every network's total at
    least 0. A single cost may be negative: the calibrated predictor's per-candidate corrections are (a candidate
    cheaper than the reference one), while the total of each network is a latency."""
    import math

    def ms(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise RunError(f"{where} is damaged: {v!r} is not a number of ms")
        return float(v)

    if not isinstance(d, dict) or "const_ms" not in d or not isinstance(d.get("costs"), list) \
            or not all(isinstance(c, list) and c for c in d["costs"]):
        raise RunError(f"{where} is damaged: expected {{\"const_ms\": ms, \"costs\": [[ms, ...], ...]}}")
    costs = BlockCosts(ms(d["const_ms"]), tuple(tuple(ms(v) for v in c) for c in d["costs"]))
    if costs.min_ms() < 0:
        raise RunError(f"{where} is damaged: the fastest network's latency would be {costs.min_ms():.4g} ms, "
                       f"below 0")
    return costs


def check_run_config(data: Any, where: str) -> dict[str, Any]:
    """The one validator of a run's ``config.json``: the fields resume, export and retrain read."""
    from ..io import require

    try:
        require(data, "search", dict, where)
        require(data, "space", dict, where)
        SearchConfig.from_dict(data["search"])
        space_from_dict(data["space"], where=where)
        if "inputs" in data and not isinstance(data["inputs"], dict):
            raise UsageError(f"{where} is damaged: 'inputs' is not an object")
    except UsageError as exc:
        raise RunError(str(exc) if where in str(exc) else f"{where}: {exc}") from None
    return data


class RunDir:
    CONFIG, COSTS, LOG, CHECKPOINT, ARCH = "config.json", "block_costs.json", "log.csv", "checkpoint.pt", "arch.json"

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def has_checkpoint(self) -> bool:
        return self.file(self.CHECKPOINT).exists()

    # ---- config ---------------------------------------------------------------------------------------------
    def describe(self, config: SearchConfig, space: SearchSpace, costs: BlockCosts, data_desc: str,
                 extra: dict[str, Any] | None = None, *, inputs: dict[str, Any] | None = None) -> dict[str, Any]:
        out = {"format": "hwnas-search-run", "hwnas": __version__, "search": config.to_dict(),
               "space": space.to_dict(), "data": data_desc,
               "latency_model": {"min_ms": costs.min_ms(), "max_ms": costs.max_ms(), "const_ms": costs.const_ms,
                                 **(extra or {})}}
        if inputs is not None:
            out["inputs"] = inputs
        return out

    def start(self, resolved: dict[str, Any], costs: BlockCosts, *, resume: bool) -> dict[str, Any] | None:
        """Prepare the directory; return the checkpoint to continue from (``None``: start from scratch)."""
        if self.has_checkpoint and not resume:
            raise RunError(f"{self.path} already holds a search run; pass --resume (resume=True) to continue it or "
                           f"choose another directory")
        if resume and self.has_checkpoint:
            saved = self.config()
            self.check_compatible(saved, resolved, costs)
            ckpt = self.load_checkpoint()
            done, cfg = int(ckpt["epoch"]) + 1, SearchConfig.from_dict(resolved["search"])
            stages = (resolved.get("parts") or {}).get("stages")
            total = sum(int(st["epochs"]) for st in stages) if stages else cfg.warmup_epochs_effective + cfg.n_epochs
            if total < done:
                raise RunError(f"{self.path} has finished {done} epoch{'' if done == 1 else 's'} "
                               f"({cfg.warmup_epochs_effective} of warm-up); "
                               f"--epochs {cfg.n_epochs} would end before that: give at least "
                               f"{done - cfg.warmup_epochs_effective} to continue it")
            if "inputs" not in resolved and "inputs" in saved:
                resolved = {**resolved, "inputs": saved["inputs"]}
            atomic_write_json(self.file(self.CONFIG), resolved)
            return ckpt
        make_dirs(self.path)
        atomic_write_json(self.file(self.CONFIG), resolved)
        atomic_write_json(self.file(self.COSTS), costs_to_dict(costs))
        return None

    def check_compatible(self, saved: dict[str, Any], resolved: dict[str, Any], costs: BlockCosts) -> None:
        parts = [json.loads(json.dumps(d.get("parts"), default=str)) for d in (saved, resolved)]
        problems = SearchConfig.from_dict(resolved["search"]).resume_differences(
            SearchConfig.from_dict(saved["search"]), same_parts=parts[0] is not None and parts[0] == parts[1])
        if saved.get("space") != resolved.get("space"):
            problems.append("space: the run searched another space")
        if saved.get("data") != resolved.get("data"):
            problems.append(f"data: run used {saved.get('data')!r}, requested {resolved.get('data')!r}")
        procs = [d.get("distributed", {}).get("world_size", 1) for d in (saved, resolved)]
        if procs[0] != procs[1]:
            problems.append(f"processes: the run used {procs[0]} (so a global batch of {procs[0]} x batch_size), "
                            f"requested {procs[1]}; restart it with torchrun --nproc-per-node/--nnodes giving "
                            f"{procs[0]} processes")
        defaults = _stage_differences(saved.get("stages_resolved"), resolved.get("stages_resolved"))
        if problems and defaults[:1] and defaults[0].startswith("stages:"):
            defaults = []  # another chain because other settings were asked for (above): no default changed
        defaults += _optim_differences(saved, resolved)
        if defaults:
            problems += defaults + [f"(defaults that changed since the run started: finish it with the hwnas that "
                                    f"started it ({saved.get('hwnas', 'an earlier version')}), or start a new run)"]
        if self.file(self.COSTS).exists() and costs_to_dict(self.costs()) != costs_to_dict(costs):
            problems.append("latency model: the block costs differ from the run's block_costs.json")
        if problems:
            raise RunError(f"cannot resume {self.path} with different settings:\n  " + "\n  ".join(problems))

    def config(self) -> dict[str, Any]:
        path = self.file(self.CONFIG)
        return check_run_config(read_json(path, "run config", expect=dict), f"run config {path}")

    def costs(self) -> BlockCosts:
        path = self.file(self.COSTS)
        return costs_from_dict(read_json(path, "block costs", expect=dict), f"block costs {path}")

    # ---- checkpoints and log --------------------------------------------------------------------------------
    def save_checkpoint(self, state: dict[str, Any]) -> None:
        # streamed into the temporary file: serialising to a buffer first held two extra copies of the
        # supernet and its optimiser state at the peak (~60 MB of the search's RSS for a 4M-weight supernet)
        atomic_write(self.file(self.CHECKPOINT), lambda fh: torch.save(state, fh), mode="wb")

    def load_checkpoint(self) -> dict[str, Any]:
        path = self.file(self.CHECKPOINT)
        if not path.exists():
            raise InputNotFound(f"no checkpoint in {self.path}")
        try:
            # plain tensors and containers only: a checkpoint cannot run code when it is loaded
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types on a damaged file
            from ..io import torch_load_problem

            raise RunError(f"checkpoint {path} is corrupt or not hwnas's: {torch_load_problem(exc, path)}") from None
        need = ("net", "weight_opt", "arch_opt", "strategy", "rng", "history", "epoch")
        missing = [k for k in need if not isinstance(ckpt, dict) or k not in ckpt]
        if missing or not isinstance(ckpt["net"], dict) or not isinstance(ckpt["epoch"], int):
            raise RunError(f"checkpoint {path} is damaged: " + (f"no {', '.join(missing)}" if missing
                                                                 else "'net' or 'epoch' has the wrong type"))
        return ckpt

    def write_log(self, rows: list[dict[str, Any]]) -> None:
        """One CSV row per epoch (columns: every key in order of first appearance; a missing or NaN value is empty).
        Written with the csv module, not pandas, so that a search process never loads pandas (~40 MB)."""
        columns = list(dict.fromkeys(k for row in rows for k in row))

        def write(fh) -> None:
            w = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
            w.writeheader()
            w.writerows({k: "" if isinstance(v, float) and v != v else v for k, v in row.items()} for row in rows)

        atomic_write(self.file(self.LOG), write)

    def read_log(self) -> pd.DataFrame:
        import pandas as pd

        return pd.read_csv(self.file(self.LOG))


def search_cost(run_dir: Path | str, supernet_dir: Path | str) -> dict[str, float] | None:
    """What searching a trained supernet (``--method evolution --supernet RUN``) cost against training it, from the
    two runs' logs: the seconds of the search's rounds (proposing and scoring; every round of a resumed search), its
    new scores, and the seconds of the supernet's training steps (without their evaluation and saving). None where a
    log is missing or holds neither."""
    try:
        search, train = RunDir(run_dir).read_log(), RunDir(supernet_dir).read_log()
    except (OSError, ValueError, KeyError):
        return None
    if "phase" not in search or "train_s" not in search or "train_s" not in train:
        return None
    rounds = search[search["phase"] == "evolve"]
    if "phase" in train:  # a supernet run may have searched too (search rounds after its training): not training
        train = train[train["phase"] != "evolve"]
    train_s = float(train["train_s"].fillna(0).sum())
    if rounds.empty or train_s <= 0:
        return None
    return {"search_s": float(rounds["train_s"].fillna(0).sum()), "train_s": train_s,
            "new_scores": int(rounds["new_scores"].fillna(0).sum()) if "new_scores" in rounds else 0}


def describe_cost(cost: dict[str, float]) -> str:
    """One line: the search's seconds and new scores, and their share of the supernet's training."""
    return (f"{cost['search_s']:.1f} s ({cost['new_scores']} new scores), {cost['search_s'] / cost['train_s']:.1%} of "
            f"the supernet's {cost['train_s']:.0f} s of training")


def temp_run_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="hwnas-search-"))


# What a run ran with where it recorded no value for a part's setting, for the settings added or whose defaults
# changed since runs began recording their parts' settings: a resume compares these as if recorded. (Any other
# setting a run did not record is one added since that only adds behaviour: not compared.)
BEFORE_RECORDED: dict[str, dict[str, Any]] = {
    "inherited": {"bn": "recalibrate"},   # scores re-estimated BatchNorm in the child until bn (default batch) came
    "evolution": {"population": 100},     # Once-for-All's population until SPOS's 50 became the default
}


def _part_differences(a: dict[str, Any], b: dict[str, Any], what: str) -> list[str]:
    before = {**BEFORE_RECORDED.get(str(a.get("type")), {}), **a}
    return [f"{what} {k}: the run used {before.get(k)!r}, this version resolves {b.get(k)!r}"
            for k in sorted(set(before) | set(b)) if k != "epochs" and k in before and before.get(k) != b.get(k)]


def _stage_differences(saved: Any, now: Any) -> list[str]:
    """Each stage setting, other than its epochs (a resumed run may be given more), that resolves otherwise now than
    when the run started (a default changed since); nothing for a run that recorded none."""
    if saved is None:
        return []
    saved, now = (json.loads(json.dumps(x, default=str)) for x in (saved, now))
    if [s.get("type") for s in saved] != [s.get("type") for s in now]:
        return [f"stages: the run had {[s.get('type') for s in saved]}, now {[s.get('type') for s in now]}"]
    return [d for a, b in zip(saved, now, strict=True) for d in _part_differences(a, b, f"{a['type']} stage")]


def _optim_differences(saved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """The architecture optimizer's settings that resolve otherwise now than when the run started: its recorded
    ``optim_resolved``, or for a run from before that was recorded, the settings it was given (``parts``) and the
    defaults it then had."""
    mine = now.get("optim_resolved")
    if not mine or (now.get("search") or {}).get("search_rounds") == 0:
        return []  # (a run that only trains a supernet proposes nothing: its optimizer's settings do not matter)
    then = saved.get("optim_resolved")
    if then is None:
        given = (saved.get("parts") or {}).get("optim")
        if not isinstance(given, dict) or given.get("type") != mine.get("type"):
            return []  # another optimizer is a difference of the parts, reported as such
        then = given
    then, mine = (json.loads(json.dumps(x, default=str)) for x in (then, mine))
    return _part_differences(then, mine, f"{mine.get('type')} optimizer")
