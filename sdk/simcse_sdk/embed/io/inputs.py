"""Input files: paths, globs and folders resolved to a sorted list of files with a format each.

Formats come from the extension (``.txt`` text, one text a line; ``.jsonl``/``.ndjson``; ``.csv``;
``.tsv``; ``.parquet``) unless the job names one. The list's order is the job's row order, so
the same command always yields the same shards.

Example:
    >>> from simcse_sdk.embed.io.inputs import resolve_inputs
    >>> files = resolve_inputs(["corpus/*.jsonl", "extra.txt"])    # doctest: +SKIP
    >>> [(f.path, f.format) for f in files]                       # doctest: +SKIP
    [('corpus/a.jsonl', 'jsonl'), ('corpus/b.jsonl', 'jsonl'), ('extra.txt', 'text')]
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import CorpusFileNotFoundError, CorpusInputError, flag
from .output_folder import is_output_folder

logger = logging.getLogger(__name__)

EXTENSIONS = {
    ".txt": "text",
    ".text": "text",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class InputFile:
    """One input file as the job saw it when it planned the shards."""

    path: str  # as given or as the glob/folder expanded it (ids use this string)
    format: str  # text | jsonl | csv | tsv | parquet
    bytes: int  # size when planned; a resumed job checks it is unchanged
    mtime_ns: int  # modification time when planned; checked like the size

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_inputs(args: Sequence[str | os.PathLike[str]], fmt: str | None = None,
                   exclude: str | os.PathLike[str] | None = None) -> list[InputFile]:
    """Expand paths, globs (``**`` recurses) and folders into input files, in a stable order.

    A folder contributes every file with a known extension below it, sorted; a glob its sorted
    matches; the arguments' own order is kept. Folders and globs leave out (with a log line) the files of output
    folders: ``exclude`` (the job's own ``--out``, which may lie inside an input folder) and any folder holding a
    simcse-embed ``_manifest.json`` (another job's shards are not a corpus); a file named inside ``exclude`` is
    refused. Raises :class:`CorpusFileNotFoundError` for a path that does not exist or a glob/folder without input
    files, and :class:`CorpusInputError` for an empty file or one whose format cannot be told from its name.
    """
    if not args:
        raise CorpusFileNotFoundError("No inputs given: pass text, JSONL, CSV or Parquet files, globs or folders.")
    paths: list[tuple[str, bool]] = []  # (path, found by a folder scan or a glob)
    for arg in args:
        text = os.fspath(arg)
        if GLOB_CHARS & set(text):
            found = sorted(p for p in glob.glob(text, recursive=True) if os.path.isfile(p))
            if not found:
                raise CorpusFileNotFoundError(f"Input glob {text!r} matches no file: check the pattern and the folder.")
            paths += [(p, True) for p in found]
        elif os.path.isdir(text):
            found = sorted(
                str(p) for p in Path(text).rglob("*")
                if p.is_file() and p.suffix.lower() in EXTENSIONS and not p.name.startswith((".", "_"))
            )
            if not found:
                raise CorpusFileNotFoundError(
                    f"Input folder {text!r} holds no input file (extensions {', '.join(sorted(EXTENSIONS))}): "
                    "point at the files, or name them with a glob."
                )
            paths += [(p, True) for p in found]
        elif os.path.isfile(text):
            paths.append((text, False))
        else:
            raise CorpusFileNotFoundError(f"Input file {text!r} does not exist: check the path (relative to {os.getcwd()}).")
    out = os.path.realpath(exclude) if exclude is not None else None
    outputs = _OutputFolders(out)
    seen: set[str] = set()
    files = []
    for p, scanned in paths:
        key = os.path.realpath(p)
        if out is not None and key.startswith(os.path.join(out, "")) and not scanned:
            raise CorpusInputError(f"Input file {p!r} is inside the output folder {str(exclude)!r}: pass "
                                   f"another {flag('--out')}, or move the file.")
        if scanned and outputs.holds(p):  # the job's own shards on a rerun, or another job's: not a corpus
            continue
        if key in seen:  # the same file named twice would embed its rows twice
            continue
        seen.add(key)
        files.append(_describe(p, fmt))
    if not files:
        raise CorpusFileNotFoundError(
            f"Every input file is in an output folder ({', '.join(map(repr, outputs.skipped[:3]))}: this job's "
            f"{flag('--out')}, or another simcse-embed job's, which holds its _manifest.json), and shards are not a "
            f"corpus: pass the corpus's files or folders, and an {flag('--out')} outside them."
        )
    return files


class _OutputFolders:
    """Which scanned files lie in an output folder: the job's own (``out``, a real path) or any folder holding a
    simcse-embed ``_manifest.json``; each folder left out is logged once."""

    def __init__(self, out: str | None) -> None:
        self.out = out
        self.known: dict[str, bool] = {}  # folder -> is an output folder
        self.skipped: list[str] = []  # the output folders met, in order

    def holds(self, path: str) -> bool:
        return any(self._is_output(d) for d in Path(path).parents)

    def _is_output(self, folder: Path) -> bool:
        key = str(folder)
        if key not in self.known:
            real = os.path.realpath(folder)
            own = self.out is not None and real == self.out
            self.known[key] = own or is_output_folder(folder)
            if self.known[key]:
                self.skipped.append(key)
                logger.info("not reading %s as input: it is %s", key, "this job's --out" if own else
                            "a simcse-embed output folder (it holds _manifest.json), not a corpus")
        return self.known[key]


def _describe(path: str, fmt: str | None) -> InputFile:
    st = os.stat(path)
    if st.st_size == 0:
        raise CorpusInputError(f"Input file {path!r} is empty (0 bytes): remove it from the inputs, or fill it.")
    if fmt is None:
        fmt = EXTENSIONS.get(Path(path).suffix.lower())
        if fmt is None:
            raise CorpusInputError(
                f"Cannot tell the format of {path!r} from its extension: rename it (.txt, .jsonl, .csv, .tsv, "
                ".parquet) or pass --format text|jsonl|csv|tsv|parquet (format='text' ... in Python)."
            )
    return InputFile(path=path, format=fmt, bytes=st.st_size, mtime_ns=st.st_mtime_ns)
