"""The documentation's layout: a short README that keeps the two set-up commands, and an mkdocs site whose
navigation and README links point at pages that exist. Fast and offline: the strict mkdocs build itself runs in
CI (`make docs` from `.ci/run`)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
README_MAX_BYTES = 10240


def _nav_pages(nav) -> list[str]:
    """Every page path in an mkdocs nav (a list of strings, {title: page} or {title: [sub-nav]})."""
    out: list[str] = []
    for item in nav:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict):
            for value in item.values():
                out += _nav_pages(value) if isinstance(value, list) else [value]
    return [p for p in out if not re.match(r"^[a-z]+://", p)]  # external links in a nav are not pages


def _config() -> dict:
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))


def test_readme_is_short_and_keeps_the_setup_commands():
    size = README.stat().st_size
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes; move detail to docs/ (limit {README_MAX_BYTES})"
    text = README.read_text(encoding="utf-8")
    assert "make demo" in text
    assert "make test" in text


def test_mkdocs_config_is_strict_material():
    cfg = _config()
    assert cfg["theme"]["name"] == "material"
    assert cfg.get("strict") is True
    assert cfg.get("docs_dir", "docs") == "docs"


def test_every_nav_page_exists_and_every_page_is_in_the_nav():
    pages = _nav_pages(_config()["nav"])
    assert pages, "mkdocs.yml has an empty nav"
    missing = [p for p in pages if not (DOCS / p).is_file()]
    assert not missing, f"nav pages missing under docs/: {missing}"
    on_disk = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert on_disk - set(pages) == set(), f"pages not in mkdocs.yml's nav: {sorted(on_disk - set(pages))}"


def test_readme_links_into_docs_exist():
    text = README.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    local = [link.split("#", 1)[0] for link in links if not re.match(r"^[a-z]+://|^#|^mailto:", link)]
    assert any(link.startswith("docs/") for link in local), "README.md links to no docs page"
    broken = [link for link in local if link and not (ROOT / link).exists()]
    assert not broken, f"README.md links to missing files: {broken}"
