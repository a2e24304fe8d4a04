"""The sentences a static int8 recipe calibrates on (onnxruntime's and OpenVINO's), found before any work starts.

In order: ``--calibration FILE``; the file the checkpoint was trained on (``simcse.json``'s ``data.path``, when
it is here with the recorded sha256); the data directory's Wikipedia sentences.

Example:
    >>> calibration_file(src, given="sents.txt", data_dir=None, recipe="static-smooth")  # doctest: +SKIP
    PosixPath('sents.txt')
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from simcse_sdk.model.manifest import sha256_file

from trainer.data import resolve_data_file
from trainer.datafile import read_csv_rows, read_sentences
from trainer.errors import DataError

from .source import Source

logger = logging.getLogger(__name__)


def calibration_file(source: Source, given: str | None, data_dir: str | None, recipe: str) -> Path:
    """The sentences static int8 recipe ``recipe`` calibrates on; checked before any work starts.

    In order: ``given`` (``--calibration FILE``); the file the checkpoint was trained on (``simcse.json``'s
    ``data.path``, when it is here with the recorded sha256); ``data_dir``'s Wikipedia sentences.
    """
    path = Path(given) if given else training_file(source)
    if path is None and data_dir is not None:
        try:
            path = resolve_data_file("wiki", data_dir)
        except DataError:
            path = None
    if path is None or not path.is_file():
        raise ValueError(
            f"int8 recipe {recipe!r} calibrates activation scales on sentences, but "
            + (f"--calibration {str(path)!r} is not a file" if path else
               "none were given, the checkpoint records no training file that exists here, and no --data-dir "
               "with train/wiki1m_prefix.txt was found")
            + ": pass --calibration FILE (a few hundred in-domain sentences, one a line), or --data-dir, "
            "or choose a dynamic recipe that needs none, e.g. --int8-recipe per-channel."
        )
    where = f"--calibration {str(path)!r}" if given else f"calibration file {str(path)!r}"
    try:  # read now, not after the graph is built
        found = calibration_sentences(path)
    except (DataError, UnicodeDecodeError) as e:
        raise ValueError(f"{where}: {e}. {FORMATS}") from e
    if not found:
        raise ValueError(f"{where} holds no sentences. {FORMATS}")
    return path


FORMATS = ("Calibration reads a text file of sentences, one a line, or a .csv/.tsv with the header sent0,sent1 "
           "or sent0,sent1,hard_neg (its sent0 column); pass --calibration FILE in one of these formats.")


def openvino_calibration(source: Source, calibration: Path | None, given: str | None, data_dir: str | None,
                         recipe: str) -> Path | None:
    """ov-int8's calibration file: ``calibration`` (onnxruntime's static int8 sentences) if any, else found as
    :func:`calibration_file` finds it; None (logged): no ov-int8."""
    try:
        return calibration or calibration_file(source, given, data_dir, recipe)
    except ValueError as e:
        logger.warning("no ov-int8 variant: %s", e)
        return None


def training_file(source: Source) -> Path | None:
    """The training data file recorded in the checkpoint's simcse.json, if it is on this machine unchanged."""
    data = source.metadata.get("data") or {}
    recorded = data.get("path")
    if not recorded:
        return None
    if not Path(recorded).is_file():
        logger.info("the checkpoint was trained on %s, which is not here: not calibrating on it", recorded)
        return None
    if data.get("sha256") and sha256_file(Path(recorded)) != data["sha256"]:
        logger.info("%s changed since training (sha256 differs): not calibrating on it", recorded)
        return None
    return Path(recorded)


def calibration_sentences(path: Path, limit: int = 512) -> list[str]:
    """The first ``limit`` sentences of a training-format file: one a line, or a CSV/TSV in SimCSE's NLI format
    (its premises, ``sent0``), read by the trainer's own readers. The file is read once a process: the export checks
    it first, then its int8, OpenVINO and output-scale steps each ask for it."""
    return list(_read_head(path, limit))


@functools.lru_cache(maxsize=4)
def _read_head(path: Path, limit: int) -> tuple[str, ...]:
    if path.suffix.lower() in (".csv", ".tsv"):
        return tuple(row[0] for row in read_csv_rows(path)[0][:limit])
    return tuple(read_sentences(path)[0][:limit])
