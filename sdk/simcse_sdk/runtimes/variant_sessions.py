"""The runtime sessions of one variant file, each opened when first needed.

An :class:`~simcse_sdk.Encoder` runs a variant on up to three sessions: the *main* one on all
threads (single and large batches), and on CPU with several workers a *bulk* one that runs
``workers`` small batches side by side (see :mod:`simcse_sdk.runtimes.session`) and a *spinning* one on all
threads for one short input run alone, where that measured faster (:mod:`simcse_sdk.runtimes.solo`);
:meth:`VariantSessions.run` decides which batch goes where. Opening a session
costs 0.1-0.4 s, so each is opened on first use; ``variant="auto"`` opens, for each candidate,
only those its measurement uses, several candidates at once. The file's identity (inode, size,
mtime) is taken once: a session opened later must load the very same file.

Example:
    >>> s = VariantSessions(manifest.variants["int8"], Path("m/model.int8.onnx"), "cpu", None, 2)  # doctest: +SKIP
    >>> s.main.run(input_ids, attention_mask).shape                                                # doctest: +SKIP
    (1, 384)
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..errors import ModelDirError
from ..inputs.batching import Batch, plan_batches
from ..model.manifest import Variant
from .session import Session, open_session
from .solo import SoloChoice

# Batches of at most this many padded tokens run side by side with parallel_batches (short sentences);
# bigger ones (long texts) use all threads on one batch, which was faster for 300-token texts.
PARALLEL_MAX_TOKENS = 2048
# Parallel batches are planned with at most this many padded tokens each (STS-B test, 2-core Xeon with AMX,
# batch_size 64: onnxruntime int8 3,092 sent/s at 512 against 2,591 at 8,192; OpenVINO int8 3,155 / 2,930).
PARALLEL_BATCH_TOKENS = 512
# On CPU a batch stops growing where padding would pass this share of its padded tokens (plan_batches'
# max_padding), by runtime. Random rounds of STS-B test sentences, int8, 2 parallel batches, 2-core Xeon (medians of 5,
# sentences/s, none -> 0.1): 8 a round 784 -> 1,174; 32: 924 -> 1,673; 64: 1,268 -> 1,651; 200: 1,876 -> 1,856.
# 0.1 -> 0.05 (2-core AMD EPYC with VNNI, the same rounds run both ways in turn, 30 pairs each): onnxruntime int8
# rounds of 166 +5.8 % (29 of 30 ahead), 256 +5.4 % (30 of 30), 64 +3.3 % (29 of 30), 32 and all 2,758 within 1 %;
# fp32 rounds of 166 +4.0 % (19 of 20). A round of 166 then pads 1.5 % of its tokens instead of 6.3 % (bulk: 1 %), in
# batches of 9.6 rows (138 tokens) instead of 16.4; on the Xeon a batch of 8 rows cost what one of 34 did a token.
# OpenVINO int8 lost 1-3 % (rounds of 166 and 256): it keeps 0.1.
MAX_PADDING = {"onnxruntime": 0.05, "openvino": 0.1}
# On CPU, onnxruntime runs a batch of at most this many padded tokens (one short sentence) on one thread, on the
# parallel-batch session: int8, one STS-B sentence, 0.82 ms on 1 thread against 0.96 ms on 2 (2-core Xeon); run alone,
# on all threads spinning where that measures faster (.solo). OpenVINO does not gain (2.36 ms on 1 thread against
# 2.08 on 2), so its small batches use all threads.
SMALL_BATCH_TOKENS = 32
# Inputs of one batch but at least this many items are split into one batch per worker, run side by side
# (2-core Xeon, 2 workers, median call): onnxruntime int8, short sentences, 2 items 2.61 -> 1.58 ms, 4 items
# 4.16 -> 2.31, 8 items 6.24 -> 3.90, 32 items 17.5 -> 13.3; two 121-token texts 9.0 -> 6.0; fp32 1.07-1.34x.
# OpenVINO's latency session runs 2-4 short sentences faster on all threads (ov-int8, 4 items 2.45 against
# 2.60 ms split; ov-bf16 2.85 / 3.16) and gains from 8 (ov-bf16 4.98 -> 4.37 ms, ov-int8 32 items 10.2 -> 9.7).
SPLIT_MIN_ITEMS = {"onnxruntime": 2, "openvino": 8}


class VariantSessions:
    """The main session and (``workers`` > 1) the bulk session with its worker pool and the spinning session, of one
    variant file."""

    def __init__(self, variant: Variant, model_file: Path, device: str, threads: int | None, workers: int) -> None:
        self.variant = variant
        self.model_file = model_file
        self.device = device
        self.threads = threads
        self.workers = workers  # batches side by side on the bulk session; 1: no bulk session
        self._identity = identity(model_file)
        self._main: Session | None = None
        self._bulk: tuple[int, Session, ThreadPoolExecutor] | None = None  # (pid, session, pool)
        self._spinning: Session | None = None  # all threads, spinning while it runs: one short input alone
        self.solo = SoloChoice()  # whether that session or one thread runs a lone short input faster here
        self._running = 0  # calls of run() in progress, on any thread
        self._lock, self._count_lock = threading.Lock(), threading.Lock()
        self._lock_pid = os.getpid()

    @property
    def _guard(self) -> threading.Lock:
        """The lock for opening sessions; a new one in a forked child (a parent thread may have held it at the fork)."""
        if self._lock_pid != os.getpid():
            self._lock, self._count_lock, self._lock_pid = threading.Lock(), threading.Lock(), os.getpid()
            self._running = 0
        return self._lock

    @property
    def main(self) -> Session:
        """The session on all threads (opened on first use)."""
        return self._main or self._open_on_all_threads(spin=False)

    @property
    def spinning(self) -> Session:
        """The session on all threads that spin while it runs (opened on first use): one short input alone."""
        return self._spinning or self._open_on_all_threads(spin=True)

    def _open_on_all_threads(self, spin: bool) -> Session:
        with self._guard:
            session = self._spinning if spin else self._main
            if session is None:  # not opened by another thread meanwhile
                self._check_unchanged()
                session = open_session(self.variant, self.model_file, self.device, self.threads, spin=spin)
                if spin:
                    self._spinning = session
                else:
                    self._main = session
        return session

    def bulk(self) -> tuple[Session, ThreadPoolExecutor]:
        """The session for ``workers`` batches at once and its pool (opened on first use, again in a forked child)."""
        bulk = self._bulk
        if bulk is None or bulk[0] != os.getpid():  # a forked child cannot use the parent's pool
            with self._guard:
                if self._bulk is None or self._bulk[0] != os.getpid():
                    self._check_unchanged()
                    session = open_session(self.variant, self.model_file, self.device, None,
                                           bulk_workers=self.workers)
                    self._bulk = (os.getpid(), session,
                                  ThreadPoolExecutor(self.workers, thread_name_prefix="simcse-encode"))
                bulk = self._bulk
        return bulk[1], bulk[2]

    @property
    def has_bulk(self) -> bool:
        """Whether the bulk session is open (in this process)."""
        return self._bulk is not None and self._bulk[0] == os.getpid()

    def any_open(self) -> Session:
        """An open session (the main one if open, else the bulk one, else the main one opened now)."""
        if self._main is None and self.has_bulk:
            return self.bulk()[0]
        return self.main

    def providers(self) -> list[str]:
        """What an open session runs on (the parent's, in a forked child), opening none if one is open."""
        if self._main is not None:
            return self._main.providers
        if self._bulk is not None:
            return self._bulk[1].providers
        return self.main.providers

    def split(self, n: int, batch_size: int) -> tuple[bool, int]:
        """Whether ``n`` inputs run as parallel batches on the bulk session, and the batch size to plan them with:
        more than ``batch_size`` make several batches anyway; fewer, from :data:`SPLIT_MIN_ITEMS` on, are cut
        into one batch per worker."""
        if self.workers == 1 or n < 2:
            return False, batch_size
        if n > batch_size:
            return True, batch_size
        if n < SPLIT_MIN_ITEMS.get(self.variant.runtime, n + 1):
            return False, batch_size
        return True, -(-n // self.workers)

    def plan(self, token_ids: list[np.ndarray], batch_size: int, max_tokens: int, pad_id: int,
             max_len: int, pooled: bool = True) -> tuple[bool, Iterator[Batch]]:
        """(parallel, padded batches) for these inputs, as :meth:`run` takes them: :meth:`split` decides whether
        they run side by side; parallel batches hold at most :data:`PARALLEL_BATCH_TOKENS` padded tokens; on CPU a
        batch stops where padding would pass its runtime's :data:`MAX_PADDING` of it; on CUDA lengths round up to 16
        (few distinct shapes: CUDA sets up each once; never past ``max_len``, which the tokenizer truncates to).
        ``pooled=False``: none run on the worker pool, where another call's batches may fill its queue; they run on
        the caller's thread, at once."""
        parallel, size = self.split(len(token_ids), batch_size) if pooled else (False, batch_size)
        budget = min(max_tokens, PARALLEL_BATCH_TOKENS) if parallel else max_tokens
        cuda = self.device == "cuda"
        max_padding = None if cuda else MAX_PADDING[self.variant.runtime]
        return parallel, plan_batches(token_ids, size, budget, pad_id, pad_multiple=16 if cuda else 1,
                                      max_len=max_len, max_padding=max_padding)

    def run(self, batches: Iterable[Batch], store: Callable[[Batch, np.ndarray], None], parallel: bool,
            on_idle: Callable[[], None] | None = None, share_cpu: bool = False) -> None:
        """Run each batch and ``store`` its embeddings (batch, dim). With ``parallel``, small batches run ``workers``
        at a time on the bulk session (few in flight); large ones, and all when not ``parallel``, on all threads.
        One short input (:data:`SMALL_BATCH_TOKENS`) runs on one thread, or, unless ``share_cpu`` (the caller's other
        threads need the CPU meanwhile) and with no other call in progress when it starts, on all threads spinning
        where that measured faster (a call that starts meanwhile runs beside it, on one thread).

        ``on_idle`` is called at most once, on this thread, when every batch has been handed to the pool and fewer
        than ``workers`` still run, or as the last batch starts, one short input on one thread (not spinning on all
        threads, which ``share_cpu=False`` allows when no other call runs): a thread is free before this call
        returns, for other work to use (one sentence from 4 clients, 2-core AMD EPYC with AVX2 only, alternating 4 s
        turns: 297 against 274 sentences/s, ahead in 5 of 6; before, 246 of 649 rounds were of one input, and the
        other core idled through each)."""
        self._guard  # noqa: B018 - in a forked child, new locks and no calls of the parent's counted
        with self._count_lock:
            self._running += 1
        try:
            self._run(batches, store, parallel, on_idle, share_cpu)
        finally:
            with self._count_lock:
                self._running -= 1

    def _run(self, batches: Iterable[Batch], store: Callable[[Batch, np.ndarray], None], parallel: bool,
             on_idle: Callable[[], None] | None, share_cpu: bool) -> None:
        pending: deque[tuple[Batch, Future[np.ndarray]]] = deque()
        for batch, last in _flag_last(batches):
            if parallel and batch.padded_tokens <= PARALLEL_MAX_TOKENS:
                session, pool = self.bulk()
                pending.append((batch, pool.submit(session.run, batch.input_ids, batch.attention_mask)))
                if len(pending) >= 2 * self.workers:  # bounded: padded batches are not all held at once
                    store(*_done(pending.popleft()))
                continue
            while pending:
                store(*_done(pending.popleft()))
            if self._one_thread_for(batch):  # one short sentence: one thread, or all spinning if alone and faster
                alone = not share_cpu and self._running == 1
                if on_idle is not None and last and not alone:  # the call's last batch, on one thread: others free
                    on_idle()
                    on_idle = None
                store(batch, self._run_short(batch, alone))
                continue
            store(batch, self.main.run(batch.input_ids, batch.attention_mask))
        while pending:
            if on_idle is not None and sum(not f.done() for _, f in pending) < self.workers:
                on_idle()
                on_idle = None
            store(*_done(pending.popleft()))

    def _run_short(self, batch: Batch, alone: bool) -> np.ndarray:
        if not alone:
            return self.bulk()[0].run(batch.input_ids, batch.attention_mask)
        spin = self.solo.next()
        session = self.spinning if spin else self.bulk()[0]
        started = time.perf_counter()
        emb = session.run(batch.input_ids, batch.attention_mask)
        self.solo.record(spin, time.perf_counter() - started)
        if self.solo.spin is False:  # one thread won here: the spinning session's memory goes back
            self._spinning = None
        return emb

    def short_input_openers(self) -> list[Callable[[], object]]:
        """Openers of the sessions ``run`` uses for short sentences (what ``variant="auto"`` measures): first the
        one for several small batches at once (its probe), then, if another, the one for a single sentence."""
        if self.workers == 1:
            return [lambda: self.main]
        if self.variant.runtime == "onnxruntime":  # one short sentence runs on the bulk session too
            return [self.bulk]
        return [self.bulk, lambda: self.main]

    def _one_thread_for(self, batch: Batch) -> bool:
        return (self.workers > 1 and self.variant.runtime == "onnxruntime"
                and batch.padded_tokens <= SMALL_BATCH_TOKENS)

    def close(self) -> None:
        """Let go of the sessions and stop the worker pool (a candidate that lost the measurement)."""
        with self._guard:
            if self._bulk is not None and self._bulk[0] == os.getpid():
                self._bulk[2].shutdown(wait=True)
            self._bulk, self._main, self._spinning = None, None, None

    def _check_unchanged(self) -> None:
        if identity(self.model_file) != self._identity:
            raise ModelDirError(
                f"{str(self.model_file)!r} changed since this Encoder was created (re-exported?): "
                "create a new Encoder so that every batch runs the same model."
            )


def _flag_last(batches: Iterable[Batch]) -> Iterator[tuple[Batch, bool]]:
    """Each batch with whether it is the last (one looked ahead: the batches are planned lazily)."""
    it = iter(batches)
    batch = next(it, None)
    while batch is not None:
        following = next(it, None)
        yield batch, following is None
        batch = following


def _done(item: tuple[Batch, Future[np.ndarray]]) -> tuple[Batch, np.ndarray]:
    return item[0], item[1].result()


def identity(path: Path) -> tuple[int, int, int]:
    """(inode, size, mtime) of a file: changes when it is rewritten or replaced."""
    st = path.stat()
    return st.st_ino, st.st_size, st.st_mtime_ns
