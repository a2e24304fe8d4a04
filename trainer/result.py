"""What a finished training run reports: :class:`TrainResult`, also written as the log's ``end`` record.

Example:
    >>> result = train(cfg)                       # doctest: +SKIP
    >>> result.steps, round(result.it_per_s, 1)   # doctest: +SKIP
    (125, 3.2)
"""

from __future__ import annotations

import logging
import resource
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .runlog import RunLog

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a finished run reports (also written as the log's ``end`` record)."""

    run_dir: Path  # holds best/, last/ and log.jsonl
    steps: int  # optimizer steps done in total
    best_dev: dict[str, Any] | None  # dev scores of best/ (None without evaluation)
    last_loss: float  # loss of the last step
    wall_s: float  # seconds this process ran (this session, after a resume)
    it_per_s: float  # this session's steps over its own training time (evaluation, saving excluded)
    peak_memory_bytes: int  # torch.cuda.max_memory_allocated on CUDA, else the process's peak RSS


def peak_memory(device: torch.device) -> int:
    """torch.cuda.max_memory_allocated on CUDA, else the process's peak resident memory, in bytes."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux reports KiB


def finish(result: TrainResult, log: RunLog | None, steps_run: int, train_s: float, where: dict[str, Any], *,
           train_s_all_sessions: float) -> None:
    """Write the ``end`` record (rank 0) and log the summary line. ``steps_run`` and ``train_s`` are this session's
    (``it_per_s`` is their ratio); ``train_s_all_sessions`` adds the training time of the sessions before a resume."""
    if log is not None:
        log.write(
            "end",
            step=result.steps,
            steps_this_session=steps_run,
            wall_s=round(result.wall_s, 2),
            train_s=round(train_s, 2),
            train_s_all_sessions=round(train_s_all_sessions, 2),
            it_per_s=round(result.it_per_s, 3),
            peak_memory_bytes=result.peak_memory_bytes,
            best_dev=result.best_dev,
            **where,
        )
        log.close()
    kind = "torch.cuda.max_memory_allocated" if where.get("device", "").startswith("cuda") else "peak RSS"
    logger.info(
        "done: %d steps, %.1f s wall, %.2f it/s (training only), peak memory %.1f MiB (%s)",
        result.steps,
        result.wall_s,
        result.it_per_s,
        result.peak_memory_bytes / 2**20,
        kind,
    )
