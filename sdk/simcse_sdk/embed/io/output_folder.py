"""What marks a folder as a simcse-embed output folder: its manifest's file name and format tag.

Both the manifest (which writes the file) and the input scan (which must not read another job's shards as a
corpus) need them; here they depend on nothing else.

Example:
    >>> is_output_folder(Path("embeddings/"))    # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
from pathlib import Path

NAME = "_manifest.json"
FORMAT = "simcse-embeddings"


def is_output_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a simcse-embed ``_manifest.json`` (read to check its format: a folder can hold a
    file of that name of another tool)."""
    path = folder / NAME
    if not path.is_file():
        return False
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("format") == FORMAT
