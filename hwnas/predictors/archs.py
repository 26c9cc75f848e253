"""Measured-architecture datasets: whole networks sampled across the latency range, timed end to end.

``archs.csv`` has one row per network (arch string, MACs, params, latency statistics) and
``archs.meta.json`` the backend settings, space and machine, exactly like a latency table. Measuring is
resumable: the plan of architectures is fixed by (space, n, seed), and rows already in the file are kept.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..errors import InputNotFound, UsageError
from ..io import bar_disabled, output_lock
from ..profilers.base import Backend
from ..profilers.protocol import STAT_COLUMNS, LatencyStats, Protocol
from ..profilers.records import MeasuredRecords
from ..space.builder import build_model
from ..space.spaces import SearchSpace
from ..space.spec import ArchSpec


class ArchDataset(MeasuredRecords):
    FORMAT = "hwnas-arch-dataset"
    WHAT = "architecture dataset"
    COLUMNS = ("arch", "macs", "params") + STAT_COLUMNS + ("ref_ms", "measured_at")
    REQUIRED = ("arch", "median_ms")
    KEY = ("arch",)

    @classmethod
    def check_rows(cls, rows, corrupt, meta) -> None:
        from ..space.spec import MAX_ARCH_CHARS

        ok = rows["arch"].map(lambda v: isinstance(v, str) and 0 < len(v) <= MAX_ARCH_CHARS)
        if not ok.all():
            i = int((~ok).to_numpy().nonzero()[0][0])
            raise corrupt(f"row {i + 1}: {str(rows['arch'].iloc[i])[:40]!r} is not an architecture string")
        for col in cls.COLUMNS:  # optional columns a hand-made dataset may lack
            if col not in rows:
                rows[col] = float("nan")

    def add(self, arch: ArchSpec, space: SearchSpace, stats: LatencyStats, ref_ms: float = float("nan")) -> None:
        if getattr(space, "kind", None) == "model":
            # the whole network, as for the built-in spaces (a model space's own count prices only its choices)
            from ..space.counting import count_macs, count_params

            net = space.build_model(arch)
            macs, params = count_macs(net, tuple(space.input_shape)), count_params(net)
        else:
            macs, params = space.macs(arch), space.params(arch)
        self._append({"arch": str(arch), "macs": macs, "params": params, **stats.to_dict(),
                      "ref_ms": ref_ms,
                      "measured_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")})

    @property
    def arch_strings(self) -> list[str]:
        return [str(a) for a in self.rows["arch"]]

    def archs(self) -> list[ArchSpec]:
        space = self.space
        return [space.parse(a) for a in self.arch_strings]

    @property
    def reference_ms(self) -> float:
        """Median latency of the reference network probed before each row (NaN without probes)."""
        ref = self.rows["ref_ms"].to_numpy(dtype=float) if "ref_ms" in self.rows else np.array([np.nan])
        return float(np.nanmedian(ref)) if np.isfinite(ref).any() else float("nan")

    def latencies(self, column: str | None = None, *, normalise_to: float | None = None) -> np.ndarray:
        """Measured latencies; with ``normalise_to=C``, each divided by the reference network's latency
        measured just before it and multiplied by C: drift of the machine's speed between rows and between
        processes cancels out (use the same C, e.g. the training set's ``reference_ms``, for every dataset)."""
        lat = self.rows[column or self.headline].to_numpy(dtype=float)
        if normalise_to is None:
            return lat
        ref = self.rows["ref_ms"].to_numpy(dtype=float) if "ref_ms" in self.rows else np.full(len(lat), np.nan)
        if not np.isfinite(ref).all():
            raise UsageError("this dataset has no reference probes: measure it with reference=True "
                             "(hwnas measure-archs --reference)")
        return lat / ref * normalise_to


def _biased_sample(space: SearchSpace, rng: np.random.Generator) -> ArchSpec:
    """One architecture whose overall size is drawn first: small networks (many ``zero``, small kernels and
    expansions) are as likely as large ones, unlike uniform per-block sampling."""
    if getattr(space, "kind", None) == "model":
        return _biased_sample_generic(space, rng)
    u = rng.uniform()
    blocks = []
    for pos in space.positions():
        cands = [c for c in pos.choices if not c.is_zero]
        if len(cands) < len(pos.choices) and rng.uniform() < 0.8 * (1 - u):
            blocks.append(next(c for c in pos.choices if c.is_zero))
            continue
        cost = np.array([c.kernel ** 2 + 8 * c.expand for c in cands], dtype=float)
        rank = (cost - cost.mean()) / (cost.std() + 1e-9)
        w = np.exp(3.0 * (u - 0.5) * rank)
        blocks.append(cands[int(rng.choice(len(cands), p=w / w.sum()))])
    return ArchSpec.from_blocks(blocks, space.depths)


def _biased_sample_generic(space, rng: np.random.Generator):
    """The same idea for any space: draw an overall size u, then at every decision prefer options whose
    multiply-accumulates rank high (u near 1) or low (u near 0)."""
    u = rng.uniform()
    idx = []
    for d, labels in enumerate(space.choice_labels()):
        cost = np.array([sum(k.macs() for k in space.choice_keys(d, o)) + (1.0 if space.choice_active(d, o) else 0.0)
                         for o in range(len(labels))], dtype=float)
        rank = (cost - cost.mean()) / (cost.std() + 1e-9)
        w = np.exp(3.0 * (u - 0.5) * rank)
        idx.append(int(rng.choice(len(labels), p=w / w.sum())))
    return space.from_indices(idx)


def plan_archs(space: SearchSpace, n: int, seed: int, *, pool_factor: int = 20, exclude: set[str] | None = None
               ) -> list[ArchSpec]:
    """``n`` distinct architectures spread evenly over the MAC range of the space (deterministic per seed).

    ``exclude`` holds arch strings that must not be drawn (e.g. another dataset's, to keep a test set
    disjoint from the training set)."""
    if n < 1:
        raise UsageError("n must be >= 1")
    rng = np.random.default_rng(seed)
    exclude = exclude or set()
    pool: dict[str, ArchSpec] = {}
    for _ in range(max(pool_factor * n, 200)):
        a = _biased_sample(space, rng)
        if str(a) not in exclude:
            pool.setdefault(str(a), a)
    archs = sorted(pool.values(), key=space.macs)
    macs = np.array([space.macs(a) for a in archs], dtype=float)
    targets = np.linspace(macs[0], macs[-1], n)
    chosen: list[int] = []
    taken = np.zeros(len(archs), dtype=bool)
    for t in targets:
        order = np.argsort(np.abs(macs - t))
        i = next((int(j) for j in order if not taken[j]), None)
        if i is None:
            break
        taken[i] = True
        chosen.append(i)
    order = rng.permutation(len(chosen))  # measure in random order so drift does not follow size
    return [archs[chosen[i]] for i in order]


def reference_arch(space: SearchSpace) -> ArchSpec:
    """The fixed network probed between measurements: every block at the space's first candidate (a model space:
    the network as written, first candidates and inputs)."""
    if getattr(space, "kind", None) == "model":
        return space.first()
    return space.uniform(space.candidates[0])


REFERENCE_PROTOCOL = Protocol(warmup=3, warmup_s=0.0, repeats=10, min_time_s=0.0)


def read_arch_list(path: str | Path, space: SearchSpace) -> list[ArchSpec]:
    """The architectures in ``path``: the ``arch`` column of a CSV (an arch dataset), else one architecture
    string per line (blank lines and ``#`` comments skipped); each is checked against ``space``."""
    import csv

    from ..space.spec import MAX_ARCH_CHARS

    path = Path(path)
    if path.exists() and not path.is_file():
        raise UsageError(f"the architecture list {path} is not a regular file")
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise InputNotFound(f"architecture list not found: {path}") from None
    except (IsADirectoryError, UnicodeDecodeError, PermissionError) as exc:
        raise UsageError(f"cannot read the architecture list {path}: {exc}") from None
    lines = text.splitlines()
    long = next((i for i, ln in enumerate(lines) if len(ln) > MAX_ARCH_CHARS), None)
    if long is not None:
        raise UsageError(f"{path}, line {long + 1}: {len(lines[long])} characters is not an architecture (at most "
                         f"{MAX_ARCH_CHARS})")
    if lines and "arch" in next(csv.reader([lines[0]])):
        entries = [(i + 2, row["arch"] or "") for i, row in enumerate(csv.DictReader(lines))]
    else:
        entries = [(i + 1, ln) for i, ln in enumerate(lines) if ln.strip() and not ln.lstrip().startswith("#")]
    out = []
    for line, entry in entries:
        try:
            out.append(space.parse(entry))
        except ValueError as exc:
            raise UsageError(f"{path}, line {line}: {exc}") from None
    if not out:
        raise UsageError(f"{path} holds no architectures")
    return out


def measure_archs(space: SearchSpace, backend: Backend, path: str | Path, *, n: int, seed: int,
                  exclude: set[str] | None = None, reference: bool = False, progress: bool = True,
                  jobs: int = 1, archs: Sequence[ArchSpec] | None = None) -> ArchDataset:
    """Measure ``n`` planned architectures end to end into ``path`` (resuming what is there).

    ``archs`` measures these networks instead of planned ones (the first ``n`` of them, duplicates and
    ``exclude``'s dropped): the same networks on another device or runtime, or again for a noise floor.

    With ``reference``, a fixed reference network is timed (minimum of 10 runs) just before each
    architecture and stored as ``ref_ms``, so :meth:`ArchDataset.latencies` can remove machine drift.
    ``jobs`` > 1 lets a backend that builds slowly (ExecuTorch) build the programs in parallel first."""
    path = Path(path)
    with output_lock(path, "architecture dataset"):  # a second writer would lose rows
        return _measure(space, backend, path, n, seed, exclude, reference, progress, jobs, archs)


def _measure(space: SearchSpace, backend: Backend, path: Path, n: int, seed: int, exclude: set[str] | None,
             reference: bool, progress: bool, jobs: int, archs: Sequence[ArchSpec] | None) -> ArchDataset:
    settings, env = backend.settings(), backend.environment()
    if archs is None:
        plan, planned = plan_archs(space, n, seed, exclude=exclude), {"n": n, "seed": seed}
        if exclude:  # the plan depends on what is excluded: a resume with another --exclude would mix two plans
            planned["exclude"] = hashlib.sha256("\n".join(sorted(exclude)).encode()).hexdigest()[:16]
    else:
        plan = list({str(a): space.validate(a) for a in archs if str(a) not in (exclude or set())}.values())[:n]
        if not plan:
            raise UsageError("no architectures to measure (the list is empty or every one is excluded)")
        digest = hashlib.sha256("\n".join(map(str, plan)).encode()).hexdigest()[:16]
        planned = {"n": len(plan), "given": digest}
    if path.exists():
        ds = ArchDataset.load(path, repair=True)
        ds.check_compatible(settings, env, space, what=f"this {backend.name} measurement")
        if ds.meta.get("plan") != planned or bool(ds.meta.get("reference")) != reference:
            raise UsageError(f"{path} was planned with {ds.meta.get('plan')} (reference probes: "
                             f"{bool(ds.meta.get('reference'))}), not {planned} (reference probes: "
                             f"{reference}); use another output file")
    else:
        ref_meta = {"arch": str(reference_arch(space)), "protocol": REFERENCE_PROTOCOL.to_dict()} if reference else None
        ds = ArchDataset.new(space, settings, env, plan=planned, reference=ref_meta)
        ds.save(path)
    done = set(ds.arch_strings)
    todo = [a for a in plan if str(a) not in done]
    work = network_jobs(todo, space)
    probe_job = network_jobs([reference_arch(space)], space) if reference and todo else []
    backend.precompile(probe_job + work, n_jobs=jobs, progress=progress)
    bar = tqdm(desc=f"measure {space.name} [{backend.name}]", unit="net", disable=bar_disabled(progress),
               initial=len(plan) - len(todo), total=len(plan))
    probe = None
    if probe_job:
        module, shape = probe_job[0]()
        probe = backend.prepare(module.eval(), (backend.batch, *shape[1:]))
    try:
        for i, stats, ref in backend.measure_many(
                work, before=(lambda: REFERENCE_PROTOCOL.run(probe).min_ms) if probe is not None else None):
            ds.add(todo[i], space, stats, ref_ms=ref)
            if len(ds) == len(plan) - len(todo) + 1:
                ds.note_device_state(backend.device_state(), "first")
            ds.save(path)
            bar.update()
    finally:
        bar.close()
        if probe is not None:
            probe.close()
    if todo:
        ds.note_device_state(backend.device_state(), "last")
        ds.save(path)
    return ds


def network_jobs(archs: list[ArchSpec], space: SearchSpace) -> list[functools.partial]:
    """Picklable builders of each network and its input shape, for :meth:`Backend.measure_many` and
    :meth:`Backend.precompile`."""
    return [functools.partial(_network_job, a, space, tuple(space.input_shape)) for a in archs]


def _network_job(arch: ArchSpec, space: SearchSpace, shape: tuple[int, ...]):
    return build_model(arch, space), shape


def dataset_summary(ds: ArchDataset) -> dict[str, Any]:
    lat = ds.latencies()
    return {"n": len(ds), "min_ms": float(lat.min()), "median_ms": float(np.median(lat)), "max_ms": float(lat.max())}
