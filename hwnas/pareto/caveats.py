"""What a report must say about how far its comparisons can be trusted: whether the supernets that guided the
searches (and scored evolution's candidates) learnt anything at this budget, and whether a method's networks land
so far under their targets that its hypervolume reflects where they land more than how good they are."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

# a supernet whose training accuracy never rose this far above chance learnt nothing a search could follow
LEARNT_ABOVE_CHANCE = 0.05
# a method whose networks land further than this under their targets (on average) gains hypervolume by speed alone
UNDER_TARGET = 0.05


def best_train_accuracy(run_dir: Path) -> float | None:
    """The best training accuracy a search run logged over its epochs (None: no log, or none logged)."""
    from ..search.run import RunDir

    try:
        frame = RunDir(run_dir).read_log()
    except (FileNotFoundError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        return None
    if "train_acc" not in frame:
        return None
    acc = pd.to_numeric(frame["train_acc"], errors="coerce").dropna()
    return float(acc.max()) if len(acc) else None


def supernet_caveat(runs: dict[str, list[Path]], chance: float) -> str | None:
    """One sentence when every supernet of a method (label -> its run directories) stayed at chance."""
    best = {label: [a for d in dirs if (a := best_train_accuracy(d)) is not None] for label, dirs in runs.items()}
    flat = {label: max(accs) for label, accs in best.items() if accs and max(accs) < chance + LEARNT_ABOVE_CHANCE}
    if not flat:
        return None
    worst = max(flat.values())
    return (f"The supernets behind {', '.join(sorted(flat))} stayed at chance at this budget (training accuracy at "
            f"most {worst:.2f} over their epochs, chance {chance:.2f}): they gave no accuracy signal, so those networks "
            f"were shaped by the latency term and the export's fill step, not by accuracy. Shared weights "
            f"(--supernet-weights shared) or a longer search train one that learns (docs/benchmarks.md).")


def placement_caveat(points: pd.DataFrame, reference: str) -> str | None:
    """One sentence per method whose networks land on average more than ``UNDER_TARGET`` under their targets."""
    has = points[points["target_ms"].notna() & (points["method"] != reference)]
    if has.empty:
        return None
    under = has.groupby("method")["vs_target"].mean()
    far = under[under < -UNDER_TARGET]
    if far.empty:
        return None
    parts = [f"{m} {-v:.0%}" for m, v in far.items()]
    return (f"Networks land on average under their targets by {', '.join(parts)}: where accuracy hardly grows with "
            f"latency a faster point raises hypervolume by itself, so hypervolume ratios with that method say where "
            f"its networks land as much as how good they are.")
