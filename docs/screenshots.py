"""Render a digest HTML file with headless Chromium at phone and desktop widths, light and dark, into PNGs.

    .venv/bin/python docs/screenshots.py [DIGEST.html] [--out docs/screenshots]

Needs Debian's `chromium` on PATH (`apt-get install -y chromium`). Not part of the test suite: look at the PNGs.
Defaults to a demo digest (`make demo` writes demo-output/digests/<slug>/<week>.html).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# name → (window width, height, dark?). Heights are generous; Chromium crops the page to the window.
SHOTS: dict[str, tuple[int, int, bool]] = {
    "digest-phone": (390, 3200, False),
    "digest-phone-dark": (390, 3200, True),
    "digest-desktop": (1280, 2400, False),
    "digest-desktop-dark": (1280, 2400, True),
}
# Quiet, offline, reproducible: no first-run UI, no background fetches, no GPU in containers.
_BASE_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
# Either flag makes prefers-color-scheme match "dark" in Chromium 156 (checked); both, for other builds (0 = dark).
_DARK_FLAGS = ("--force-dark-mode", "--blink-settings=preferredColorScheme=0")


def shoot(page: Path, out: Path, width: int, height: int, dark: bool, chromium: str) -> None:
    with tempfile.TemporaryDirectory(prefix="litwatch-chromium-") as profile:
        cmd = [
            chromium, *_BASE_FLAGS, *(_DARK_FLAGS if dark else ()), f"--user-data-dir={profile}",
            f"--window-size={width},{height}", f"--screenshot={out}", page.resolve().as_uri(),
        ]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", nargs="?", type=Path, help="digest HTML file (default: newest demo digest)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("screenshots: chromium not found on PATH (apt-get install -y chromium)", file=sys.stderr)
        return 2
    page = args.page or max((ROOT / "demo-output" / "digests").glob("*/*.html"), default=None)
    if page is None or not page.is_file():
        print("screenshots: no digest HTML file (run `make demo` first, or pass a path)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for name, (width, height, dark) in SHOTS.items():
        target = args.out / f"{name}.png"
        shoot(page, target, width, height, dark, chromium)
        print(f"{target}  ({width} px{', dark' if dark else ''})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
