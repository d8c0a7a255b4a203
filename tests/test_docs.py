"""The user documentation (README.md, docs/*.md) stays true to the repository and the code:
links resolve, examples are valid problem files, every schema key and record field is
documented, and no file outside the repository is named."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from nnlasso import batch, spec, synthetic

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.*)$", text, re.M)}


def _links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return re.findall(r"\]\(([^)\s]+)\)", text)


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_relative_links_resolve(page):
    bad = []
    for target in _links(page):
        if re.match(r"[a-z]+:", target):           # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            bad.append(f"{target}: no such file")
        elif not dest.resolve().is_relative_to(ROOT):
            bad.append(f"{target}: outside the repository")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            bad.append(f"{target}: no heading #{anchor} in {dest.name}")
    assert bad == [], f"{page.name}: {bad}"


def test_link_checker_catches_a_broken_link(tmp_path):
    page = tmp_path / "x.md"
    page.write_text("# Title\n\n[ok](#title) [gone](missing.md) [anchor](#nope)\n")
    assert _links(page) == ["#title", "missing.md", "#nope"]
    assert _anchors(page) == {"title"}
    assert _slug("[data]") == "data" and _slug("lam_max") == "lam_max"
    assert _slug("Activation patterns: exact two-layer training") == \
        "activation-patterns-exact-two-layer-training"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_no_reference_to_files_outside_the_repository(page):
    text = page.read_text()
    assert "DESIGN" not in text, f"{page.name} names DESIGN.md, which users do not have"


def test_docs_exist_and_are_linked_from_the_readme():
    readme = (ROOT / "README.md").read_text()
    for name in ("math.md", "problem-files.md", "records.md", "layout.md"):
        assert (ROOT / "docs" / name).is_file()
        assert f"(docs/{name})" in readme


def _toml_blocks(page: Path) -> list[str]:
    return re.findall(r"```toml\n(.*?)```", page.read_text(), re.S)


@pytest.mark.parametrize("page", [ROOT / "README.md", ROOT / "docs" / "problem-files.md"],
                         ids=["README.md", "problem-files.md"])
def test_toml_examples_are_valid_problem_files(page):
    blocks = _toml_blocks(page)
    assert blocks
    for i, block in enumerate(blocks):
        spec.parse_problem(tomllib.loads(block), file=f"{page.name} toml block {i + 1}")


def test_problem_file_doc_names_every_key():
    text = (ROOT / "docs" / "problem-files.md").read_text()
    tables = [k for k in spec._TOP_KEYS if k in ("data", "dictionary", "network", "model",
                                                 "solver", "verify")]
    missing = sorted(t for t in tables if f"## [{t}]" not in text)
    assert missing == [], f"docs/problem-files.md has no section for the tables {missing}"
    keys = set(spec._TOP_KEYS) - set(tables) | set(spec._ALL_DATA_KEYS) | set(spec._DICT_KEYS) | \
        set(spec._NET_KEYS) | set(spec._MODEL_KEYS) | set(spec._SOLVER_KEYS) | \
        set(spec._VERIFY_KEYS)
    for gen, (_, params) in synthetic.GENERATORS.items():
        assert f"`{gen}`" in text
        keys |= set(params)
    missing = sorted(k for k in keys if f"`{k}`" not in text)
    assert missing == [], f"docs/problem-files.md does not document {missing}"
    values = (*spec.TASKS, *spec.SOURCES, *spec.SKLEARN_DATASETS, *spec.DICTIONARY_KINDS,
              *spec.LOSSES, *spec.CERTIFICATES)
    missing = sorted(v for v in values if f'"{v}"' not in text)
    assert missing == [], f"docs/problem-files.md does not list the values {missing}"
    assert f"{spec.DEFAULT_MAX_MEMORY >> 20} MiB" in text
    assert "NNLASSO_MAX_MEMORY_MB" in text


def test_records_doc_names_every_field_status_and_time():
    text = (ROOT / "docs" / "records.md").read_text()
    names = [*batch.RECORD_KEYS, "solution_file"]
    missing = sorted(k for k in names if f"| `{k}` |" not in text)
    assert missing == [], f"docs/records.md does not document the record fields {missing}"
    missing = sorted(s for s in batch.STATUSES if f"| `{s}` |" not in text)
    assert missing == [], f"docs/records.md does not document the statuses {missing}"
    missing = sorted(t for t in batch.TIME_KEYS if f"`{t}`" not in text)
    assert missing == [], f"docs/records.md does not document the times {missing}"


def test_records_doc_example_has_exactly_the_record_fields():
    import json
    text = (ROOT / "docs" / "records.md").read_text()
    example = json.loads(re.search(r"```json\n(.*?)```", text, re.S).group(1))
    assert list(example) == list(batch.RECORD_KEYS)
    assert set(example["times"]) == set(batch.TIME_KEYS)


def test_code_names_no_file_outside_the_repository():
    """Docstrings point users to docs/, not to a design file they do not have."""
    files = sorted((ROOT / "nnlasso").glob("*.py")) + sorted((ROOT / "scripts").glob("*.py"))
    bad = [f.relative_to(ROOT).as_posix() for f in files if "DESIGN" in f.read_text()]
    assert bad == []


def test_layout_doc_names_existing_files_and_every_math_section():
    """docs/layout.md: every file it names exists, and every section of docs/math.md (but the
    references) has a row saying which file computes its formulas."""
    text = (ROOT / "docs" / "layout.md").read_text()
    named = set(re.findall(r"`(nnlasso/[\w/]+\.py)`", text))
    assert named and all((ROOT / p).is_file() for p in named), \
        sorted(p for p in named if not (ROOT / p).is_file())
    rows = re.findall(r"^\| ([^|]*?) \|", text, re.M)
    sections = re.findall(r"^## (.*)$", (ROOT / "docs" / "math.md").read_text(), re.M)
    missing = [s for s in sections if s != "References" and s not in rows]
    assert missing == [], missing

