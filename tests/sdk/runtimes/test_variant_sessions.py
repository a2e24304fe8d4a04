"""VariantSessions.run's ``on_idle``: the server starts its next round on it, so it must come once, as soon as a thread
is free, and not while every thread still has a batch."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from simcse_sdk import Encoder
from simcse_sdk.inputs.batching import Batch


class HeldSession:
    """Runs batch i at once, or holds it until ``release[i]`` is set (a slow batch)."""

    def __init__(self, held: set[int]) -> None:
        self.release = {i: threading.Event() for i in held}
        self.entered = {i: threading.Event() for i in held}

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        i = int(input_ids[0, 0])
        if i in self.release:
            self.entered[i].set()
            assert self.release[i].wait(10), f"batch {i} never released"
        return np.full((len(input_ids), 4), i, dtype=np.float32)  # (batch, dim)


def batches(n: int) -> list[Batch]:
    """n batches of 2 rows; batch i's ids are all i."""
    return [Batch(np.arange(2 * i, 2 * i + 2), np.full((2, 3), i, dtype=np.int64), np.ones((2, 3), dtype=np.int64))
            for i in range(n)]


@pytest.fixture
def sessions(tiny_model_dir):
    enc = Encoder(tiny_model_dir, device="cpu", variant="fp32", threads=2)
    assert enc.parallelism == 2
    return enc._sessions


def run_in_thread(sessions, session: HeldSession, n: int, on_idle) -> tuple[threading.Thread, dict[int, np.ndarray]]:
    _, pool = sessions.bulk()
    sessions.bulk = lambda: (session, pool)
    stored: dict[int, np.ndarray] = {}
    t = threading.Thread(target=sessions.run, args=(batches(n), lambda b, e: stored.update({int(b.indices[0]): e}),
                                                    True, on_idle))
    t.start()
    return t, stored


def test_on_idle_comes_once_while_the_last_batch_still_runs(sessions):
    held = HeldSession({4})
    idle = threading.Event()
    calls: list[int] = []
    t, stored = run_in_thread(sessions, held, 5, lambda: (calls.append(1), idle.set()))
    assert idle.wait(10), "on_idle never came though batch 4 was the only one running"
    assert not held.release[4].is_set() and t.is_alive()  # the run has not finished: its last batch still runs
    held.release[4].set()
    t.join(10)
    assert calls == [1]
    assert sorted(stored) == [0, 2, 4, 6, 8] and stored[8][0, 0] == 4  # every batch stored, rows in place


def test_on_idle_waits_while_every_thread_has_a_batch(sessions):
    held = HeldSession({0, 1})
    idle = threading.Event()
    t, _ = run_in_thread(sessions, held, 2, idle.set)
    assert held.entered[0].wait(10) and held.entered[1].wait(10)
    assert not idle.wait(0.3)  # both threads busy: no thread to spare
    held.release[0].set()
    assert idle.wait(10)  # batch 1 still runs, one thread is free
    assert t.is_alive()
    held.release[1].set()
    t.join(10)


def test_on_idle_comes_while_one_short_input_runs_on_one_thread(sessions):
    """A server round of one short input (the server holds others, so not on its event loop) runs on one of the two
    threads: the next round may start on the other meanwhile. Before, it waited for this round's end (one sentence
    from 8 clients: 208 of 488 rounds were of one input, the other core idle through each)."""
    held = HeldSession({7})
    _, pool = sessions.bulk()
    sessions.bulk = lambda: (held, pool)
    idle = threading.Event()
    one = Batch(np.arange(1), np.full((1, 3), 7, dtype=np.int64), np.ones((1, 3), dtype=np.int64))  # 3 tokens
    stored: list[np.ndarray] = []
    t = threading.Thread(target=sessions.run, args=([one], lambda b, e: stored.append(e), False, idle.set, True))
    t.start()
    assert held.entered[7].wait(10)
    assert idle.wait(10), "on_idle never came while the lone input held one of two threads"
    assert t.is_alive() and not stored  # it still runs
    held.release[7].set()
    t.join(10)
    assert len(stored) == 1 and stored[0][0, 0] == 7


def test_on_idle_does_not_come_for_a_short_input_spinning_on_every_thread_nor_before_the_last_batch(sessions):
    """``on_idle`` promises a free thread: a lone input that may take every thread (``share_cpu=False``, nothing else
    running, spinning measured faster) gives none; nor does a short batch that longer ones follow on all threads."""
    _, pool = sessions.bulk()
    sessions.solo.spin = True  # as if measured faster here
    spinning = HeldSession({7})
    sessions._spinning = spinning
    idle = threading.Event()
    one = Batch(np.arange(1), np.full((1, 3), 7, dtype=np.int64), np.ones((1, 3), dtype=np.int64))
    t = threading.Thread(target=sessions.run, args=([one], lambda b, e: None, False, idle.set, False))
    t.start()
    assert spinning.entered[7].wait(10)
    assert not idle.wait(0.3)  # every thread spins on it
    spinning.release[7].set()
    t.join(10)
    assert not idle.is_set()

    held = HeldSession({6})
    sessions.bulk, sessions._main = (lambda: (held, pool)), held
    short = Batch(np.arange(1), np.full((1, 3), 5, dtype=np.int64), np.ones((1, 3), dtype=np.int64))
    long = Batch(np.arange(1, 2), np.full((1, 40), 6, dtype=np.int64), np.ones((1, 40), dtype=np.int64))  # all threads
    stored: list[int] = []
    t = threading.Thread(target=sessions.run, args=([short, long], lambda b, e: stored.append(int(e[0, 0])), False,
                                                    idle.set, True))
    t.start()
    assert held.entered[6].wait(10)
    assert not idle.wait(0.3)  # the short batch ran on one thread, but the long one that followed takes them all
    held.release[6].set()
    t.join(10)
    assert stored == [5, 6]


def test_encode_ids_refuses_an_on_idle_that_is_not_callable(tiny_model_dir):
    from simcse_sdk.errors import InputError

    enc = Encoder(tiny_model_dir, device="cpu", variant="fp32")
    with pytest.raises(InputError, match="on_idle must be a function"):
        enc.encode_ids(enc.tokenizer.encode(["a b"]), on_idle=3)  # type: ignore[arg-type]


class Recording:
    """A session that records the batches it ran, delegating to a real one."""

    def __init__(self, real) -> None:  # type: ignore[no-untyped-def]
        self.real, self.ran = real, 0

    def run(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        self.ran += 1
        return self.real.run(input_ids, attention_mask)


def test_a_lone_short_input_spins_only_when_nothing_else_runs_and_the_caller_lets_it(tiny_model_dir):
    enc = Encoder(tiny_model_dir, device="cpu", variant="fp32", threads=2)
    s = enc._sessions
    s.solo.spin = True  # as if measured faster here
    spinning, (bulk, pool) = Recording(s.spinning), s.bulk()
    s._spinning, s.bulk = spinning, lambda: (bulk_rec, pool)
    bulk_rec = Recording(bulk)
    ids = enc.tokenizer.encode(["a short query"])

    alone = enc.encode_ids(ids)
    assert (spinning.ran, bulk_rec.ran) == (1, 0)
    beside_a_loop = enc.encode_ids(ids, share_cpu=True)  # the server's rounds: its event loop needs the CPU
    assert (spinning.ran, bulk_rec.ran) == (1, 1)
    np.testing.assert_allclose(alone, beside_a_loop, atol=1e-6)  # the same vector on either session

    entered, release = threading.Event(), threading.Event()

    class Held(Recording):  # another call of this variant in progress, in another thread
        def run(self, input_ids, attention_mask):  # type: ignore[no-untyped-def]
            entered.set()
            assert release.wait(10)
            return super().run(input_ids, attention_mask)

    s._main = Held(s.main)
    other = threading.Thread(target=enc.encode_ids, args=([np.arange(100, 100 + 40, dtype=np.int64)],))
    other.start()  # 40 tokens: past the short-input limit, so it runs on the main session (held)
    try:
        assert entered.wait(10)
        enc.encode_ids(ids)
        assert (spinning.ran, bulk_rec.ran) == (1, 2)  # not alone: one thread, the other call keeps its core
    finally:
        release.set()
        other.join(10)
    enc.encode_ids(ids)
    assert spinning.ran == 2  # alone again


def test_the_spinning_session_spins_and_the_others_do_not(tiny_model_dir):
    enc = Encoder(tiny_model_dir, device="cpu", variant="fp32", threads=2)
    s = enc._sessions

    def spinning(session) -> str:  # type: ignore[no-untyped-def]
        return session.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning")

    assert (spinning(s.spinning), spinning(s.main), spinning(s.bulk()[0])) == ("1", "0", "0")
    options = s.spinning.session.get_session_options()
    assert options.get_session_config_entry("session.force_spinning_stop") == "1"  # no spinning past the run's end


def test_the_spinning_session_is_let_go_when_one_thread_measures_faster(tiny_model_dir, monkeypatch):
    from types import SimpleNamespace

    from simcse_sdk.runtimes import solo, variant_sessions

    enc = Encoder(tiny_model_dir, device="cpu", variant="fp32", threads=2)
    s = enc._sessions
    clock = iter(range(10**6))
    monkeypatch.setattr(variant_sessions, "time", SimpleNamespace(  # one thread's runs look shorter
        perf_counter=lambda: next(clock) * (1.0 if s.solo.next() else 0.5)))
    ids = enc.tokenizer.encode(["a short query"])
    for _ in range(2 * (solo.TRIES + 1)):
        enc.encode_ids(ids)
    assert s.solo.spin is False and s._spinning is None
    enc.encode_ids(ids)
    assert s._spinning is None  # not opened again


def test_unpooled_batches_run_on_the_callers_thread_with_the_same_vectors(tiny_model_dir):
    """The server's round of small requests beside big ones: the worker pool's queue holds the big rounds' batches,
    so its own run at once on its thread (pooled=False), giving the vectors the pool gives."""
    enc = Encoder(tiny_model_dir, device="cpu", variant="fp32", threads=2)
    s = enc._sessions
    bulk, pool = s.bulk()
    submitted: list[int] = []

    class Counting:  # the pool, counting what is queued on it
        def submit(self, fn, *args):  # type: ignore[no-untyped-def]
            submitted.append(1)
            return pool.submit(fn, *args)

    s.bulk = lambda: (bulk, Counting())
    ids = enc.tokenizer.encode([f"sentence number {i} " + "word " * (i % 7) for i in range(32)])
    pooled = enc.encode_ids(ids)
    assert submitted  # 32 short inputs: small batches side by side on the pool
    submitted.clear()
    mine = enc.encode_ids(ids, pooled=False)
    assert submitted == []
    np.testing.assert_allclose(mine, pooled, atol=1e-5)
