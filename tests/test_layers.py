"""The architecture's lines (DESIGN.md: imports flow down only; assess is pure; only the faces print), held by an
`ast` walk over EVERY module of the three packages, relative imports resolved to absolute `litwatch.*` names.

Each rule is a function of (module, the names it imports) → its violations. The last tests build a throw-away
module tree with one forbidden import per rule and show the rule catches it, so the rules cannot pass vacuously.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The design card's folders and the names they are installed under (pyproject `package-dir`).
PACKAGES = {"pipeline": "litwatch.pipeline", "storage": "litwatch.storage", "reports": "litwatch.reports"}
OLD_TOP_LEVEL = frozenset(PACKAGES)
NETWORK = frozenset({"requests", "urllib", "urllib3", "http", "httpx", "aiohttp", "smtplib"})
FACES = ("litwatch.pipeline.cli", "litwatch.pipeline.scheduler", "litwatch.pipeline.web")


@dataclass(frozen=True)
class Module:
    name: str  # litwatch.pipeline.assess.verdict
    path: Path
    tree: ast.Module

    @property
    def package(self) -> str:
        """What a relative import of this module is relative to."""
        return self.name if self.path.name == "__init__.py" else self.name.rpartition(".")[0]


def load_modules(root: Path) -> list[Module]:
    found = []
    for folder, installed in PACKAGES.items():
        for path in sorted((root / folder).rglob("*.py")):
            parts = path.relative_to(root / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            dotted = ".".join((installed, *parts))
            found.append(Module(dotted, path, ast.parse(path.read_text("utf-8"))))
    return found


def imports(module: Module, known: set[str]) -> set[str]:
    """Every name `module` imports anywhere (lazy imports in functions too), made absolute. `from X import a`
    counts as importing `X.a` when that is one of our modules, else `X`."""
    found: set[str] = set()
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                found.add(sub if sub in known else source)
    return found


def within(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def top(name: str) -> str:
    return name.split(".")[0]


# --- the rules: (module, imported names) → violations ---------------------------------------------------------

def storage_is_the_ground_floor(m: Module, names: set[str]) -> list[str]:
    """storage imports nothing of ours above it, and talks to no network."""
    if not within(m.name, "litwatch.storage"):
        return []
    return [n for n in names if within(n, "litwatch.pipeline", "litwatch.reports") or top(n) in NETWORK]


REPORTS_THIRD_PARTY = frozenset({"jinja2", "markupsafe"})


def reports_read_only_records(m: Module, names: set[str]) -> list[str]:
    """reports reads storage.records (and the stdlib, Jinja2); never pipeline, a session or the database."""
    if not within(m.name, "litwatch.reports"):
        return []
    return [n for n in names
            if not (within(n, "litwatch.reports") or n == "litwatch.storage.records" or n == "__future__"
                    or top(n) in sys.stdlib_module_names or top(n) in REPORTS_THIRD_PARTY)]


ASSESS_MAY_IMPORT = ("litwatch.pipeline.assess", "litwatch.pipeline.watchlist", "litwatch.storage.records")
IMPURE = frozenset({"sqlalchemy", "Bio", "lxml", "jinja2", "apscheduler", "alembic"}) | NETWORK


def assess_is_pure(m: Module, names: set[str]) -> list[str]:
    """assess imports storage.records and the watch list's value types only: no ncbi, pubmed, replay, reports,
    storage beyond records, HTTP or database library."""
    if not within(m.name, "litwatch.pipeline.assess"):
        return []
    return [n for n in names
            if (top(n) == "litwatch" and not within(n, *ASSESS_MAY_IMPORT)) or top(n) in IMPURE]


def sources_never_judge_or_report(m: Module, names: set[str]) -> list[str]:
    """ncbi, pubmed (and registry, crossref) never import assess or reports, nor storage beyond records."""
    if not within(m.name, "litwatch.pipeline.ncbi", "litwatch.pipeline.pubmed", "litwatch.pipeline.registry",
                  "litwatch.pipeline.crossref"):
        return []
    return [n for n in names
            if within(n, "litwatch.pipeline.assess", "litwatch.reports")
            or (within(n, "litwatch.storage") and n != "litwatch.storage.records")]


FACE_PACKAGES = FACES
ORCHESTRATORS = tuple(f"litwatch.pipeline.{name}" for name in (
    "runner", "digest_run", "demo", "status", "backfill_ledger", "cited_checks", "file_assessment", "search_test",
))


def imports_flow_down(m: Module, names: set[str]) -> list[str]:
    """In pipeline: faces → orchestrators → the parts (ncbi, pubmed, registry, assess, replay, config, watchlist…).
    Nothing imports a face but a face; the parts never import an orchestrator."""
    if not within(m.name, "litwatch.pipeline") or within(m.name, *FACE_PACKAGES):
        return []
    bad = [n for n in names if within(n, *FACE_PACKAGES)]
    if not within(m.name, *ORCHESTRATORS):
        bad += [n for n in names if within(n, *ORCHESTRATORS)]
    return bad


def no_old_top_level_names(m: Module, names: set[str]) -> list[str]:
    """`pipeline`, `storage`, `reports` are only ever `litwatch.<pkg>` (the old names clash on PyPI)."""
    return [n for n in names if top(n) in OLD_TOP_LEVEL]


def only_the_faces_print(m: Module, names: set[str]) -> list[str]:
    """Library code logs, returns lines or takes a sink; the CLI and the scheduler print."""
    if within(m.name, *FACES):
        return []
    return [f"print() on line {n.lineno}" for n in ast.walk(m.tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print"]


Rule = Callable[[Module, set[str]], list[str]]
RULES: dict[str, Rule] = {rule.__name__: rule for rule in (
    storage_is_the_ground_floor, reports_read_only_records, assess_is_pure, sources_never_judge_or_report,
    imports_flow_down, no_old_top_level_names, only_the_faces_print,
)}


def violations(root: Path, rule: Rule) -> list[str]:
    modules = load_modules(root)
    known = {m.name for m in modules}
    return [f"{m.path.relative_to(root)}: {v}" for m in modules for v in rule(m, imports(m, known))]


# --- the project holds every rule ---------------------------------------------------------------------------

@pytest.mark.parametrize("rule", RULES.values(), ids=RULES.keys())
def test_every_module_keeps_the_rule(rule: Rule) -> None:
    assert violations(REPO, rule) == [], rule.__doc__


def _test_and_benchmark_files() -> Iterable[Path]:
    for folder in ("tests", "benchmarks"):
        yield from sorted((REPO / folder).rglob("*.py"))


@pytest.mark.parametrize("path", list(_test_and_benchmark_files()), ids=lambda p: p.relative_to(REPO).as_posix())
def test_tests_and_benchmarks_use_the_litwatch_names(path: Path) -> None:
    module = Module(path.stem, path, ast.parse(path.read_text("utf-8")))
    assert no_old_top_level_names(module, imports(module, set())) == []


def test_the_walker_resolves_relative_and_lazy_imports() -> None:
    modules = {m.name: m for m in load_modules(REPO)}
    known = set(modules)
    assert len(modules) > 60
    verdict = imports(modules["litwatch.pipeline.assess.verdict"], known)
    assert {"litwatch.pipeline.assess.signals", "litwatch.pipeline.watchlist", "litwatch.storage.records"} <= verdict
    cli = imports(modules["litwatch.pipeline.cli.commands"], known)
    assert {"litwatch.pipeline.runner", "litwatch.storage.repository"} <= cli  # imported inside functions
    assert "litwatch.pipeline" in imports(modules["litwatch.pipeline.cli.parser"], known)  # from .. import


# --- and each rule fails when broken -------------------------------------------------------------------------

BROKEN = [
    # (rule, module path under a fresh tree, its source, an allowed module beside it)
    ("storage_is_the_ground_floor", "storage/repository.py", "from litwatch.pipeline.errors import QueryError\n",
     "from .records import Article\n"),
    ("storage_is_the_ground_floor", "storage/engine.py", "import requests\n", "import sqlalchemy\n"),
    ("reports_read_only_records", "reports/digest.py", "from litwatch.pipeline.config import Settings\n",
     "from litwatch.storage.records import Article\n"),
    ("reports_read_only_records", "reports/items.py", "from litwatch.storage.engine import session_scope\n",
     "from .text import shorten\n"),
    ("reports_read_only_records", "reports/render.py", "import sqlalchemy.orm\n", "import jinja2\n"),
    ("assess_is_pure", "pipeline/assess/verdict.py", "from ..pubmed.parse import parse_efetch\n",
     "from ..watchlist import WatchedArticle\n"),
    ("assess_is_pure", "pipeline/assess/cited.py", "def f():\n    from ...reports import items\n",
     "from litwatch.storage.records import Article\n"),
    ("assess_is_pure", "pipeline/assess/design.py", "from litwatch.storage import repository\n",
     "from . import text\n"),
    ("assess_is_pure", "pipeline/assess/signals.py", "from ..ncbi.client import EutilsClient\n",
     "import re\n"),
    ("assess_is_pure", "pipeline/assess/text.py", "import requests\n", "import unicodedata\n"),
    ("sources_never_judge_or_report", "pipeline/ncbi/client.py", "from ..assess import assess\n",
     "from ..errors import EutilsError\n"),
    ("sources_never_judge_or_report", "pipeline/pubmed/parse.py", "from litwatch.reports.items import make_item\n",
     "from litwatch.storage.records import Article\n"),
    ("sources_never_judge_or_report", "pipeline/pubmed/dtd.py", "from litwatch.storage.engine import make_engine\n",
     "from .safety import check\n"),
    ("imports_flow_down", "pipeline/runner.py", "from .cli import main\n", "from .config import Settings\n"),
    ("imports_flow_down", "pipeline/ncbi/client.py", "from ..runner import Runner\n", "from ..errors import short\n"),
    ("imports_flow_down", "pipeline/watchlist.py", "def f():\n    from .scheduler import run_forever\n",
     "from .errors import QueryError\n"),
    ("no_old_top_level_names", "pipeline/runner.py", "from storage.records import Article\n",
     "from litwatch.storage.records import Article\n"),
    ("no_old_top_level_names", "reports/render.py", "import pipeline.config\n", "from . import text\n"),
    ("only_the_faces_print", "pipeline/demo.py", "def run():\n    print('done')\n",
     "def run():\n    yield 'done'\n"),
    ("only_the_faces_print", "storage/migrate.py", "print('upgraded')\n", "x = 1\n"),
]


def _tree(root: Path, files: dict[str, str]) -> Path:
    for folder in PACKAGES:
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / "__init__.py").touch()
    for rel, source in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(root).parents[:-2]:
            (root / parent / "__init__.py").touch()
        path.write_text(source, "utf-8")
    return root


@pytest.mark.parametrize(("rule", "where", "bad", "good"), BROKEN, ids=[f"{b[0]}:{b[1]}" for b in BROKEN])
def test_a_forbidden_import_is_caught(tmp_path: Path, rule: str, where: str, bad: str, good: str) -> None:
    clean = _tree(tmp_path / "clean", {where: good})
    assert violations(clean, RULES[rule]) == []
    broken = _tree(tmp_path / "broken", {where: bad})
    found = violations(broken, RULES[rule])
    assert len(found) == 1 and found[0].startswith(where), found


def test_every_rule_has_a_broken_example() -> None:
    assert {b[0] for b in BROKEN} == set(RULES)


def test_the_faces_may_print(tmp_path: Path) -> None:
    tree = _tree(tmp_path, {"pipeline/cli/commands.py": "print('ok')\n", "pipeline/scheduler.py": "print('ok')\n"})
    assert violations(tree, only_the_faces_print) == []
