"""The architecture's lines, held by walking imports with `ast` (DESIGN.md: imports flow down only)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
OURS = ("pipeline", "storage", "reports")


def modules(package: str) -> list[Path]:
    return sorted(p for p in (REPO / package).rglob("*.py") if "migrations/versions" not in p.as_posix())


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def ours(names: set[str]) -> set[str]:
    return {n for n in names if n.split(".")[0] in OURS}


@pytest.mark.parametrize("path", modules("storage"), ids=lambda p: p.relative_to(REPO).as_posix())
def test_storage_imports_nothing_of_ours_and_makes_no_http_calls(path: Path) -> None:
    names = imports(path)
    assert {n for n in ours(names) if not n.startswith("storage")} == set()
    assert not {n for n in names if n.split(".")[0] in {"requests", "urllib", "http"}}


@pytest.mark.parametrize("path", modules("reports"), ids=lambda p: p.relative_to(REPO).as_posix())
def test_reports_read_only_the_domain_records(path: Path) -> None:
    foreign = {n for n in ours(imports(path)) if not n.startswith("reports")}
    assert foreign <= {"storage.records", "storage"}, foreign
    assert "sqlalchemy" not in {n.split(".")[0] for n in imports(path)}  # handed rows, never a session


def test_eutils_never_touches_the_database() -> None:
    for name in ("eutils.py", "ratelimit.py", "pubmed_xml.py", "assess.py"):
        names = imports(REPO / "pipeline" / name)
        assert not {n for n in names if n.startswith("storage.") and n != "storage.records"}, name
        assert "sqlalchemy" not in {n.split(".")[0] for n in names}, name


@pytest.mark.parametrize(
    "path", [*modules("pipeline"), *modules("storage"), *modules("reports")],
    ids=lambda p: p.relative_to(REPO).as_posix(),
)
def test_only_the_cli_prints(path: Path) -> None:
    if path.name == "cli.py":
        return
    calls = [n for n in ast.walk(ast.parse(path.read_text("utf-8")))
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print"]
    assert calls == [], f"{path.name} prints; library code logs or returns lines for the CLI"


def test_the_lines_can_fail() -> None:
    """The walker really sees imports (so the tests above are not vacuous)."""
    assert "storage.records" in imports(REPO / "reports" / "digest.py")
    assert "storage.repository" in imports(REPO / "pipeline" / "runner.py") or "storage" in imports(
        REPO / "pipeline" / "runner.py")
