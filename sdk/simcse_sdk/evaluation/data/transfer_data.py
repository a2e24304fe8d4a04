"""Readers for SentEval's transfer (classification) tasks: MR, CR, SUBJ, MPQA, SST-2, TREC, MRPC.

Labels and file choices follow SentEval: the binary tasks label ``pos`` (SUBJ: ``objective``)
1 and ``neg`` 0 and keep blank lines as empty sentences (so CR has 3775 rows and MPQA 10606);
TREC maps its coarse classes ``ABBR, DESC, ENTY, HUM, LOC, NUM`` to 0..5; MRPC skips its
header row. Row counts are checked against SentEval's; files are read as in
:mod:`simcse_sdk.evaluation.data.senteval` (UTF-8, else latin-1; whitespace-normalised).

Example:
    >>> from simcse_sdk.evaluation.data.transfer_data import load_transfer
    >>> data = load_transfer("/data", "TREC")                       # doctest: +SKIP
    >>> len(data.train.first), len(data.test.first), data.n_classes  # doctest: +SKIP
    (5452, 500, 6)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import DataFormatError
from .senteval import DataDirArg, check_count, normalize_text, read_lines, task_dir, task_file

#: Rows per (task, split) in SentEval's release. The binary tasks have one split, ``all``.
EXPECTED_ROWS: dict[tuple[str, str], int] = {
    ("MR", "all"): 10662,
    ("CR", "all"): 3775,
    ("SUBJ", "all"): 10000,
    ("MPQA", "all"): 10606,
    ("SST2", "train"): 67349,
    ("SST2", "dev"): 872,
    ("SST2", "test"): 1821,
    ("TREC", "train"): 5452,
    ("TREC", "test"): 500,
    ("MRPC", "train"): 4076,
    ("MRPC", "test"): 1725,
}

_BINARY = {
    "MR": ("MR", "rt-polarity.pos", "rt-polarity.neg"),
    "CR": ("CR", "custrev.pos", "custrev.neg"),
    "SUBJ": ("SUBJ", "subj.objective", "subj.subjective"),
    "MPQA": ("MPQA", "mpqa.pos", "mpqa.neg"),
}
_TREC_CLASSES = ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")


@dataclass(frozen=True)
class Labelled:
    """Labelled rows: a sentence (``first``) or a sentence pair (``first``, ``second``) and a label."""

    first: list[str]
    labels: np.ndarray
    second: list[str] | None = None

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class TransferData:
    """A task's splits. Binary tasks have only ``train`` (cross-validated); others ``test`` too."""

    task: str
    n_classes: int
    train: Labelled
    test: Labelled | None = None
    dev: Labelled | None = None


def _count(
    task: str, split: str, rows: Labelled, where: str, expected: Mapping[tuple[str, str], int]
) -> Labelled:
    check_count(f"{task} {split} ({where})", len(rows), expected.get((task, split)))
    return rows


def _binary(data_dir: DataDirArg, task: str, expected: Mapping[tuple[str, str], int]) -> TransferData:
    folder_name, pos_name, neg_name = _BINARY[task]
    folder = task_dir(data_dir, folder_name)
    pos = [normalize_text(s) for s in read_lines(task_file(folder, pos_name))]
    neg = [normalize_text(s) for s in read_lines(task_file(folder, neg_name))]
    labels = np.array([1] * len(pos) + [0] * len(neg), dtype=np.int64)
    return TransferData(task, 2, _count(task, "all", Labelled(pos + neg, labels), str(folder), expected))


def _sst2_split(path_dir: DataDirArg, split: str, expected: Mapping[tuple[str, str], int]) -> Labelled:
    path = task_file(task_dir(path_dir, "SST", "binary"), f"sentiment-{split}")
    sents: list[str] = []
    labels: list[int] = []
    for i, line in enumerate(read_lines(path), start=1):
        cols = line.strip().split("\t")
        if len(cols) < 2 or cols[1].strip() not in ("0", "1"):
            raise DataFormatError(f"{path}:{i}: expected 'sentence<TAB>0|1'")
        sents.append(normalize_text(cols[0]))
        labels.append(int(cols[1]))
    return _count("SST2", split, Labelled(sents, np.array(labels, dtype=np.int64)), str(path), expected)


def _trec_split(
    data_dir: DataDirArg, name: str, split: str, expected: Mapping[tuple[str, str], int]
) -> Labelled:
    path = task_file(task_dir(data_dir, "TREC"), name)
    sents: list[str] = []
    labels: list[int] = []
    for i, line in enumerate(read_lines(path), start=1):
        target, _, rest = line.strip().partition(":")
        if target not in _TREC_CLASSES or " " not in rest:
            raise DataFormatError(f"{path}:{i}: expected 'CLASS:fine question', got {line[:40]!r}")
        sents.append(normalize_text(rest.split(" ", 1)[1]))
        labels.append(_TREC_CLASSES.index(target))
    return _count("TREC", split, Labelled(sents, np.array(labels, dtype=np.int64)), str(path), expected)


def _mrpc_split(
    data_dir: DataDirArg, name: str, split: str, expected: Mapping[tuple[str, str], int]
) -> Labelled:
    path = task_file(task_dir(data_dir, "MRPC"), name)
    first: list[str] = []
    second: list[str] = []
    labels: list[int] = []
    for i, line in enumerate(read_lines(path)[1:], start=2):
        cols = line.strip().split("\t")
        if len(cols) < 5 or cols[0] not in ("0", "1"):
            raise DataFormatError(f"{path}:{i}: expected 'label<TAB>id<TAB>id<TAB>sentence<TAB>sentence'")
        first.append(normalize_text(cols[3]))
        second.append(normalize_text(cols[4]))
        labels.append(int(cols[0]))
    rows = Labelled(first, np.array(labels, dtype=np.int64), second)
    return _count("MRPC", split, rows, str(path), expected)


def load_transfer(
    data_dir: DataDirArg, task: str, expected: Mapping[tuple[str, str], int] = EXPECTED_ROWS
) -> TransferData:
    """Load one transfer task by its canonical name (see :data:`~simcse_sdk.evaluation.tasks.TRANSFER_TASKS`).

    Raises:
        DataDirError: the task folder or a file is missing.
        DataFormatError: a row does not parse, or a row count differs from SentEval's.
    """
    if task in _BINARY:
        return _binary(data_dir, task, expected)
    if task == "SST2":
        return TransferData(
            task,
            2,
            train=_sst2_split(data_dir, "train", expected),
            dev=_sst2_split(data_dir, "dev", expected),
            test=_sst2_split(data_dir, "test", expected),
        )
    if task == "TREC":
        return TransferData(
            task,
            len(_TREC_CLASSES),
            train=_trec_split(data_dir, "train_5500.label", "train", expected),
            test=_trec_split(data_dir, "TREC_10.label", "test", expected),
        )
    if task == "MRPC":
        return TransferData(
            task,
            2,
            train=_mrpc_split(data_dir, "msr_paraphrase_train.txt", "train", expected),
            test=_mrpc_split(data_dir, "msr_paraphrase_test.txt", "test", expected),
        )
    raise KeyError(task)
