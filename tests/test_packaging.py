"""The distribution: a wheel built from the repository's files installs exactly one top-level package, `litwatch`,
and `litwatch demo` runs from that wheel alone (not from the source tree an editable install points at).

Why it matters: the card's folders are named `pipeline/`, `storage/` and `reports/`; PyPI has distributions with
those names, so installing them as top-level packages would overwrite other projects' files, and a user's own
`reports/` folder would shadow ours. The wheel maps them into `litwatch.*` instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _project_files() -> list[str]:
    """What a clean clone has: tracked files plus new files not ignored (so a module not yet added counts)."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout
    return [name for name in out.splitlines() if (REPO / name).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel from a copy of the project's files (the working tree stays clean: no build/ or egg-info)."""
    src = tmp_path_factory.mktemp("clone")
    for name in _project_files():
        target = src / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "-w", str(dist), str(src)],
        check=True, capture_output=True, text=True,
    )
    (built,) = dist.glob("litwatch-*.whl")
    return built


def test_the_wheel_installs_only_the_litwatch_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/", 1)[0] for name in names if not name.split("/", 1)[0].endswith((".dist-info", ".data"))}
    assert top == {"litwatch"}
    # what the package needs at run time travels with it: templates, migrations, the demo corpus, the watch list
    for needed in (
        "litwatch/reports/templates/digest.html.j2",
        "litwatch/storage/migrations/alembic.ini",
        "litwatch/storage/migrations/versions/0001_ingestion.py",
        "litwatch/pipeline/replay/demo_corpus/stem-cell-lbp/records.xml",
        "litwatch/pipeline/replay/demo_corpus/knee-oa/records.xml",
        "litwatch/queries/knee-oa/article.toml",
        "litwatch/queries/stem-cell-lbp/article.toml",
    ):
        assert needed in names, needed
    # every module of the source tree is in the wheel (a sub-package left out of pyproject's list breaks only the
    # installed copy, never the editable one the other tests use)
    for folder, package in (("pipeline", "litwatch/pipeline"), ("storage", "litwatch/storage"),
                            ("reports", "litwatch/reports")):
        for module in (REPO / folder).rglob("*.py"):
            wanted = f"{package}/{module.relative_to(REPO / folder).as_posix()}"
            assert wanted in names, f"{wanted} is missing from the wheel: add its package to pyproject.toml"
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "litwatch = litwatch.pipeline.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_litwatch_demo_runs_from_the_wheel_alone(wheel: Path, tmp_path: Path) -> None:
    """Unpacked into its own folder and run from an empty directory, with site processing off (`-S`) so the
    editable install's finder cannot supply the source tree: only the wheel's files and the dependencies are
    importable."""
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, text=True)
    workdir = tmp_path / "empty"
    workdir.mkdir()
    deps = sysconfig.get_paths()["purelib"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LITWATCH_")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), deps])
    probe = subprocess.run(
        [sys.executable, "-S", "-c", "import litwatch.pipeline.cli as c; print(c.__file__)"],
        cwd=workdir, env=env, capture_output=True, text=True, check=True,
    )
    assert probe.stdout.startswith(str(site)), probe.stdout
    done = subprocess.run(
        [sys.executable, "-S", "-m", "litwatch.pipeline.cli", "demo", "--out", str(workdir / "out")],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "records stored" in done.stdout or "stored" in done.stdout, done.stdout
    assert list((workdir / "out" / "digests").glob("*/*.html")), done.stdout
