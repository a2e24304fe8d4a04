"""Keeping a run's checkpoints: dev evaluation with ``best/``, and the resumable ``last/``.

:class:`Keeper` holds what a save needs (model, tokenizer, optimizer state, data hash, the resolved
config) so the training loop calls one line per event: ``keeper.evaluate(step)`` scores STS-B dev on
rank 0 and writes ``best/`` on a new best Spearman; ``keeper.save_last(step, dev, train_s)`` writes
``last/`` with the optimizer, scheduler, scaler and every process's RNG state for ``--resume``.

Example:
    >>> keeper = Keeper(run_dir, cfg, data, order, model, tokenizer, encode, log, opt_state)  # doctest: +SKIP
    >>> keeper.evaluate(125)["stsb"]                                                        # doctest: +SKIP
    76.3
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import distributed
from .checkpoint import build_meta, save_checkpoint
from .config import TrainConfig
from .data import BatchOrder, TrainData
from .errors import Stopped
from .evaluate import Encode
from .matryoshka import dev_scores_by_size, selection_score
from .model import SimCSEModel
from .rng import rng_state
from .runlog import RunLog
from .st_files import st_unsupported

logger = logging.getLogger(__name__)


@dataclass
class OptimState:
    """The optimisation objects whose state ``last/`` keeps."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler


class Keeper:
    """Writes ``best/`` and ``last/`` of one run (rank 0 writes; every process joins the barriers)."""

    def __init__(
        self,
        run_dir: Path,
        cfg: TrainConfig,
        data: TrainData,
        order: BatchOrder,
        model: SimCSEModel,
        tokenizer: Any,
        encode: Encode,
        log: RunLog | None,
        optim: OptimState,
        best: dict[str, Any] | None = None,
        max_seq_length: int = 512,
    ) -> None:
        self.run_dir = run_dir  # holds best/, last/ and log.jsonl
        self.cfg = cfg  # the resolved config, saved in every checkpoint
        self.data = data
        self.order = order
        self.model = model
        self.tokenizer = tokenizer
        self.encode = encode  # embeds sentences with the inference pooler, for the dev scores
        self.log = log  # None on processes other than rank 0
        self.optim = optim
        self.best = best  # dev scores (and step) of best/, None before the first evaluation
        self.max_seq_length = max_seq_length  # the serving length, read once at the start: saved in every simcse.json
        unsupported = st_unsupported(cfg.inference_pooler)
        if unsupported and self.main:
            logger.warning("%s", unsupported)

    @property
    def main(self) -> bool:
        return self.log is not None

    def meta(self, at_step: int, dev: dict[str, Any]) -> dict[str, Any]:
        return build_meta(cfg_dict=self.cfg.to_dict(), data_path=str(self.data.path), data_sha256=self.data.sha256,
                          step=at_step, dev=dev, max_seq_length=self.max_seq_length)

    def evaluate(self, at_step: int) -> dict[str, Any]:
        """Dev scores on rank 0 (at the serving length, as recorded with them); a new best STS-B dev Spearman is
        saved to best/. A NaN score (a collapsed model) is worse than any: it is warned about and never best."""
        scores: dict[str, Any] = {}
        if self.log is not None:
            # with Matryoshka: at each trained size too
            scores = {**dev_scores_by_size(self.encode, self.cfg), "max_len": self.max_seq_length}
            score = selection_score(scores, self.cfg)
            if not math.isfinite(score):
                logger.warning("step %d: the STS-B dev evaluation gave %s (the vectors are degenerate, e.g. after a "
                               "too high --lr): not a best/ candidate", at_step, score)
            is_best = math.isfinite(score) and (self.best is None or score > self._best_score())
            self.log.write("eval", step=at_step, **scores, best=is_best)
            if is_best:
                self.best = {**scores, "step": at_step}
                save_checkpoint(self.run_dir / "best", self.model, self.tokenizer, self.meta(at_step, scores))
        distributed.barrier()
        return scores

    def _best_score(self) -> float:
        score = selection_score(self.best, self.cfg) if self.best is not None else -math.inf
        return score if math.isfinite(score) else -math.inf  # a NaN best/ an older version kept is beaten by any

    def save_last(self, at_step: int, last_dev: dict[str, Any], train_s: float) -> None:
        """The resumable state in last/ (RNG of every process gathered to rank 0)."""
        rngs = distributed.gather_objects(rng_state())
        if self.log is not None:
            head = self.model.mlm_head
            training_state = {
                "step": at_step,
                "epoch": self.order.epoch_of(max(at_step - 1, 0)),
                "batch_in_epoch": at_step % self.order.steps_per_epoch,
                "best_dev": self.best,
                "train_seconds": train_s,
                "data_sha256": self.data.sha256,
                "examples": len(self.data.examples),  # checked on resume: the same file read by other rules differs
                "rng": rngs,
                "optimizer": self.optim.optimizer.state_dict(),
                "scheduler": self.optim.scheduler.state_dict(),
                "scaler": self.optim.scaler.state_dict(),
                "mlm_head": head.state_dict() if head is not None else None,
            }
            save_checkpoint(self.run_dir / "last", self.model, self.tokenizer, self.meta(at_step, last_dev),
                            training_state)
        distributed.barrier()

    def stop(self, at_step: int, total: int, last_dev: dict[str, Any], train_s: float, saved: bool,
             reason: str) -> None:
        """Asked to stop (SIGTERM, Ctrl-C) after ``at_step``: save last/ unless this step was saved, then raise."""
        if not saved:
            self.save_last(at_step, last_dev, train_s)
        if self.log is not None:
            self.log.write("stopped", step=at_step, reason=reason)
        raise Stopped(at_step, total, str(self.run_dir), reason)
