"""simcse_sdk/inputs/help_format.py: help wraps at spaces, never inside a word at a hyphen (every command line's real
--help: tests/docs/test_hooks.py)."""

from __future__ import annotations

import argparse
import re

import pytest
from simcse_sdk.inputs.help_format import HelpFormat, RawDescriptionHelpFormat

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
