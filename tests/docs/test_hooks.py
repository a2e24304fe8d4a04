"""The docs' generated text: the errors page lists every error class the SDK defines, each with its builtin."""

from __future__ import annotations

import importlib
import pkgutil
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "docs"))
import hooks  # noqa: E402


def all_error_classes() -> set[type]:
    """Every SimcseError subclass defined anywhere in simcse_sdk (each module imported)."""
    import simcse_sdk
    from simcse_sdk.errors import SimcseError

    for m in pkgutil.walk_packages(simcse_sdk.__path__, "simcse_sdk."):
        try:
            importlib.import_module(m.name)
        except ImportError:  # an extra this environment lacks: its classes cannot be listed either
            continue
    found, todo = set(), [SimcseError]
    while todo:
        cls = todo.pop()
        found.add(cls)
        todo += [c for c in cls.__subclasses__() if c.__module__.startswith("simcse_sdk")]
    return found


@pytest.fixture(autouse=True)
def columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "110")  # the hook sets it for the docs build; not for the rest of the tests


def test_the_errors_table_lists_every_error_class_with_its_builtin() -> None:
    from simcse_sdk.errors import SimcseError

    listed = {cls for _, cls in hooks.error_classes()}
    assert listed == all_error_classes()  # a class outside an errors module would be missing from the page
    for cls in listed - {SimcseError}:
        assert any(b is not SimcseError and issubclass(b, Exception) for b in cls.__bases__), cls
        assert cls.__doc__, f"{cls.__name__} needs a docstring: it is the page's 'raised for'"
    table = hooks.on_page_markdown("{{ errors }}")
    assert "| `OutputPathError` | `simcse_sdk.embed.errors` | `OSError` |" in table
    assert table.count("\n") == len(listed) + 1


@pytest.mark.parametrize("module", ["simcse_sdk.embed", "simcse_sdk.evaluation"])
def test_the_help_of_each_command_line_is_written_into_the_page(module: str) -> None:
    text = hooks.on_page_markdown(f"{{{{ help: {module}.__main__ }}}}")
    assert text.startswith("usage:") and "--help" in text


@pytest.mark.parametrize("module", ["simcse_sdk.server", "simcse_sdk.embed", "simcse_sdk.evaluation", "trainer",
                                    "export"])
def test_no_command_lines_help_cuts_a_word_at_its_hyphen(module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """simcse_sdk/inputs/help_format.py in each command line: argparse cut "ov-", "tab-", "--no-", "per-",
    "sentence-" and "docs/serving-" across two lines."""
    for columns in (60, 80, 100):  # each cut a word of one command line or another before
        monkeypatch.setenv("COLUMNS", str(columns))
        text = hooks._help(f"{module}.__main__")
        assert "usage:" in text
        assert not [line for line in text.splitlines() if re.search(r"\w-$", line)], (module, columns)
