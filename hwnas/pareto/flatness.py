"""How much accuracy depends on the architecture at a given training budget, against the seed-to-seed noise.

At the small budgets a quick search can afford (a few epochs, small images) the accuracy–latency landscape is often
flat: the smallest and the largest networks of a space land within the noise of one another, and a front that
"rises with latency" is noise. A report must say so. The pieces here are pure data steps:

- :func:`seed_spread`: the pooled seed-to-seed standard deviation of accuracy, from a few networks each retrained with
  several seeds;
- :func:`flatness`: the accuracy range across the evaluated networks against that spread; whether the front is flat
  (the best network is no more than the noise — two seed spreads — above the fastest one, so slower networks buy no
  accuracy); and the recommendation: the fastest network whose accuracy is within the noise of the best.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

NOISE_SIGMAS = 2.0  # "within the noise": less than two seed-to-seed standard deviations apart


def seed_spread(runs: pd.DataFrame, *, arch_col: str = "arch", acc_col: str = "accuracy") -> dict[str, Any]:
    """Pooled within-architecture standard deviation of ``acc_col`` over the seeds in ``runs`` (one row per
    architecture and seed), with the number of architectures and runs it rests on."""
    groups = [g[acc_col].to_numpy(dtype=float) for _, g in runs.groupby(arch_col) if len(g) >= 2]
    dof = sum(len(g) - 1 for g in groups)
    if dof == 0:
        return {"std": math.nan, "n_archs": 0, "n_runs": int(len(runs))}
    pooled = math.sqrt(sum(float(((g - g.mean()) ** 2).sum()) for g in groups) / dof)
    return {"std": pooled, "n_archs": len(groups), "n_runs": int(sum(len(g) for g in groups)),
            "per_arch": {str(a): [float(v) for v in g[acc_col]] for a, g in runs.groupby(arch_col) if len(g) >= 2}}


def flatness(points: pd.DataFrame, seed_std: float, *, lat_col: str = "measured_ms", acc_col: str = "accuracy",
             sigmas: float = NOISE_SIGMAS) -> dict[str, Any]:
    """The accuracy range across ``points`` against ``seed_std``, and the fastest point within ``sigmas`` seed
    spreads of the best accuracy (the recommendation when the front is flat)."""
    acc = points[acc_col].to_numpy(dtype=float)
    lat = points[lat_col].to_numpy(dtype=float)
    best = int(np.nanargmax(acc))
    spread = float(np.nanmax(acc) - np.nanmin(acc))
    band = sigmas * seed_std if math.isfinite(seed_std) else 0.0
    near = np.flatnonzero(acc >= acc[best] - band)
    pick = int(near[np.argmin(lat[near])])
    fastest = int(np.nanargmin(lat))
    gain = float(acc[best] - acc[fastest])  # what the slower networks buy over the fastest one
    flat = math.isfinite(seed_std) and gain <= band
    return {"accuracy_range": spread, "seed_std": seed_std, "range_over_seed_std":
            spread / seed_std if seed_std and math.isfinite(seed_std) else math.nan,
            "gain_over_fastest": gain, "flat": bool(flat), "noise_band": band, "best": points.iloc[best].to_dict(),
            "recommended": points.iloc[pick].to_dict(), "fastest": points.iloc[fastest].to_dict(),
            "recommended_speedup": float(lat[best] / lat[pick]) if lat[pick] > 0 else math.nan}


def flatness_sentence(f: dict[str, Any]) -> str:
    """One paragraph for a report."""
    if not math.isfinite(f["seed_std"]):
        return "The seed-to-seed spread was not measured, so the front's flatness is unknown."
    rec, best = f["recommended"], f["best"]
    fast = f["fastest"]
    per = (f.get("seed_runs") or {}).get("per_arch") or {}

    def seeds(p: dict[str, Any]) -> str:  # a network retrained with several seeds: their mean beside the first
        accs = per.get(str(p.get("arch")))
        return f"; {np.mean(accs):.3f} mean of {len(accs)} seeds" if accs else ""

    head = (f"Across the evaluated networks accuracy spans {f['accuracy_range']:.1%} (from the worst to the best); "
            + (f"retraining the same network with other seeds moves it by {f['seed_std']:.1%} (standard deviation), "
               f"so the architecture accounts for {f['range_over_seed_std']:.1f} seed spreads."
               if f["seed_std"] > 0 else
               "retraining the same network with other seeds gave the same accuracy (a spread of 0: too short a "
               "retraining to tell seeds apart?), so the seeds give no noise to weigh the differences against."))
    if f["flat"]:
        return (head + f" **At this budget the front is flat**: the fastest network ({fast['measured_ms']:.3g} ms, "
                f"accuracy {fast['accuracy']:.3f}{seeds(fast)}) is within the noise ({NOISE_SIGMAS:g} seed spreads, "
                f"{f['noise_band']:.1%}) of the best ({best['accuracy']:.3f} at {best['measured_ms']:.3g} ms), so a "
                "slower network buys no accuracy here"
                + (" (some networks do worse, so the architecture matters, but not by its size)"
                   if f["accuracy_range"] > f["noise_band"] else "")
                + f". Recommended: the fastest network within that noise of the best, `{rec['arch']}` "
                f"({rec['measured_ms']:.3g} ms, accuracy {rec['accuracy']:.3f}{seeds(rec)}). Train longer or on more "
                "data before trusting the shape of the front.")
    return (head + f" The front rises by more than the noise: the best network ({best['accuracy']:.3f} at "
            f"{best['measured_ms']:.3g} ms) is {f['gain_over_fastest']:.1%} above the fastest "
            f"({fast['accuracy']:.3f} at {fast['measured_ms']:.3g} ms). The fastest network within {NOISE_SIGMAS:g} "
            f"seed spreads of the best is `{rec['arch']}` ({rec['measured_ms']:.3g} ms, accuracy "
            f"{rec['accuracy']:.3f}).")
