"""simcse_sdk/inputs/help_format.py: every command line's --help wraps at spaces, never inside a word at a hyphen."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from simcse_sdk.inputs.help_format import HelpFormat, RawDescriptionHelpFormat

ROOT = Path(__file__).resolve().parents[3]
WORDS = ["docs/serving-performance.md", "ov-bf16", "--no-hard-neg", "batch-independent", "sentence-transformers"]
CUT = re.compile(r"\w-$")  # a line that ends inside a word, at its hyphen


@pytest.mark.parametrize("fmt", [HelpFormat, RawDescriptionHelpFormat])
@pytest.mark.parametrize("columns", range(40, 121, 7))
def test_hyphenated_words_stay_whole_at_every_width(fmt: type[argparse.HelpFormatter], columns: int,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    text = "see " + " and ".join(WORDS) + " for the " + " ".join(WORDS)
    p = argparse.ArgumentParser(prog="demo", description=text, formatter_class=fmt)
    p.add_argument("--flag", help=text)
    lines = p.format_help().splitlines()
    assert not [line for line in lines if CUT.search(line)]
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("--flag FLAG"))
    flag_help = " ".join(" ".join(lines[start:]).split())
    assert all(word in flag_help for word in WORDS)


def test_the_raw_format_keeps_the_descriptions_line_breaks() -> None:
    p = argparse.ArgumentParser(prog="demo", description="first line\n  second, indented",
                                formatter_class=RawDescriptionHelpFormat)
    assert "first line\n  second, indented" in p.format_help()


@pytest.mark.parametrize("module", ["simcse_sdk.server", "simcse_sdk.embed", "simcse_sdk.evaluation", "trainer",
                                    "export"])
def test_no_command_lines_help_cuts_a_word_at_its_hyphen(module: str) -> None:
    for columns in (60, 80, 100):  # each cut a word of one command line or another before
        env = {**os.environ, "COLUMNS": str(columns),
               "PYTHONPATH": os.pathsep.join([str(ROOT / "sdk"), str(ROOT), os.environ.get("PYTHONPATH", "")])}
        out = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, env=env,
                             cwd=ROOT, timeout=120)
        assert out.returncode == 0, out.stderr
        assert "usage:" in out.stdout
        assert not [line for line in out.stdout.splitlines() if CUT.search(line)], (module, columns)
