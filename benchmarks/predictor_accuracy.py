"""How accurately each predictor estimates whole-network latency on this device, against the noise floor.

One run, each measurement step in its own process as a user would run it:
  1. ``hwnas profile``       the latency table (proxyless-mobile, ONNX Runtime, 1 thread);
  2. ``hwnas measure-archs`` training networks (--n-train) and held-out networks (--n-test, disjoint);
  3. the held-out networks again (the first --n-again of them), in a separate process: the noise floor (how
     often two independent measurements of the same network agree within ±10%);
  4. predictors fitted on the training networks only, scored on the held-out ones;
  5. transfer: the calibrated predictor moved to another runtime (--target-backend, default torch eager) with
     K = 5, 10, 20, 50 networks measured there (at most --k-max), scored on that runtime's own held-out
     networks (--n-target-test).
Every network is measured with a reference probe just before it; rows come twice: on raw medians, and on
reference-normalised medians (each divided by the probe and scaled to the training set's reference speed).

    python benchmarks/predictor_accuracy.py [--backend onnxruntime|torch|executorch] [--n-train 100]
        [--n-test 120] [--quick] [--backend-opt KEY=VALUE ...]

The transfer target defaults to torch eager, or to onnxruntime when the backend itself is torch. With
``--backend executorch`` exported programs are cached in the working directory, so the held-out networks'
second measurement does not export them again, and programs are exported by ``--jobs`` processes before
anything is timed (lowering one 21-block network takes ~40 s of a core here).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, write_result  # noqa: E402

from hwnas.predictors import (  # noqa: E402
    PREDICTORS,
    ArchDataset,
    CalibratedPredictor,
    TransferPredictor,
    accuracy_report,
)
from hwnas.profilers import LatencyTable  # noqa: E402


def pct(v: float) -> str:
    return f"{v:.1%}"


def hwnas(*args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "hwnas", *args, "--quiet"], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--space", default="proxyless-mobile")
    p.add_argument("--backend", default="onnxruntime")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--target-backend", help="runtime to transfer to (default torch; onnxruntime if --backend torch)")
    p.add_argument("--backend-opt", action="append", default=[], metavar="KEY=VALUE",
                   help="passed to every measurement on --backend (e.g. mobile=true for onnxruntime)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved passes per network (default %(default)s)")
    p.add_argument("--statistic", default="min", choices=["median", "min"],
                   help="headline latency (default %(default)s: the one that repeats on a shared CPU)")
    p.add_argument("--repeats", type=int, default=10, help="timed runs per pass (default %(default)s)")
    p.add_argument("--warmup", type=int, default=3, help="warm-up runs per pass (default %(default)s)")
    p.add_argument("--jobs", type=int, default=2, help="processes exporting ExecuTorch programs before timing")
    p.add_argument("--k-max", type=int, default=50, help="most networks measured on the transfer target")
    p.add_argument("--n-target-test", type=int, help="held-out networks on the transfer target (default n-test / 2)")
    p.add_argument("--n-again", type=int,
                   help="held-out networks measured again by a second process for the noise floor (default all)")
    p.add_argument("--n-train", type=int, default=100)
    p.add_argument("--n-test", type=int, default=120)
    p.add_argument("--quick", action="store_true", help="tiny space, few networks: a CI-sized check")
    p.add_argument("--keep", help="directory to keep the tables and datasets in")
    a = p.parse_args()
    if a.quick:
        a.space, a.n_train, a.n_test = "tiny", 30, 30
    tmp = tempfile.TemporaryDirectory()
    d = Path(a.keep or tmp.name)
    d.mkdir(parents=True, exist_ok=True)
    if a.target_backend is None:
        a.target_backend = "onnxruntime" if a.backend == "torch" else "torch"
    opts = [x for o in a.backend_opt for x in ("--backend-opt", o)]
    if a.backend == "executorch" and not any(o.startswith("cache_dir=") for o in a.backend_opt):
        opts += ["--backend-opt", f"cache_dir={d / 'pte-cache'}"]
    if a.backend == "executorch":
        opts += ["--jobs", str(a.jobs)]
    proto = ["--rounds", str(a.rounds), "--statistic", a.statistic, "--repeats", str(a.repeats),
             "--warmup", str(a.warmup)]
    base = ["--space", a.space, "--backend", a.backend, "--threads", str(a.threads), *proto, *opts]
    tgt = ["--space", a.space, "--backend", a.target_backend, "--threads", str(a.threads), *proto]
    if a.target_backend == "executorch":
        tgt += ["--backend-opt", f"cache_dir={d / 'pte-cache'}", "--jobs", str(a.jobs)]

    t_table = hwnas("profile", *base, "-o", str(d / "table.csv"))
    base, tgt = [*base, "--reference"], [*tgt, "--reference"]
    t_train = hwnas("measure-archs", *base, "--n", str(a.n_train), "--seed", "1", "-o", str(d / "train.csv"))
    hwnas("measure-archs", *base, "--n", str(a.n_test), "--seed", "2", "--exclude", str(d / "train.csv"),
          "-o", str(d / "test.csv"))
    hwnas("measure-archs", *base, "--archs", str(d / "test.csv"), "--n", str(a.n_again or a.n_test),
          "-o", str(d / "test_again.csv"))
    k_max = a.k_max if not a.quick else 20
    hwnas("measure-archs", *tgt, "--n", str(k_max), "--seed", "3", "-o", str(d / "target_train.csv"))
    hwnas("measure-archs", *tgt, "--n", str(a.n_target_test or a.n_test // 2), "--seed", "4", "--exclude",
          str(d / "target_train.csv"), "-o", str(d / "target_test.csv"))

    table = LatencyTable.load(d / "table.csv")
    train, test, again = (ArchDataset.load(d / f) for f in ("train.csv", "test.csv", "test_again.csv"))
    assert not set(train.arch_strings) & set(test.arch_strings), "held-out networks leaked into training"

    ttrain, ttest = ArchDataset.load(d / "target_train.csv"), ArchDataset.load(d / "target_test.csv")
    results, noise, transfer, rows, trows = {}, {}, {}, [], []
    for mode in ("raw", "normalised"):
        c = train.reference_ms if mode == "normalised" else None
        ct = ttrain.reference_ms if mode == "normalised" else None
        y, yt = train.latencies(normalise_to=c), test.latencies(normalise_to=c)
        # noise floor: the same networks measured by two processes
        first_by_arch = dict(zip(test.arch_strings, yt, strict=True))
        agree = np.abs(again.latencies(normalise_to=c) / np.array([first_by_arch[s] for s in again.arch_strings]) - 1)
        noise[mode] = {"within_10pct": float(np.mean(agree <= 0.10)), "within_5pct": float(np.mean(agree <= 0.05)),
                       "median_rel_diff": float(np.median(agree)), "p90_rel_diff": float(np.percentile(agree, 90))}
        results[mode] = {}
        for name, cls in PREDICTORS.items():
            t0 = time.perf_counter()
            pred = cls(table=table)
            pred.fit() if name == "lut" else pred.fit(train.arch_strings, y)
            fit_s = time.perf_counter() - t0
            r = accuracy_report(yt, pred.predict(test.arch_strings))
            prof = {"lut": t_table, "flops": t_train}.get(name, t_table + t_train)
            r.update(profiling_s=prof, fit_s=fit_s)
            if name == "fitted":
                r["model"] = pred.model_name_
            results[mode][name] = r
            rows.append([f"{name} ({mode})", pct(r["within_5pct"]), pct(r["within_10pct"]), r["rmse_ms"],
                         pct(r["mape"]), f"{r['bias']:+.1%}", r["spearman"], prof])
        nf = noise[mode]
        rows.append([f"noise floor ({mode}): {len(again)} held-out networks, 2 processes", pct(nf["within_5pct"]),
                     pct(nf["within_10pct"]), "", f"{pct(nf['median_rel_diff'])} (median diff)", "", "", ""])

        # transfer of the calibrated predictor to the target runtime
        cal = CalibratedPredictor(table=table).fit(train.arch_strings, y)
        yb, ybt = ttrain.latencies(normalise_to=ct), ttest.latencies(normalise_to=ct)
        raw = accuracy_report(ybt, cal.predict(ttest.arch_strings))
        transfer[mode] = {"source_as_is": raw}
        trows.append([f"0, source predictor as is ({mode})", pct(raw["within_10pct"]), pct(raw["mape"]),
                      raw["spearman"]])
        for k in sorted({5, 10, 20, 50, len(ttrain)}):
            if k > len(ttrain):
                continue
            tp = TransferPredictor(base=cal).fit(ttrain.arch_strings[:k], yb[:k])
            r = accuracy_report(ybt, tp.predict(ttest.arch_strings))
            r["recalibrated"] = tp.recalibrated_ is not None
            transfer[mode][f"k={k}"] = r
            trows.append([f"{k} ({mode})", pct(r["within_10pct"]), pct(r["mape"]), r["spearman"]])
        own = CalibratedPredictor(table=table).fit(ttrain.arch_strings, yb)
        r = accuracy_report(ybt, own.predict(ttest.arch_strings))
        transfer[mode]["target_calibrated_all"] = r
        trows.append([f"{len(ttrain)}, calibrated on the target only ({mode})", pct(r["within_10pct"]),
                      pct(r["mape"]), r["spearman"]])

    env = table.meta["environment"]
    result = {"space": a.space, "backend": a.backend, "backend_opts": a.backend_opt, "threads": a.threads,
              "protocol": {"rounds": a.rounds, "statistic": a.statistic, "repeats": a.repeats, "warmup": a.warmup},
              "n_train": len(train),
              "n_test": len(test), "table_entries": len(table), "table_s": t_table, "train_measure_s": t_train,
              "reference_arch": train.meta.get("reference", {}).get("arch"), "reference_ms": train.reference_ms,
              "predictors": results, "noise_floor": noise, "noise_floor_n": len(again), "target_backend": a.target_backend,
              "transfer": transfer, "goal_within_10pct": 0.99 if a.backend == "onnxruntime" else 0.95}
    path = write_result(f"predictor_accuracy_{a.space}_{a.backend}" + ("_quick" if a.quick else ""), result)
    print(f"{a.space} on {a.backend} ({a.threads} thread), {env['device_model']}: {len(train)} training and "
          f"{len(test)} held-out networks; {a.statistic} over {a.rounds} interleaved passes of {a.repeats} runs")
    print(markdown_table(["predictor", "±5%", "±10%", "RMSE ms", "MAPE", "bias", "Spearman", "profiling s"], rows))
    print(f"\ntransfer of the calibrated predictor to {a.target_backend} ({len(ttest)} held-out networks there)")
    print(markdown_table(["K networks on target", "±10%", "MAPE", "Spearman"], trows))
    print(f"wrote {path}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
