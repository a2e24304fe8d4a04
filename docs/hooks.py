"""MkDocs hook: ``{{ help: MODULE }}`` in a page becomes that command line's ``--help``, as the code prints it."""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import re

PATTERN = re.compile(r"\{\{ help: ([\w.]+) \}\}")


def _help(module: str) -> str:
    main = importlib.import_module(module)
    build = getattr(main, "parser", None) or getattr(main, "build_parser", None)
    if build is not None:
        return build().format_help()
    out = io.StringIO()  # a main() that builds its parser inside: run it with --help
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        main.main(["--help"])
    return out.getvalue()


def on_page_markdown(markdown: str, **kwargs: object) -> str:
    os.environ.setdefault("COLUMNS", "110")  # argparse wraps to the terminal's width: the same on every machine
    return PATTERN.sub(lambda m: _help(m.group(1)).rstrip(), markdown)
