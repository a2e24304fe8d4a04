"""MkDocs hooks that write text from the code, so it cannot drift.

- ``{{ help: MODULE }}`` in a page becomes that command line's ``--help``, as the code prints it;
- ``{{ errors }}`` becomes the table of every :class:`simcse_sdk.SimcseError` class: those of
  ``simcse_sdk.errors`` and of each room's own ``errors`` module, with the builtin each also derives and its
  docstring.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import io
import os
import pkgutil
import re

PATTERN = re.compile(r"\{\{ help: ([\w.]+) \}\}")
ERRORS = "{{ errors }}"


def _help(module: str) -> str:
    main = importlib.import_module(module)
    build = getattr(main, "parser", None) or getattr(main, "build_parser", None)
    if build is not None:
        return build().format_help()
    out = io.StringIO()  # a main() that builds its parser inside: run it with --help
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main.main(["--help"])
    return out.getvalue()


def error_classes() -> list[tuple[str, type]]:
    """(module, class) of every SimcseError subclass defined in simcse_sdk.errors or a ``*.errors`` module below it."""
    import simcse_sdk
    from simcse_sdk.errors import SimcseError

    names = ["simcse_sdk.errors"] + sorted(
        m.name for m in pkgutil.walk_packages(simcse_sdk.__path__, "simcse_sdk.") if m.name.endswith(".errors")
        and m.name != "simcse_sdk.errors")
    found = []
    for name in names:
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, SimcseError) and cls.__module__ == name:
                found.append((name, cls))
    return found


def _errors_table() -> str:
    from simcse_sdk.errors import SimcseError

    rows = ["| class | import from | builtin | raised for |", "|---|---|---|---|"]
    for module, cls in error_classes():
        builtin = ", ".join(f"`{b.__name__}`" for b in cls.__bases__ if b is not SimcseError) or "-"
        doc = " ".join((inspect.getdoc(cls) or "").split("\n\n")[0].split()).replace("|", "\\|")
        rows.append(f"| `{cls.__name__}` | `{module}` | {builtin} | {doc} |")
    return "\n".join(rows)


def on_page_markdown(markdown: str, **kwargs: object) -> str:
    os.environ.setdefault("COLUMNS", "110")  # argparse wraps to the terminal's width: the same on every machine
    if ERRORS in markdown:
        markdown = markdown.replace(ERRORS, _errors_table())
    return PATTERN.sub(lambda m: _help(m.group(1)).rstrip(), markdown)
