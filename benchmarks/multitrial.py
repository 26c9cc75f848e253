"""Issue 27: does a multi-trial search on Optuna (NSGA-II, TPE) find a better accuracy–latency front than random
sampling with the same number of trained networks, and how many trials per hour do 2 workers reach against 1?

Each trial is one network of ``proxyless-cifar`` (the search-quality space) trained from scratch with the retrain
path (``hwnas.multitrial.run_study``: the same code as ``hwnas multitrial``, pruning off so that every sampler trains
the same number of networks) and priced with the latency model ``search_quality.py`` pinned
(``results/search_quality/costs.json``: this machine's ONNX Runtime, calibrated). Per seed, the hypervolume of each
sampler's front (test accuracy above chance, left of the slowest network of the space) and its difference to
random's on the same seed, with a 95% bootstrap interval over seeds.

Budgets (``--budget``): ``search-quality`` is ``search_quality.py``'s (2,000 distorted Fashion-MNIST images at 16 px,
10 epochs, 10,000 test images; about 60 s a trial here in contiguous memory, 30–45 s in channels-last, the default
since 2026-12-07: 5 seeds in two processes take about 2 hours); ``reduced`` (1,000 images at 16 px, 2 epochs,
2,000 test images, about 10 s a trial).

One-shot at equal wall-clock time (``--oneshot``): ProxylessNAS as ``hwnas pareto`` runs it, at 3 targets, each
network trained as a trial is; each sampler's front is cut to the trials that fit in the one-shot's time.

Workers: a study run by 1 and by 2 worker processes (one torch thread each, random sampler, SQLite storage),
``--worker-trials`` trials each time; trials per hour = finished trials / wall time from the moment every worker has
loaded torch and the data until the last one ends.

Each (seed, sampler) study lives in ``results/multitrial/<budget>/`` (SQLite), so a run resumes where it stopped.

    python benchmarks/multitrial.py --budget reduced --seeds 0 1 2 3 4 --trials 12
    python benchmarks/multitrial.py --budget reduced --skip-fronts --worker-trials 0 --oneshot   # after the fronts
    python benchmarks/multitrial.py --budget reduced --seeds 10 11 -o A & ... --seeds 12 13 -o B   # two at once,
    python benchmarks/multitrial.py --budget reduced --seeds 0 ... 13 --worker-trials 0 --merge A B  # then merged
    python benchmarks/multitrial.py --quick        # tiny space, synthetic data: the plumbing, in seconds
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import markdown_table, spread, write_result  # noqa: E402

NAME = "multitrial"
BUDGETS = {
    "search-quality": {"n": 2000, "epochs": 10, "res": 16, "distort": True, "test": 10000},
    "reduced": {"n": 1000, "epochs": 2, "res": 16, "distort": True, "test": 2000},
}


def bootstrap_ci(values: list[float], n: int = 10000, seed: int = 0) -> list[float]:
    """95% percentile bootstrap interval of the mean."""
    v = np.asarray(values, dtype=float)
    if v.size < 2:
        return [math.nan, math.nan]
    rng = np.random.default_rng(seed)
    means = rng.choice(v, size=(n, v.size), replace=True).mean(axis=1)
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def setting(budget: str, quick: bool) -> tuple[Any, Any, Any, dict[str, Any]]:
    """(space, costs, data, settings) of the budget; quick: the tiny space, made-up costs, synthetic data."""
    from hwnas.io import read_json
    from hwnas.search.run import costs_from_dict

    if quick:
        from hwnas.predictors.block_costs import BlockCosts
        from hwnas.space import get_space
        from hwnas.train.data import load_data

        space = get_space("tiny")
        costs = BlockCosts(0.2, tuple(tuple(0.0 if c.is_zero else 0.1 * c.kernel * c.expand / 9 for c in p.choices)
                                      for p in space.positions()))
        data = load_data("synthetic", resolution=space.resolution, channels=space.in_channels, n=160)
        return space, costs, data, {"budget": "quick", "epochs": 1, "batch_size": 32, "lr": 0.05,
                                    "first_trial": "fastest"}
    from budget_study import DEFAULT, fashion_mnist, space_for

    cfg = {**DEFAULT, **BUDGETS[budget]}
    space = space_for(cfg)
    pinned = HERE / "results" / "search_quality" / "costs.json"
    costs = costs_from_dict(read_json(pinned, "pinned block costs", expect=dict)["costs"])
    # the memory format trials train in (hwnas's default on this space): seeds measured in another one are not
    # merged with these (the 34 reduced-budget seeds of 2026-12-06 trained in contiguous memory)
    from hwnas.train.device import Runtime

    fmt = "channels_last" if Runtime.create("cpu", space=space).channels_last else "contiguous"
    # each study's first trial is the fastest network (MultitrialConfig.anchor, the default since 2026-12-07):
    # seeds whose first trial was sampled are not merged with these either
    return space, costs, fashion_mnist(cfg), {"budget": budget, **cfg, "batch_size": cfg["bs"],
                                              "latency_model": str(pinned.relative_to(HERE)), "memory_format": fmt,
                                              "first_trial": "fastest"}


def study_config(s: dict[str, Any], sampler: str, trials: int, seed: int, population: int):
    from hwnas.multitrial import MultitrialConfig

    return MultitrialConfig(n_trials=trials, sampler=sampler, pruner="none", epochs=s["epochs"],
                            batch_size=s["batch_size"], data=s["budget"], data_limit=None, seed=seed,
                            population=population, device="cpu", torch_threads=1)


def run_fronts(budget: str, quick: bool, seeds: list[int], samplers: list[str], trials: int, population: int,
               work: Path, last: dict[str, Any] | None = None, now: str = "") -> dict[str, Any]:
    """Each seed's studies run (or resume from their SQLite files in ``work``). A seed whose every sampler is in
    ``last`` (the last result's fronts, measured with the same budget, latency model, reference point, trials and
    population) is taken from there instead, with the date it was measured (``seed_measured``)."""
    from hwnas.multitrial import run_study
    from hwnas.pareto.fronts import hypervolume

    space, costs, data, s = setting(budget, quick)
    ref_ms, chance = costs.max_ms(), 1.0 / space.num_classes
    last = last or {}
    same = (last.get("settings") == s and last.get("reference_point") == {"latency_ms": ref_ms, "accuracy": chance}
            and (last.get("trials"), last.get("population")) == (trials, population))
    kept = last.get("per_seed", {}) if same else {}
    per_seed: dict[str, dict[str, Any]] = {}
    dates: dict[str, str] = {}
    for seed in seeds:
        old = kept.get(str(seed), {})
        if all(sampler in old for sampler in samplers):
            per_seed[str(seed)] = {k: old[k] for k in samplers}
            dates[str(seed)] = last.get("seed_measured", {}).get(str(seed), last.get("measured"))
            print(f"seed {seed}: kept from the last result", flush=True)
            continue
        dates[str(seed)] = now
        row: dict[str, Any] = {}
        for sampler in samplers:
            stale(work / f"seed{seed}-{sampler}.db", f"{sampler}-{seed}")
            started = time.perf_counter()
            r = run_study(space, costs, study_config(s, sampler, trials, seed, population),
                          storage=f"sqlite:///{work / f'seed{seed}-{sampler}.db'}", study_name=f"{sampler}-{seed}",
                          data=data, log=None)
            pts = r.points
            row[sampler] = {"hypervolume": hypervolume(pts["predicted_ms"], pts["accuracy"], ref_latency_ms=ref_ms,
                                                       ref_accuracy=chance),
                            "trials": len(pts), "best_accuracy": float(pts["accuracy"].max()),
                            "fastest_ms": float(pts["predicted_ms"].min()), "seconds": time.perf_counter() - started,
                            "trial_seconds": float(pts["seconds"].fillna(0).sum())}  # also right for a resumed study
            print(f"seed {seed} {sampler}: hypervolume {row[sampler]['hypervolume']:.4g} over {len(pts)} trials "
                  f"({row[sampler]['seconds']:.0f} s)", flush=True)
        per_seed[str(seed)] = row
    summary = {}
    for sampler in samplers:
        hv = [per_seed[str(sd)][sampler]["hypervolume"] for sd in seeds]
        out = {"hypervolume": spread(hv)}
        if sampler != "random" and "random" in samplers:
            diff = [per_seed[str(sd)][sampler]["hypervolume"] - per_seed[str(sd)]["random"]["hypervolume"]
                    for sd in seeds]
            out["minus_random"] = {**spread(diff), "mean": float(np.mean(diff)), "ci95": bootstrap_ci(diff),
                                   "wins": int(sum(d > 0 for d in diff))}
        summary[sampler] = out
    return {"settings": s, "reference_point": {"latency_ms": ref_ms, "accuracy": chance}, "trials": trials,
            "population": population, "per_seed": per_seed, "seed_measured": dates, "summary": summary}


def stale(db: Path, name: str) -> None:
    """Refuse to resume a study made before each study's first trial was the fastest network (the result would
    claim what its trials did not do)."""
    if not db.exists():
        return
    import optuna

    try:
        trials = optuna.load_study(study_name=name, storage=f"sqlite:///{db}").get_trials(deepcopy=False)
    except KeyError:  # no such study in the file: run_study creates it
        return
    if trials and trials[0].user_attrs.get("anchor") != "fastest":
        raise SystemExit(f"multitrial: {db} holds a study whose first trial was sampled (made before the fastest "
                         "network became each study's first trial); delete it or give another -o")


ONESHOT_FRACTIONS = (0.2, 0.4, 0.6)  # search_quality's targets: of the way from the fastest to the slowest network


def run_oneshot(budget: str, quick: bool, seeds: list[int], samplers: list[str], work: Path) -> dict[str, Any]:
    """One-shot ProxylessNAS against the multi-trial fronts at equal wall-clock time, per seed: the recipe users
    get (``hwnas pareto``'s defaults, search_quality's budget of 3 + 6 supernet epochs) searched at 3 targets, each
    network then trained and tested as a trial is; its wall time (searches and trainings, measured here) is the
    budget, and each sampler's front is cut to the trials whose summed durations fit in it (their own ``seconds``,
    in trial order). It runs on one torch thread, as each trial did: run two seeds at once on two cores, as the
    fronts' trials ran. A seed's one-shot time is kept in ``oneshot-seed<N>.json`` with its points, so a rerun reuses
    it rather than timing a resumed search."""
    import optuna
    import torch

    from hwnas.io import atomic_write_json, read_json
    from hwnas.pareto.config import ParetoConfig
    from hwnas.pareto.experiment import run_search_at
    from hwnas.pareto.fronts import hypervolume
    from hwnas.train.retrain import RetrainConfig, retrain

    space, costs, data, s = setting(budget, quick)
    torch.set_num_threads(1)  # one core, as each trial's worker had (study_config's torch_threads)
    ref_ms, chance = costs.max_ms(), 1.0 / space.num_classes
    lo, hi = costs.min_ms(), costs.max_ms()
    epochs = dict(search_epochs=1, warmup_epochs=1) if quick else dict(search_epochs=6, warmup_epochs=3)
    per_seed: dict[str, Any] = {}
    for seed in seeds:
        kept = work / f"oneshot-seed{seed}.json"
        if kept.exists():
            rec = read_json(kept, "one-shot result", expect=dict)
        else:
            cfg = ParetoConfig(targets_ms=(), seed=seed, batch_size=s["batch_size"], progress=False, device="cpu",
                               export_tolerance=0.0, **epochs)
            t0, points = time.perf_counter(), []
            for f in ONESHOT_FRACTIONS:
                t = round(lo + f * (hi - lo), 5)
                arch, _, _ = run_search_at(space, costs, data, cfg, t, work / f"oneshot-seed{seed}" / f"T{t:.5g}",
                                           lambda _m: None)
                r = retrain(arch, space, data, RetrainConfig(epochs=s["epochs"], batch_size=s["batch_size"],
                                                             seed=seed, device="cpu"), progress=False, log=None)
                points.append({"target_ms": t, "arch": arch.to_string(), "predicted_ms": costs.arch_ms(arch, space),
                               "accuracy": float(r.test_acc)})
            rec = {"seconds": time.perf_counter() - t0, "points": points}
            atomic_write_json(kept, rec)
        pts = rec["points"]
        row = {"oneshot": {"seconds": rec["seconds"], "trials": len(pts),
                           "hypervolume": hypervolume([p["predicted_ms"] for p in pts], [p["accuracy"] for p in pts],
                                                      ref_latency_ms=ref_ms, ref_accuracy=chance)}}
        for sampler in samplers:
            db = work / f"seed{seed}-{sampler}.db"
            if not db.exists():
                continue
            trials = sorted((t for t in optuna.load_study(study_name=f"{sampler}-{seed}",
                                                          storage=f"sqlite:///{db}").trials
                             if t.state.name == "COMPLETE" and t.values), key=lambda t: t.number)
            spent, lat, acc = 0.0, [], []
            for t in trials:
                spent += float(t.user_attrs.get("seconds", 0.0))
                if spent > rec["seconds"]:
                    break
                acc.append(float(t.values[0]))
                lat.append(float(t.values[1]))
            row[sampler] = {"trials": len(acc), "hypervolume": hypervolume(lat, acc, ref_latency_ms=ref_ms,
                                                                           ref_accuracy=chance) if acc else 0.0}
        per_seed[str(seed)] = row
        print(f"seed {seed} one-shot: hypervolume {row['oneshot']['hypervolume']:.4g} in "
              f"{row['oneshot']['seconds']:.0f} s; in that time " + ", ".join(
                  f"{k} {v['hypervolume']:.4g} ({v['trials']} trials)" for k, v in row.items() if k != "oneshot"),
              flush=True)
    summary = {}
    for sampler in samplers:
        diff = [per_seed[k][sampler]["hypervolume"] - per_seed[k]["oneshot"]["hypervolume"]
                for k in per_seed if sampler in per_seed[k]]
        if diff:
            summary[sampler] = {"minus_oneshot": {**spread(diff), "mean": float(np.mean(diff)),
                                                  "ci95": bootstrap_ci(diff), "wins": int(sum(d > 0 for d in diff))},
                                "trials_in_oneshot_time": spread([per_seed[k][sampler]["trials"] for k in per_seed
                                                                  if sampler in per_seed[k]])}
    return {"fractions": list(ONESHOT_FRACTIONS), "search_epochs": epochs, "per_seed": per_seed,
            "summary": summary}


def _worker(budget: str, quick: bool, storage: str, name: str, trials: int, barrier: Any) -> None:
    from hwnas.multitrial import run_study

    space, costs, data, s = setting(budget, quick)
    barrier.wait()  # every worker has imported torch and loaded the data: the clock starts
    run_study(space, costs, study_config(s, "random", trials, 0, 4), storage=storage, study_name=name, data=data,
              log=None)


def workers_check(budget: str, quick: bool, trials: int, work: Path) -> dict[str, Any]:
    """Trials per hour of 1 and 2 worker processes on one study each (same settings, random sampler; the study is
    made here, so each worker samples with its own seed). The clock starts when every worker has loaded torch and
    the data (a barrier) and stops when the last one ends."""
    import os

    import optuna

    ctx = multiprocessing.get_context("spawn")
    out: dict[str, Any] = {"load_before": os.getloadavg()[0]}  # a quiet machine reads < 0.5
    for n_workers in (1, 2):
        name = f"workers{n_workers}-{int(time.time())}"
        url = f"sqlite:///{work / f'{name}.db'}"
        from hwnas.multitrial.study import open_study

        space, costs, _, s = setting(budget, quick)  # the study made first: each worker joins it with its own seed
        open_study(url, name, space=space, settings=study_config(s, "random", trials, 0, 4).study_settings(costs))
        barrier = ctx.Barrier(n_workers + 1)
        procs = [ctx.Process(target=_worker, args=(budget, quick, url, name, trials, barrier))
                 for _ in range(n_workers)]
        for proc in procs:
            proc.start()
        barrier.wait()
        started = time.perf_counter()
        for proc in procs:
            proc.join()
        span = time.perf_counter() - started
        done = [t for t in optuna.load_study(study_name=name, storage=url).trials if t.state.name == "COMPLETE"]
        out[str(n_workers)] = {"trials": len(done), "seconds": span, "trials_per_hour": 3600 * len(done) / span,
                               "per_trial_s": spread([(t.datetime_complete - t.datetime_start).total_seconds()
                                                      for t in done]),
                               "workers_seen": len({t.user_attrs.get("worker") for t in done}),
                               "exit_codes": [proc.exitcode for proc in procs]}
        print(f"{n_workers} worker(s): {len(done)} trials in {span:.0f} s = "
              f"{out[str(n_workers)]['trials_per_hour']:.0f} trials/hour", flush=True)
    out["speedup"] = out["2"]["trials_per_hour"] / out["1"]["trials_per_hour"]
    out["per_trial_slowdown"] = out["2"]["per_trial_s"]["median"] / out["1"]["per_trial_s"]["median"]
    return out


def _last_result(out: Path | None, name: str) -> dict[str, Any]:
    import json
    import os

    path = Path(out or os.environ.get("HWNAS_RESULTS_DIR") or HERE / "results") / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", choices=sorted(BUDGETS), default="search-quality")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--samplers", nargs="+", default=["nsga2", "tpe", "random"])
    p.add_argument("--trials", type=int, default=20, help="trained networks per sampler and seed")
    p.add_argument("--population", type=int, default=4, help="NSGA-II population, TPE's random start-up trials")
    p.add_argument("--worker-trials", type=int, default=8, help="trials of the 1- vs 2-worker check (0: skip)")
    p.add_argument("--remeasure", action="store_true", help="take every seed from its studies again (default: "
                   "keep the seeds the last result measured with the same settings); delete them to train again")
    p.add_argument("--skip-fronts", action="store_true", help="keep the last result's fronts (re-measure workers only)")
    p.add_argument("--oneshot", action="store_true", help="also one-shot ProxylessNAS (3 targets) against each "
                   "sampler's front at equal wall-clock time (after the fronts; run it on a quiet machine)")
    p.add_argument("--quick", action="store_true", help="tiny space, synthetic data, 2 seeds, 4 trials")
    p.add_argument("-o", "--out", type=Path, help="results folder (default benchmarks/results)")
    p.add_argument("--merge", type=Path, nargs="*", default=[],
                   help="results folders of other runs (their -o) whose seeds are taken in, where their budget, "
                        "latency model, trials and population match: two processes run two sets of seeds at once")
    a = p.parse_args(argv)
    if a.quick:
        a.seeds, a.trials, a.population, a.worker_trials = a.seeds[:2], 4, 2, min(a.worker_trials, 4)
    budget = "quick" if a.quick else a.budget
    from hwnas.io import make_dirs

    work = make_dirs((a.out or HERE / "results") / NAME / budget)
    record: dict[str, Any] = {"budget": budget, "seeds": a.seeds, "trials": a.trials, "population": a.population}
    name = NAME + ("_quick" if a.quick else f"_{a.budget}")
    last = _last_result(a.out, name)
    for other in a.merge:  # seeds another process measured; run_fronts keeps them only if the settings match
        theirs = _last_result(other, name).get("fronts")
        if not theirs:
            raise SystemExit(f"multitrial: no {name}.json with fronts in {other}")
        mine = last.setdefault("fronts", {k: theirs[k] for k in ("settings", "reference_point", "trials",
                                                                  "population")})
        if any(mine.get(k) != theirs.get(k) for k in ("settings", "reference_point", "trials", "population")):
            raise SystemExit(f"multitrial: {other} was measured with other settings; not merged")
        mine.setdefault("per_seed", {}).update(theirs["per_seed"])
        mine.setdefault("seed_measured", {}).update(theirs.get("seed_measured", {}))
        last.setdefault("trials", theirs["trials"])
        last.setdefault("population", theirs["population"])
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if not a.skip_fronts:
        was = {} if a.remeasure else {"trials": last.get("trials"), "population": last.get("population"),
                                      **last.get("fronts", {})}
        record["fronts"] = {**run_fronts(a.budget, a.quick, a.seeds, a.samplers, a.trials, a.population, work, was,
                                         now), "measured": now}
    elif "fronts" in last:  # a part not re-measured is kept from the last result, with the date it was measured
        record.update({k: last[k] for k in ("seeds", "trials", "population")},
                      fronts={"measured": last.get("environment", {}).get("finished"), **last["fronts"]})
    if a.oneshot:
        record["oneshot"] = {**run_oneshot(a.budget, a.quick, a.seeds, a.samplers, work), "measured": now}
    elif "oneshot" in last:
        record["oneshot"] = {"measured": last.get("environment", {}).get("finished"), **last["oneshot"]}
    if a.worker_trials:
        record["workers"] = {**workers_check(a.budget, a.quick, a.worker_trials, work), "measured": now}
    elif "workers" in last:
        record["workers"] = {"measured": last.get("environment", {}).get("finished"), **last["workers"]}
    rows = []
    for sampler, s in record.get("fronts", {}).get("summary", {}).items():
        d = s.get("minus_random")
        rows.append([sampler, s["hypervolume"]["median"],
                     f"{d['mean']:+.4g} [{d['ci95'][0]:+.3g}, {d['ci95'][1]:+.3g}] ({d['wins']}/{len(a.seeds)} seeds)"
                     if d else "—"])
    if rows:
        print(markdown_table(["sampler", "hypervolume (median)", "minus random: mean [95% CI] (wins)"], rows))
    for sampler, v in record.get("oneshot", {}).get("summary", {}).items():
        d = v["minus_oneshot"]
        print(f"{sampler} − one-shot at equal time: {d['mean']:+.4g} [{d['ci95'][0]:+.3g}, {d['ci95'][1]:+.3g}] "
              f"({d['wins']}/{d['n']} seeds)")
    if "workers" in record:
        print(f"2 workers / 1 worker: {record['workers']['speedup']:.2f}x trials per hour")
    path = write_result(name, record, directory=a.out if a.out else None)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
