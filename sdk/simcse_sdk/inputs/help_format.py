"""How the command lines' ``--help`` wraps: at spaces only, never inside a word (at a hyphen, or a long one).

argparse's own formatters wrap at hyphens too, so a value, flag or path in a help text (``ov-bf16``,
``--no-hard-neg``, ``docs/serving-performance.md``) could be cut across two lines: ``simcse-serve --help`` read
"(docs/serving-" and "performance.md)", which no one can copy. Every command line of the project (``simcse-serve``,
``simcse-embed``, ``python -m simcse_sdk.evaluation``, ``python -m trainer``, ``python -m export``) uses one of these.

Example:
    >>> p = argparse.ArgumentParser(prog="demo", formatter_class=HelpFormat)
    >>> _ = p.add_argument("--variant", help="one of fp32, fp16, int8, ov-fp32, ov-bf16, ov-int8")
"""

from __future__ import annotations

import argparse
import textwrap


def _at_spaces(text: str, width: int) -> list[str]:
    return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False, break_long_words=False)


class _FlagHelpAtSpaces(argparse.HelpFormatter):
    """Flag help wrapped at spaces only (the description as the class after it in the MRO fills it)."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return _at_spaces(text, width)


class HelpFormat(_FlagHelpAtSpaces):
    """argparse's default format (description and flag help filled to the terminal), wrapped at spaces only."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n".join(indent + line for line in _at_spaces(text, width - len(indent)))


class RawDescriptionHelpFormat(_FlagHelpAtSpaces, argparse.RawDescriptionHelpFormatter):
    """The description and epilog as written (line breaks kept); flag help wrapped at spaces only."""
