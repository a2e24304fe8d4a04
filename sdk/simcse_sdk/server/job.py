"""One request's inputs on their way through the :class:`~.batching.RequestBatcher` (a job, in pieces), and what it
gets back.

Example:
    >>> job = batcher.submit(texts=["hello"], token_ids=None, truncate=True)  # doctest: +SKIP
    >>> result = await job.future                                              # doctest: +SKIP
    >>> result.embeddings.shape, result.prompt_tokens                          # doctest: +SKIP
    ((1, 384), 3)
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

T = TypeVar("T")


class Overloaded(Exception):
    """The queue holds ``max_queue`` inputs already."""


class TooLong(Exception):
    """An input (``index``, of ``tokens`` tokens) is longer than the model and truncation is off."""

    def __init__(self, index: int, max_tokens: int, tokens: int) -> None:
        super().__init__(index, max_tokens, tokens)
        self.index, self.max_tokens, self.tokens = index, max_tokens, tokens


@dataclass
class Result:
    """What one request gets back."""

    embeddings: np.ndarray  # (n, dim) float32, in the request's input order
    prompt_tokens: int  # real tokens the model read, special tokens included
    truncated: int  # inputs cut to the model's max length
    queue_s: float  # from admission to the start of its first round
    inference_s: float  # tokenise + embed time of the rounds that computed it


@dataclass(repr=False)  # its texts stay out of logs and tracebacks
class Job:
    """One request's inputs, filled piece by piece."""

    texts: list[str] | None  # the inputs as text, or
    token_ids: list[np.ndarray] | None  # as token ids
    truncate: bool  # cut long inputs (else TooLong)
    future: asyncio.Future[Result]
    out: np.ndarray  # (n, dim) float32, rows written as pieces finish
    pending: int = 0  # pieces not finished yet
    tokens: int = 0
    truncated: int = 0
    admitted: float = field(default_factory=time.perf_counter)
    started: float | None = None
    inference_s: float = 0.0
    cancelled: bool = False
    order: np.ndarray | None = None  # its inputs in the order its pieces take them (by length), None: as given

    @property
    def size(self) -> int:
        return len(self.out)

    @property
    def skip(self) -> bool:
        return self.cancelled or self.future.done()


# What a piece gets from its round: (rows (n, dim), tokens, inputs truncated), or the error to answer with.
Outcome = tuple[np.ndarray, int, int] | BaseException


@dataclass(repr=False)  # a piece's repr would hold its request's texts (logged with any error)
class Piece:
    """Rows [start, end) of a job: at most a batch of its inputs, what the batcher's rounds take."""

    job: Job
    start: int  # [start, end) of the job's inputs, in the job's ``order``
    end: int

    @property
    def rows(self) -> slice | np.ndarray:
        """Which of the job's inputs (rows of its answer) this piece holds."""
        return slice(self.start, self.end) if self.job.order is None else self.job.order[self.start : self.end]

    def inputs(self, items: list[T]) -> list[T]:
        """This piece's share of ``items`` (the job's texts or token ids, as given)."""
        order = self.job.order
        return items[self.start : self.end] if order is None else [items[i] for i in order[self.start : self.end]]

    def index(self, k: int) -> int:
        """The job's input index of this piece's k-th input."""
        return self.start + k if self.job.order is None else int(self.job.order[self.start + k])

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def whole(self) -> bool:
        """Whether it holds all of its job's inputs (a request of one piece: a query, a few sentences)."""
        return self.size == self.job.size
