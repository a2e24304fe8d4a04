"""The README and the docs name files of this repository that exist (docs/errors.md named two test files for
months after they moved into sub-rooms)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
# a path in backticks that starts at one of the repository's top folders: `tests/sdk/...`, `benchmarks/...`
NAMED = re.compile(r"`((?:sdk|tests|export|trainer|benchmarks|docs|examples)/[\w/.-]*)`")


def test_every_path_a_page_names_exists() -> None:
    named = {(page.relative_to(REPO), path) for page in PAGES for path in NAMED.findall(page.read_text("utf-8"))}
    assert len(named) > 50  # the pattern still finds what the pages name
    missing = sorted(f"{page}: {path}" for page, path in named if not (REPO / path).exists())
    assert not missing, missing
