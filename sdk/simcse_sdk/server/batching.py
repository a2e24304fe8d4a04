"""Batching across requests: inputs of all waiting requests run together, without waiting on a timer.

A request's inputs are admitted as pieces of at most ``batch_size`` inputs (sorted by length first). A round takes
waiting pieces, one of each request in turn and at most one a thread from each (up to ``ROUND_BATCHES`` batches a
thread in all; while every running round holds a big request's pieces, a round of small ones starts beside them,
and small ones taken with a big one's pieces run apart, not queued behind its batches), tokenises their texts in
one call and embeds them with :meth:`Encoder.encode_ids` (sorted by length, each batch padded to its own longest,
batches side by side on single-thread sessions) on a round thread, off the event loop. The next round starts as
soon as a thread is free (``on_idle``), or at once when a full batch waits, up to ``parallelism`` rounds at once
(and one of small requests beside big ones). A round of one short input while the server holds no other runs on
the event loop's own thread: handing it to an idle thread cost 0.3-0.5 ms of a 1.4 ms sentence on a 2-core VM (one
client's p50 2.41 -> 1.79 ms).

Admission is bounded: past ``max_queue`` admitted inputs a request is refused at once (the app
answers 429). A request whose client went away is skipped, not computed.

Example:
    >>> batcher = RequestBatcher(encoder, batch_size=32, max_batch_tokens=8192, max_queue=4096)  # doctest: +SKIP
    >>> job = batcher.submit(texts=["hello"], token_ids=None, truncate=True)                       # doctest: +SKIP
    >>> (await job.future).embeddings.shape                                                       # doctest: +SKIP
    (1, 384)
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..encoder import Encoder
from ..inputs.batching import Batch
from .job import Job, Outcome, Overloaded, Piece, Result
from .metrics import Metrics
from .round import compute
from .truncation import Truncation
from .waiting import WaitingLine

logger = logging.getLogger(__name__)

# A worker's round holds at most this many batches' worth of inputs: sorting more inputs by length pads less (STS-B
# sentences, 32-sentence requests: 1,971 vs 1,341 sentences/s with one batch a round).
ROUND_BATCHES = 4

# A lone input runs on the event loop only up to this many characters (token ids: up to the model's max length): any
# sentence or query (0.6 ms to tokenise 2,048 here); a longer one's round takes long enough that a thread's hand-off
# costs little. A 7 MB text, tokenised whole, held the loop and /health for 4-6 s (now a long text's start only).
INLINE_MAX_CHARS = 2048
# A lone input may run on all threads (spinning: runtimes/solo.py) after this many lone rounds in a row: one client or
# two. With more clients their requests need the other core meanwhile (2-core AMD EPYC, int8, one sentence a request,
# spinning at every lone round against never: 2 clients +62 %, 4 clients -10 %, 8 clients -14 % sentences/s).
LONE_ROUNDS = 8


@dataclass(eq=False)  # compared by identity: two rounds in the same state are still two rounds
class _Round:
    """A round on a round thread."""

    pieces: list[Piece]  # what it computes
    tail: bool = False  # its last batches run, or it runs none on the worker pool (it still counts among the rounds)
    big: bool = False  # holds a piece of a request of several pieces
    pooled: bool = True  # its batches run on the worker pool (False: at once on its own thread, one such at a time)


class RequestBatcher:
    """Admits requests and runs their inputs in rounds, batching all that wait; a round starts when a thread is free."""

    def __init__(self, encoder: Encoder, batch_size: int, max_batch_tokens: int, max_queue: int,
                 metrics: Metrics | None = None, lone_spin: bool = True) -> None:
        self.encoder = encoder
        self.batch_size, self.max_batch_tokens, self.max_queue = batch_size, max_batch_tokens, max_queue
        self.metrics = metrics
        self.dim = encoder.dim
        self.cut = Truncation(encoder)
        self.max_len = self.cut.max_len
        self.round_inputs = ROUND_BATCHES * batch_size * encoder.parallelism  # most inputs in one round
        self.queued = 0  # inputs admitted and not yet answered
        self._line = WaitingLine()  # admitted, not started
        self._wake: asyncio.Event | None = None  # set when pieces arrive
        self._task: asyncio.Task[None] | None = None
        self.max_rounds = max(1, encoder.parallelism)  # rounds at once (each can keep one thread busy)
        self._rounds: list[_Round] = []  # running on the pool
        self._pool = ThreadPoolExecutor(self.max_rounds + 1, thread_name_prefix="simcse-round")  # + one off the pool
        self._abandoned: BaseException | None = None  # set when stopping: every unanswered request gets it
        self._lone_rounds = 0  # rounds in a row that were a lone input's, on the event loop
        self.lone_spin = lone_spin  # whether those may run on all threads (not with --workers: each process would)

    def start(self) -> None:
        """Start the worker task on the running event loop."""
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._worker(), name="simcse-worker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._pool.shutdown(wait=True)

    def submit(self, texts: list[str] | None, token_ids: list[np.ndarray] | None, truncate: bool) -> Job:
        """Admit a request's inputs (raises :class:`Overloaded` at once when the queue is full)."""
        n = len(texts if texts is not None else token_ids or [])
        if self.queued + n > self.max_queue:
            raise Overloaded()
        assert self._wake is not None, "RequestBatcher.start() was not called"
        job = Job(texts, token_ids, truncate, asyncio.get_running_loop().create_future(),
                  np.empty((n, self.dim), dtype=np.float32))
        if n > self.batch_size:  # its pieces by length (characters, ids): one piece pads little, alone in a round
            job.order = np.argsort([len(x) for x in (texts if texts is not None else token_ids or [])], kind="stable")
        pieces = [Piece(job, start, min(n, start + self.batch_size)) for start in range(0, n, self.batch_size)]
        job.pending = len(pieces)
        self._line.add(pieces)
        self._set_queued(self.queued + n)
        self._wake.set()
        return job

    def abandon(self, error: BaseException) -> int:
        """Answer every request not answered yet with ``error`` (a drain that ran out of time, a forced stop);
        running rounds stop after their current batch. Returns how many requests were answered so."""
        self._abandoned = self._abandoned or error  # a second stop: rounds the first one ended still raise the first
        jobs = {id(j): j for j in self._line.clear()} | {id(p.job): p.job for r in self._rounds for p in r.pieces}
        left = [j for j in jobs.values() if not j.future.done()]
        for job in left:
            job.future.set_exception(error)
        self._set_queued(0)
        return len(left)

    def cancel(self, job: Job) -> None:
        """The client went away: its pieces that have not started leave the queue now (they held room under
        ``max_queue`` until a round took them, so live clients got 429s while every thread was busy)."""
        job.cancelled = True
        for piece in self._line.remove(job):
            self._finish(piece, None, 0.0)  # the last of the job's pieces gives its inputs' room back

    def _set_queued(self, n: int) -> None:
        self.queued = max(0, n)  # rounds that end after abandon() have no queue left to count down
        if self.metrics is not None:
            self.metrics.queue_inputs.set(self.queued)

    async def _worker(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._wake is not None
        while True:
            while not (self._line and (kind := self._next_round())):
                self._wake.clear()
                await self._wake.wait()
            beside = kind == "beside"  # small requests only, beside big ones
            pieces = [p for p in self._line.take(self.round_inputs, self.max_rounds, small_only=beside)
                      if not self._drop_if_skipped(p)]
            if not pieces:
                continue
            if self._inline(pieces):
                self._run_here(pieces, share_cpu=not (self.lone_spin and self._lone_rounds >= LONE_ROUNDS))
                self._lone_rounds += 1
                continue
            self._lone_rounds = 0
            # small requests beside big rounds, taken with a big one's pieces, or while a big round fills the worker
            # pool's queue: a round of their own, at once on its own thread (one such round at a time)
            near_big = beside or any(r.big and not r.tail for r in self._rounds) or not all(p.whole for p in pieces)
            small = [p for p in pieces if p.whole] if near_big and all(r.pooled for r in self._rounds) else []
            if small and len(small) < len(pieces):  # a round that takes turns: fewer than max_rounds run, room for two
                self._start(loop, [p for p in pieces if not p.whole], pooled=True)
            self._start(loop, small or pieces, pooled=not small)

    def _start(self, loop: asyncio.AbstractEventLoop, pieces: list[Piece], pooled: bool) -> None:
        """Start a round on a round thread. ``pooled=False`` (small requests apart from a big one's): its batches run at
        once on its own thread (the all-threads session, opened by the first such round: 0.1-0.4 s once), taking no
        thread of the worker pool, so the next round need not wait for its tail."""
        started = time.perf_counter()
        for p in pieces:
            p.job.started = p.job.started or started
        rnd = _Round(pieces, tail=not pooled, big=not all(p.whole for p in pieces), pooled=pooled)
        self._rounds.append(rnd)
        on_idle = functools.partial(self._tail_soon, loop, rnd)
        future = loop.run_in_executor(self._pool, self._run_round, pieces, on_idle, True, pooled)
        future.add_done_callback(functools.partial(self._round_finished, pieces, started, rnd))

    def _next_round(self) -> Literal["turns", "beside"] | None:
        """Which round may start now: one that takes turns, up to ``parallelism`` at once when each running one
        is in its tail or a full batch waits (2-core Xeon: 32 sentences from 4 clients 1,728 against 1,557
        sentences/s; a round more than threads for a full batch read 0.96-0.97x: docs/serving-performance.md);
        else one of small requests beside rounds that all hold a big one's pieces (a query 1 s into a request of
        1,000 long texts had waited 1.8-2.8 s, the FastAPI route 0.06 s; in its last round alone, 0.37 s); else
        none."""
        n, full = len(self._rounds), self._line.inputs >= self.batch_size
        if not n or (n < self.max_rounds and (full or all(r.tail for r in self._rounds))):
            return "turns"
        if n <= self.max_rounds and all(r.big for r in self._rounds) and self._line.has_small():
            return "beside"
        return None

    def _tail_soon(self, loop: asyncio.AbstractEventLoop, rnd: _Round) -> None:
        """On the round's thread: have the event loop run :meth:`_on_tail`."""
        loop.call_soon_threadsafe(self._on_tail, rnd)

    def _on_tail(self, rnd: _Round) -> None:
        """On the event loop: a round's last batches run and a thread is free; the next round may start."""
        rnd.tail = True
        if self._wake is not None:
            self._wake.set()

    def _round_finished(self, pieces: list[Piece], started: float, rnd: _Round, future: asyncio.Future) -> None:
        self._rounds.remove(rnd)
        if self._wake is not None:
            self._wake.set()
        try:
            outcomes: list[Outcome] | BaseException = future.result()
        except Exception as e:  # noqa: BLE001 - every waiting request must hear of it
            outcomes = e
        self._round_done(pieces, started, outcomes)

    def _round_done(self, pieces: list[Piece], started: float, outcomes: list[Outcome] | BaseException) -> None:
        """On the event loop: metrics, and each piece's rows stored (or its error set)."""
        if outcomes is self._abandoned:  # the stop's own 503 (a drain timed out, a forced stop): no failure
            logger.info("a round of %d pieces stopped after its batch: the server is stopping", len(pieces))
        elif isinstance(outcomes, BaseException):
            logger.error("inference failed for a round of %d pieces", len(pieces), exc_info=outcomes)
        if isinstance(outcomes, BaseException):
            outcomes = [outcomes] * len(pieces)
        elapsed = time.perf_counter() - started
        if self.metrics is not None:
            self.metrics.inference_seconds.observe(elapsed)
            self.metrics.round_inputs.observe(sum(p.size for p in pieces))
        timed: set[int] = set()  # a request's pieces in one round: the round's time counts once for it
        for piece, outcome in zip(pieces, outcomes, strict=True):
            self._finish(piece, outcome, 0.0 if id(piece.job) in timed else elapsed)
            timed.add(id(piece.job))

    def _inline(self, pieces: list[Piece]) -> bool:
        """Whether a round runs on the event loop's thread: one short input (``INLINE_MAX_CHARS``), the only one the
        server holds. Decided when the worker takes the round, not in ``submit``: by then the loop has read the
        requests that came in together, so a burst batches instead of running one by one on the loop (400 against
        794 sentences/s at 64 clients)."""
        if not (len(pieces) == 1 and self.queued == pieces[0].size == 1):
            return False
        job = pieces[0].job
        if job.texts is not None:
            return len(job.texts[0]) <= INLINE_MAX_CHARS
        return len((job.token_ids or [])[0]) <= self.max_len

    def _run_here(self, pieces: list[Piece], share_cpu: bool) -> None:
        """Run a lone input's round now, on this (the event loop's) thread, and answer it; unless ``share_cpu``, on all
        threads if that is faster here (:mod:`simcse_sdk.runtimes.solo`), as nothing else runs meanwhile."""
        started = pieces[0].job.started = time.perf_counter()
        cpu = time.thread_time()
        try:
            outcomes: list[Outcome] | BaseException = self._run_round(pieces, None, share_cpu)
        except Exception as e:  # noqa: BLE001 - the waiting request must hear of it
            outcomes = e
        if self.metrics is not None:
            self.metrics.loop_round_cpu.inc(time.thread_time() - cpu)
        self._round_done(pieces, started, outcomes)

    def _drop_if_skipped(self, piece: Piece) -> bool:
        if not piece.job.skip:
            return False
        self._finish(piece, None, 0.0)
        return True

    def _finish(self, piece: Piece, outcome: Outcome | None, elapsed: float) -> None:
        """Bookkeeping on the event loop: store the piece's rows; answer the job when its last piece is in."""
        job = piece.job
        job.pending -= 1
        if isinstance(outcome, BaseException):
            if not job.future.done():
                job.future.set_exception(outcome)
        elif outcome is not None and not job.skip:
            emb, tokens, truncated = outcome
            job.out[piece.rows] = emb
            job.tokens += tokens
            job.truncated += truncated
            job.inference_s += elapsed
        if job.pending == 0:
            self._set_queued(self.queued - job.size)
            if not job.future.done() and not job.cancelled:
                queue_s = (job.started or job.admitted) - job.admitted
                job.future.set_result(Result(job.out, job.tokens, job.truncated, queue_s, job.inference_s))

    def _run_round(self, pieces: list[Piece], on_idle: Callable[[], None] | None,
                   share_cpu: bool = True, pooled: bool = True) -> list[Outcome]:
        """On a round thread (a lone input: the event loop's, which has nothing else to do meanwhile): the round's
        work (:func:`.round.compute`)."""
        return compute(self.encoder, self.cut, pieces, self.batch_size, self.max_batch_tokens, self.metrics,
                       self._observe_batch, on_idle, share_cpu, pooled)

    def _observe_batch(self, batch: Batch) -> None:
        if self._abandoned is not None:  # stopping: the round ends after this batch, not after all of them
            raise self._abandoned
        if self.metrics is not None:
            self.metrics.batch_size.observe(len(batch.indices))
            self.metrics.batch_tokens.observe(batch.padded_tokens)
