"""Argument checks of the evaluation entry points: bad values get an SDK error before any data is read.

Example:
    >>> check_evaluation_args(encode=len, data_dir=None, progress=True)
    >>> check_evaluation_args(encode="model", data_dir=None, progress=True)
    Traceback (most recent call last):
    ...
    simcse_sdk.errors.InputError: encode must be a function from a list of sentences to an (N, D) array, e.g. Encoder(...).encode; got str 'model'.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable

import numpy as np

from ..errors import InputError, InvalidArgumentError
from ..inputs.validation import check_flag, check_int
from .errors import TaskError

SPLITS = ("train", "dev", "test")


def check_evaluation_args(encode: object, data_dir: object, progress: object) -> None:
    """The arguments every entry point shares: ``encode``, ``data_dir`` and ``progress``."""
    if not callable(encode):
        raise InputError(
            "encode must be a function from a list of sentences to an (N, D) array, e.g. Encoder(...).encode; "
            f"got {type(encode).__name__} {encode!r:.40}."
        )
    if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
        raise InputError(
            f"data_dir must be a path (str or os.PathLike) or None for $SIMCSE_DATA_DIR; got {type(data_dir).__name__}."
        )
    check_flag(progress, "progress")


def check_tasks(tasks: object) -> list[str] | str | None:
    """``tasks`` as given (``None`` or a comma-separated str), or as a list of names (from any iterable)."""
    if tasks is None or isinstance(tasks, str):
        return tasks
    names = list(tasks) if isinstance(tasks, Iterable) else None
    if names is None or any(not isinstance(t, str) for t in names):
        raise InputError(f"tasks must be None, a comma-separated str or a list of task names (str); got {tasks!r:.60}.")
    return names


def check_split(split: object) -> str:
    if not isinstance(split, str) or split not in SPLITS:
        raise TaskError(f"Unknown split {split!r}; valid splits: {', '.join(SPLITS)}.")
    return split


def check_threshold(threshold: object) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.integer, np.floating)):
        raise InputError(f"threshold must be a number (a gold score, 0-5 on STS-B); got {type(threshold).__name__}.")
    if not math.isfinite(float(threshold)):
        raise InvalidArgumentError(f"threshold must be a finite gold score (0-5 on STS-B), got {threshold}.")
    return float(threshold)


def check_folds(seed: object, k: object, inner_k: object) -> None:
    check_int(seed, "seed", minimum=0)
    check_int(k, "k", minimum=2)
    check_int(inner_k, "inner_k", minimum=2)
