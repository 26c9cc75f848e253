"""What a rerun of ``hwnas pareto`` may reuse: the settings each stage's results depend on
(:func:`stage_settings`, recorded in ``pareto_config.json``) and the refusal, or with ``force`` the removal, of
stages made with other settings (:func:`check_reuse`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..io import read_json
from ..predictors.block_costs import BlockCosts
from ..space.spaces import SearchSpace
from .config import ParetoConfig, trains_once

logger = logging.getLogger(__name__)


def digest(obj: Any) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def backend_settings(backend: Any) -> dict[str, Any]:
    return backend.settings() if hasattr(backend, "settings") else {"backend": getattr(backend, "name", "?")}


def stage_settings(cfg: ParetoConfig, space: SearchSpace, costs: BlockCosts, backend: Any) -> dict[str, dict[str, Any]]:
    """What each reusable stage's results depend on (targets excepted: each has its own folder)."""
    from ..search.run import costs_to_dict

    common = {"space": space.to_dict(), "data": cfg.data, "data_limit": cfg.data_limit, "seed": cfg.seed,
              "batch_size": cfg.batch_size}
    search = {**common, "latency_model": digest(costs_to_dict(costs)), "method": cfg.method,
              "search_epochs": cfg.search_epochs, "warmup_epochs": cfg.warmup_epochs, "arch_lr": cfg.arch_lr,
              "latency_loss": cfg.latency_loss, "loss_lambda": cfg.loss_lambda, "binary_mode": cfg.binary_mode,
              **({"supernet_weights": cfg.supernet_weights} if cfg.supernet_weights != "separate" else {})}
    if trains_once(cfg):  # each target's evolution scores children of the supernet: how (folders from before: the
        # children recalibrated; their settings recorded no scoring, so they are refused as made otherwise)
        from ..search.estim.base import ESTIMATORS

        search["scoring"] = {"bn": ESTIMATORS.settings("inherited")["bn"],
                             "population": cfg.evo_population, "generations": cfg.evo_generations}
    settings = backend_settings(backend)
    evals = {**common, "retrain_epochs": cfg.retrain_epochs, "latency_model": search["latency_model"],
             "measurement": settings}  # every setting: protocol and backend options change what is measured
    return {"search": search, "evals": evals}


def check_reuse(out: Path, stages: dict[str, dict[str, Any]], force: bool) -> None:
    """Refuse to reuse ``out``'s searches or evaluations made with other settings; with ``force``, remove those
    stages so that they start over."""
    import shutil

    from ..profilers.records import diff_settings

    cfg_file = out / "pareto_config.json"
    made = {"search": [out / "search", out / "oneshot"], "evals": [out / "evals.csv"]}
    if not any(p.exists() for ps in made.values() for p in ps):
        return
    saved = read_json(cfg_file, "pareto settings", expect=dict) if cfg_file.exists() else {}
    recorded = saved.get("stages") if isinstance(saved.get("stages"), dict) else {}
    stale = {}
    for stage, now in stages.items():
        if not any(p.exists() for p in made[stage]):
            continue
        before = recorded.get(stage)
        if stage == "evals" and isinstance(before, dict) and isinstance(before.get("measurement"), dict) \
                and "protocol" not in before["measurement"]:
            # folders made before the whole measurement setting was recorded: compare what they recorded
            now = {**now, "measurement": {k: now["measurement"].get(k) for k in before["measurement"]}}
        if before != now:
            stale[stage] = (diff_settings(before, now, have="folder has") if isinstance(before, dict)
                            else ["no record of the settings they were made with (an older hwnas)"])
    if "search" in stale:
        stale.setdefault("evals", stale["search"])  # evaluations are of the searched architectures
    if not stale:
        return
    if not force:
        lines = [f"{stage}: " + "; ".join(diffs[:4])
                 for stage, diffs in stale.items()]
        raise UsageError(f"{out} holds results made with other settings, which a rerun would mix with new ones:\n  "
                         + "\n  ".join(lines) + "\nUse another -o folder, the same settings, or --force to redo "
                         "those parts here")
    for stage in stale:
        for p in made[stage]:
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
        logger.info("%s: %s made with other settings removed (--force); they start over", out, stage)
