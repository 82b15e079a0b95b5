"""reports stands on storage.records only: no Session, no pipeline, no database or HTTP library."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import reports

ALLOWED_THIRD_PARTY = {"jinja2", "markupsafe"}
FILES = sorted(Path(reports.__file__).parent.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_reports_imports_only_storage_records(path: Path) -> None:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            ok = (
                top == "reports"
                or name == "storage.records"
                or top in sys.stdlib_module_names
                or top in ALLOWED_THIRD_PARTY
                or name == "__future__"
            )
            assert ok, f"{path.name} imports {name}"
