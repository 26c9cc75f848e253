"""The Pareto section of a report (shared by ``hwnas pareto`` and ``hwnas demo``): per-method summary, every point,
figure links, as Markdown lines."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .config import ParetoResult


def report_markdown(result: ParetoResult, *, rel_to: Path) -> list[str]:
    """The Pareto section of a report: per-method summary, every point, figure links."""
    s = result.summary
    lines = ["## Accuracy–latency trade-off", "",
             f"Hypervolume: area above chance accuracy and left of {s.attrs.get('ref_latency_ms', float('nan')):.4g} ms "
             "dominated by each method's front (larger is better; same evaluation budget per target).", "",
             "| method | points | on front | hypervolume | best accuracy | fastest (ms) |", "|---|---|---|---|---|---|"]
    lines += [f"| {r.method} | {r.points} | {r.front} | {r.hypervolume:.4f} | {r.best_accuracy:.3f} | "
              f"{r.fastest_ms:.3f} |" for r in s.itertuples()]
    notes = [n for n in result.notes if not n.startswith("Across the evaluated networks")]
    pts = result.points
    if "argmax_predicted_ms" in pts:  # what the search itself chose, before the export fitted it to the target
        own = pts[pts["argmax_predicted_ms"].notna()]
        if len(own):
            notes.append("the search's own choice (α's argmax) before the export fitted it to the target: "
                         + ", ".join(f"{r.argmax_predicted_ms:.3g} ms at {r.target_ms:.3g}" for r in own.itertuples())
                         + " (predicted)")
    lines += ["", *[f"- {n}" for n in notes], ""]
    f = result.flatness
    if f:
        from .flatness import flatness_sentence

        sr = f.get("seed_runs") or {}
        lines += ["### How much the architecture matters at this budget", "", flatness_sentence(f), "",
                  f"(Seed-to-seed spread pooled over the {sr.get('n_archs', 0)} fastest networks evaluated, "
                  f"{sr.get('n_runs', 0)} retrains; error bars in the figure are ±1 of it.)", ""]
        per = sr.get("per_arch") or {}
        if per:
            lines += ["| network | accuracy per seed |", "|---|---|"]
            lines += [f"| `{a}` | {', '.join(f'{v:.3f}' for v in accs)} |" for a, accs in per.items()]
            lines.append("")
    lines += [f"![Pareto]({result.files['pareto'].relative_to(rel_to)})", ""]
    if "alpha" in result.files:
        lines += [f"![alpha]({result.files['alpha'].relative_to(rel_to)})", ""]
    lines += ["| method | target (ms) | predicted (ms) | measured (ms) | vs target | accuracy | architecture |",
              "|---|---|---|---|---|---|---|"]
    for r in result.points.itertuples():
        tgt = "—" if pd.isna(r.target_ms) else f"{r.target_ms:.3f}"
        vs = "—" if pd.isna(r.vs_target) else f"{r.vs_target:+.1%}"
        lines.append(f"| {r.method} | {tgt} | {r.predicted_ms:.3f} | {r.measured_ms:.3f} | {vs} | {r.accuracy:.3f} | "
                     f"`{r.arch}` |")
    return lines + [""]
