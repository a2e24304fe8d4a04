"""Readers for the SentEval STS files: STS12-16, STS-B and SICK-R, as scored sentence pairs.

Files are read as UTF-8, falling back to latin-1 for the whole file when it is not valid
UTF-8 (SentEval itself reads TREC and the binary tasks as latin-1). Lines are split on
``\\n`` only (``\\r`` stripped) and every sentence is whitespace-normalised the way SentEval
tokenises and SimCSE's batcher re-joins it (``" ".join(s.split())``).

Each loader counts the scored pairs and raises :class:`DataFormatError` when the count
differs from the expected one, so nothing is dropped silently. Parsed files are cached in
a module-level dict keyed by (path, size, mtime), so that the trainer's frequent dev-mode
evaluations read each file once.

Example:
    >>> from simcse_sdk.evaluation.data.senteval import load_sts_task
    >>> subsets = load_sts_task("/data", "STS13")              # doctest: +SKIP
    >>> [(s.name, len(s)) for s in subsets]                    # doctest: +SKIP
    [('FNWN', 189), ('OnWN', 561), ('headlines', 750)]
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import DataDirError
from ..errors import DataFormatError
from .datadir import LAYOUT_HINT, senteval_dir

logger = logging.getLogger(__name__)

#: Folder of each STS year under ``<data-dir>/senteval/downstream/STS``.
STS_YEAR_FOLDERS: dict[str, str] = {
    "STS12": "STS12-en-test",
    "STS13": "STS13-en-test",
    "STS14": "STS14-en-test",
    "STS15": "STS15-en-test",
    "STS16": "STS16-en-test",
}

#: Scored pairs per (task, split), as released with SentEval.
EXPECTED_PAIRS: dict[tuple[str, str], int] = {
    ("STS12", "test"): 3108,
    ("STS13", "test"): 1500,
    ("STS14", "test"): 3750,
    ("STS15", "test"): 3000,
    ("STS16", "test"): 1186,
    ("STS-B", "train"): 5749,
    ("STS-B", "dev"): 1500,
    ("STS-B", "test"): 1379,
    ("SICK-R", "train"): 4500,
    ("SICK-R", "dev"): 500,
    ("SICK-R", "test"): 4927,
}

#: A data directory argument: a path, or ``None`` for ``$SIMCSE_DATA_DIR``.
DataDirArg = str | os.PathLike[str] | None

#: Expected pair counts keyed by ``(task, split)``; a missing key means "do not check".
Counts = Mapping[tuple[str, str], int]

_STSB_FILES = {"train": "sts-train.csv", "dev": "sts-dev.csv", "test": "sts-test.csv"}
_SICK_FILES = {"train": "SICK_train.txt", "dev": "SICK_trial.txt", "test": "SICK_test_annotated.txt"}

_CACHE: dict[tuple[str, ...], object] = {}


@dataclass(frozen=True)
class PairSet:
    """Scored sentence pairs: ``first[i]`` and ``second[i]`` with gold score ``gold[i]``."""

    name: str
    first: list[str]
    second: list[str]
    gold: np.ndarray

    def __len__(self) -> int:
        return len(self.gold)


def normalize_text(text: str) -> str:
    """Collapse runs of whitespace to one space and strip the ends, as SentEval's split/join does."""
    return " ".join(text.split())


def read_lines(path: Path) -> list[str]:
    """The lines of ``path`` (UTF-8, else latin-1), without line ends; no trailing empty line."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        logger.debug("%s is not valid UTF-8; reading it as latin-1", path)
        text = data.decode("latin-1")
    text = text.removeprefix("\ufeff")
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def task_dir(data_dir: DataDirArg, *parts: str) -> Path:
    """``<data-dir>/senteval/downstream/<parts...>``, raising :class:`DataDirError` if absent."""
    path = senteval_dir(data_dir).joinpath(*parts)
    if not path.is_dir():
        raise DataDirError(f"Task folder not found: looked for {str(path)!r}. {LAYOUT_HINT}")
    return path


def task_file(folder: Path, name: str) -> Path:
    """``folder/name``, raising :class:`DataDirError` if absent."""
    path = folder / name
    if not path.is_file():
        raise DataDirError(f"Data file not found: looked for {str(path)!r}. {LAYOUT_HINT}")
    return path


def check_count(what: str, got: int, expected: int | None) -> None:
    """Raise :class:`DataFormatError` unless ``got == expected`` (``None`` skips the check)."""
    if expected is not None and got != expected:
        raise DataFormatError(
            f"{what}: found {got} scored pairs, expected {expected}. The data differs from the "
            "SentEval release; refusing to score a partial or altered set."
        )


def _cache_key(*paths: Path) -> tuple[str, ...]:
    key: list[str] = []
    for p in paths:
        st = p.stat()
        key += [str(p.resolve()), str(st.st_size), str(st.st_mtime_ns)]
    return tuple(key)


def _parse_gold(value: str, where: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise DataFormatError(f"{where}: gold score {value!r} is not a number") from None


def read_sts_subset(folder: Path, name: str) -> PairSet:
    """Read ``STS.input.<name>.txt`` and ``STS.gs.<name>.txt``; pairs with a blank gold line are skipped."""
    input_path = task_file(folder, f"STS.input.{name}.txt")
    gold_path = task_file(folder, f"STS.gs.{name}.txt")
    key = ("sts", *_cache_key(input_path, gold_path))
    cached = _CACHE.get(key)
    if isinstance(cached, PairSet):
        return cached
    pairs = read_lines(input_path)
    golds = read_lines(gold_path)
    if len(pairs) != len(golds):
        raise DataFormatError(f"{input_path} has {len(pairs)} lines but {gold_path} has {len(golds)}")
    first: list[str] = []
    second: list[str] = []
    gold: list[float] = []
    for i, (pair, score) in enumerate(zip(pairs, golds, strict=True)):
        if not score.strip():
            continue
        cols = pair.split("\t")
        if len(cols) < 2:
            raise DataFormatError(f"{input_path}:{i + 1}: expected two tab-separated sentences")
        first.append(normalize_text(cols[0]))
        second.append(normalize_text(cols[1]))
        gold.append(_parse_gold(score.split("\t")[0].strip(), f"{gold_path}:{i + 1}"))
    result = PairSet(name, first, second, np.asarray(gold, dtype=np.float64))
    _CACHE[key] = result
    return result


def load_sts_task(data_dir: DataDirArg, task: str, expected: Counts = EXPECTED_PAIRS) -> list[PairSet]:
    """The subsets of one STS year (``STS12``..``STS16``), sorted by name.

    A subset is every ``STS.input.<name>.txt`` in the folder; gold files without an input
    file (STS13's licensed-away SMT, STS12's ``ALL``) are skipped. ``expected`` maps
    ``(task, split)`` to the scored-pair count to assert; a task absent from it is not checked.

    Raises:
        DataDirError: the folder, or a subset's gold file, is missing.
        DataFormatError: the total pair count is not the expected one.
    """
    folder = task_dir(data_dir, "STS", STS_YEAR_FOLDERS[task])
    names = sorted(p.name[len("STS.input.") : -len(".txt")] for p in folder.glob("STS.input.*.txt"))
    orphans = sorted(
        p.name
        for p in folder.glob("STS.gs.*.txt")
        if not (folder / p.name.replace(".gs.", ".input.")).exists()
    )
    if orphans:
        logger.debug("%s: skipping gold files without inputs: %s", task, ", ".join(orphans))
    subsets = [read_sts_subset(folder, name) for name in names]
    check_count(f"{task} in {folder}", sum(len(s) for s in subsets), expected.get((task, "test")))
    return subsets


def _read_columns(path: Path, first_col: int, second_col: int, gold_col: int, header: bool) -> PairSet:
    key = ("cols", *_cache_key(path), str((first_col, second_col, gold_col, header)))
    cached = _CACHE.get(key)
    if isinstance(cached, PairSet):
        return cached
    lines = read_lines(path)
    start = 1 if header else 0
    first: list[str] = []
    second: list[str] = []
    gold: list[float] = []
    need = max(first_col, second_col, gold_col) + 1
    for i, line in enumerate(lines[start:], start=start + 1):
        if not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) < need:
            raise DataFormatError(
                f"{path}:{i}: expected at least {need} tab-separated columns, got {len(cols)}"
            )
        first.append(normalize_text(cols[first_col]))
        second.append(normalize_text(cols[second_col]))
        gold.append(_parse_gold(cols[gold_col].strip(), f"{path}:{i}"))
    result = PairSet(path.name, first, second, np.asarray(gold, dtype=np.float64))
    _CACHE[key] = result
    return result


def load_stsb(data_dir: DataDirArg, split: str = "test", expected: Counts = EXPECTED_PAIRS) -> PairSet:
    """STS-B ``train|dev|test`` (SentEval's processed csv: gold in column 5, sentences in 6 and 7, 1-based)."""
    path = task_file(task_dir(data_dir, "STS", "STSBenchmark"), _STSB_FILES[split])
    pairs = _read_columns(path, 5, 6, 4, header=False)
    check_count(f"STS-B {split} ({path})", len(pairs), expected.get(("STS-B", split)))
    return pairs


def load_sick(data_dir: DataDirArg, split: str = "test", expected: Counts = EXPECTED_PAIRS) -> PairSet:
    """SICK-R ``train|dev|test`` (``dev`` is ``SICK_trial.txt``); columns found by the header row."""
    path = task_file(task_dir(data_dir, "SICK"), _SICK_FILES[split])
    header = read_lines(path)[:1]
    names = header[0].split("\t") if header else []
    missing = [c for c in ("sentence_A", "sentence_B", "relatedness_score") if c not in names]
    if missing:
        raise DataFormatError(f"{path}: header row lacks {missing}; found {names}")
    pairs = _read_columns(
        path,
        names.index("sentence_A"),
        names.index("sentence_B"),
        names.index("relatedness_score"),
        header=True,
    )
    check_count(f"SICK-R {split} ({path})", len(pairs), expected.get(("SICK-R", split)))
    return pairs


def load_pairs(
    data_dir: DataDirArg, task: str, split: str = "test", expected: Counts = EXPECTED_PAIRS
) -> list[PairSet]:
    """The subsets of any STS task: several for STS12-16, one for STS-B and SICK-R."""
    if task in STS_YEAR_FOLDERS:
        if split != "test":
            raise ValueError(f"{task} has only a test split")
        return load_sts_task(data_dir, task, expected)
    if task == "STS-B":
        return [load_stsb(data_dir, split, expected)]
    if task == "SICK-R":
        return [load_sick(data_dir, split, expected)]
    raise KeyError(task)
