"""The package's import graph: no cycles, and the stages import only the stages below them (space → profilers →
predictors → train → search → multitrial → pareto → cli), so each stage can be read (and tested) without the ones above it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "hwnas"
# bottom to top (testing: the conformance suites); modules at the package root (errors, io, figures) are shared;
# train (data, devices, DDP, retrain, export) sits under every search: one-shot (search) and multi-trial;
# trial (hwnas/trial.py) is the public name of the multi-trial trial API (NNI's classic mode)
STAGES = ("space", "profilers", "predictors", "train", "search", "multitrial", "trial", "pareto", "testing", "cli")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph() -> dict[str, set[str]]:
    """Every hwnas module -> the hwnas modules it imports anywhere (module level, in functions, under
    TYPE_CHECKING): a lazy import is still a dependency."""
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(mod, node, path.name == "__init__.py")
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            for t in targets:
                while t and t not in modules and "." in t:
                    t = t.rsplit(".", 1)[0]
                if t in modules and t != mod:
                    graph[mod].add(t)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One representative cycle per strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in STAGES else None


def test_no_import_cycles_inside_hwnas():
    graph = import_graph()
    assert len(graph) > 40  # the walk found the package
    assert _cycles(graph) == []


def test_stages_import_only_the_stages_below_them():
    bad = []
    for mod, deps in import_graph().items():
        s = _stage(mod)
        for d in deps:
            t = _stage(d)
            if s and t and STAGES.index(t) > STAGES.index(s):
                bad.append(f"{mod} -> {d}")
            if s is None and t is not None and mod not in ("hwnas.__main__",):
                bad.append(f"{mod} (shared) -> {d}")
    assert bad == []


# a stand-in for onnxruntime_perf_test that the remote backend's tests run as a separate program
PROGRAMS = {"hwnas.profilers.standin_perf_test"}


def test_only_the_cli_parses_arguments():
    users = [m for m, p in ((_module_name(p), p) for p in ROOT.rglob("*.py"))
             if _stage(m) != "cli" and m not in PROGRAMS and "import argparse" in p.read_text()]
    assert users == []


@pytest.mark.parametrize("graph, cyclic", [
    ({"a": {"b"}, "b": {"a"}}, True),
    ({"a": {"b"}, "b": {"c"}, "c": set()}, False),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, True),
])
def test_the_cycle_check_finds_cycles(graph, cyclic):
    assert bool(_cycles(graph)) is cyclic
