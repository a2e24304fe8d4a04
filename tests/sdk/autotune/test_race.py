"""The race itself, on fake candidates whose speed is set on the race's clock: what is measured, what stops early, what
is freed, and how a candidate less accurate here than its gate is left out.

The fakes move a virtual clock instead of sleeping: with sleeps, a shared machine's late wake-ups (another pytest-xdist
worker keeping both cores busy) made a candidate 1.33x slower read 4.2x slower on the probe in fresh-clone CI, and
twice before that reordered others, however long the sleeps were made."""

from __future__ import annotations

import threading
import types

import numpy as np
import pytest
from simcse_sdk.autotune import Candidate, Measurement, race
from simcse_sdk.errors import VariantError
from simcse_sdk.runtimes import machine


class Clock:
    """The race's ``time.perf_counter``: seconds that pass only when a fake runs."""

    def __init__(self) -> None:
        self.now = 0.0
        self._lock = threading.Lock()

    def perf_counter(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(race, "time", types.SimpleNamespace(perf_counter=c.perf_counter))
    monkeypatch.setattr(Fake, "clock", c, raising=False)
    return c


class Fake:
    """A candidate that takes ``call_s`` per call plus ``per_sentence_s`` per sentence, and records what it ran."""

    clock: Clock  # the race's clock (the fixture above)

    def __init__(self, name, call_s, per_sentence_s, fail_open=False, size=1, fail_bulk=False, wrong=False,
                 min_cos=None):
        self.name, self.call_s, self.per_sentence_s, self.fail_open, self.size = (
            name, call_s, per_sentence_s, fail_open, size)
        self.fail_bulk, self.wrong, self.min_cos = fail_bulk, wrong, min_cos
        self.calls: list[int] = []  # sentences per call
        self.is_open = False
        self.closed = threading.Event()

    def encode(self, ids, batch_size):
        assert self.is_open, "measured before it was opened"
        self.calls.append(len(ids))
        if self.fail_bulk and len(ids) == race.BULK_SENTENCES:
            raise RuntimeError("this shape fails here")
        self.clock.advance(self.call_s + self.per_sentence_s * len(ids))
        emb = np.array([[len(i), 1.0, 2.0, 0.5] for i in ids], np.float32)  # (n, 4), the same for every right one
        return -emb if self.wrong else emb

    def open(self):
        if self.fail_open:
            raise RuntimeError("no kernel for this CPU")
        self.is_open = True

    def close(self):
        self.is_open = False
        self.closed.set()

    def candidate(self, fakes=(), open_counts=None):
        def opener():
            self.open()
            if open_counts is not None:
                open_counts.append(sum(f.is_open for f in fakes))

        return Candidate(self.name, "onnxruntime", self.encode, [opener], [], self.close, self.size, owner=self,
                                  min_cos=self.min_cos)


def run_race(fakes, reference=None, **kwargs):
    open_counts: list[int] = []  # candidates open after each opening
    tokenize = lambda texts: [np.arange(len(t.split()) + 2) for t in texts]  # noqa: E731
    candidates = [f.candidate(fakes, open_counts) for f in fakes]
    ref = next((c for c in candidates if c.name == reference), None) if isinstance(reference, str) else reference
    choice, winner = race.choose(candidates, tokenize, {"k": 1}, None, ref, **kwargs)
    return choice, winner.owner, max(open_counts)


def test_a_candidate_wrong_here_is_left_out_however_fast_and_sets_no_bar():
    # "wrong" has the fastest probe by far; were it the probe bar, "right" (over 2x slower) would be left out too
    wrong = Fake("wrong", 0.0001, 0.00001, wrong=True, min_cos=0.95)
    right = Fake("right", 0.0003, 0.0001, min_cos=0.95)
    ref = Fake("ref", 0.0003, 0.0002)
    choice, winner, _ = run_race([wrong, right, ref], reference="ref")
    assert winner.name == "right" and choice.measurements["right"].workload_s is not None
    assert choice.measurements["wrong"].left_out_kind == "accuracy"
    assert max(wrong.calls) < race.BULK_SENTENCES  # never timed on the workload
    assert choice.accuracy["right"].passed and choice.accuracy["right"].min_cos > 0.9999
    assert not choice.accuracy["wrong"].passed and "ref" not in choice.accuracy  # the reference is not checked


def test_a_reference_that_is_no_candidate_is_closed_after_use():
    ref = Fake("ref", 0.0001, 0.00001)
    choice, winner, _ = run_race([Fake("a", 0.0001, 0.00001, min_cos=0.95)], reference=ref.candidate())
    assert winner.name == "a" and choice.accuracy["a"].passed and ref.closed.is_set()


def test_no_candidate_accurate_here_is_an_error_naming_the_reference():
    ref = Fake("ref", 0, 0)
    wrong = [Fake(n, 0.0001, 0.00001, wrong=True, min_cos=0.95) for n in ("a", "b")]
    with pytest.raises(VariantError, match=r"no candidate is as accurate.*variant='fp32'"):
        run_race(wrong, reference=ref.candidate())


@pytest.mark.parametrize("reverse", [False, True])
def test_the_fastest_wins_whatever_the_order_and_slow_ones_stop_after_the_probe(reverse):
    # "close" is 1.33x "fast" on the probe (within 2x): it runs the workload and loses it; "slow" is left out
    fakes = [Fake("fast", 0.003, 0.0003), Fake("close", 0.004, 0.0004), Fake("slow", 0.003, 0.004)]
    choice, winner, _ = run_race(fakes[::-1] if reverse else fakes)
    assert winner.name == choice.variant == "fast" and choice.reason == "measured"
    slow = choice.measurements["slow"]
    assert "probe" in slow.left_out and slow.workload_s is None
    assert max(fakes[2].calls) == race.PROBE_SENTENCES  # never ran the bulk workload
    close = choice.measurements["close"]  # within 2x on the probe: it ran the workload, at least its bulk call
    assert close.sentences_per_s is not None and race.BULK_SENTENCES in fakes[1].calls
    assert "slow left out (probe" in choice.describe()


def test_latency_counts_as_much_as_throughput():
    # "bulky" moves 2x the sentences a second in bulk and passes the probe, but each single call costs 1.5 ms
    bulky, quick = Fake("bulky", 0.0015, 0.00001), Fake("quick", 0.0002, 0.00005)
    choice, winner, _ = run_race([bulky, quick])
    assert winner.name == "quick"
    b, q = choice.measurements["bulky"], choice.measurements["quick"]
    assert not b.left_out and b.sentences_per_s > q.sentences_per_s and b.workload_s > q.workload_s


def test_the_losers_are_freed_and_the_winner_keeps_its_sessions():
    fakes = [Fake("a", 0.0003, 0.00003), Fake("b", 0.0003, 0.0004), Fake("c", 0.0006, 0.0001)]
    _, winner, _ = run_race(fakes)
    for f in fakes:
        if f is not winner:
            assert f.closed.wait(5), f"{f.name} was not freed"
    assert winner.is_open and not winner.closed.is_set()


def ladder() -> list[Fake]:
    """Four candidates of 100 bytes, v0 the fastest."""
    return [Fake(f"v{i}", 0.0015, 0.00015 * (i + 1), size=100) for i in range(4)]


def test_at_most_load_bytes_of_candidates_are_open_at_once(monkeypatch):
    _, _, most = run_race(ladder())
    assert most == 4  # all fit in LOAD_BYTES: opened together
    monkeypatch.setattr(race, "LOAD_BYTES", 150)  # one at a time, plus the best so far
    _, winner, most = run_race(ladder())
    assert most <= 2 and winner.name == "v0"
    monkeypatch.setattr(race, "LOAD_BYTES", 1 << 30)
    monkeypatch.setattr(machine, "available_memory", lambda: 4 * 250)  # a small container: a quarter is 250 bytes
    _, winner, most = run_race(ladder())
    assert most <= 3 and winner.name == "v0"


def test_a_candidate_that_cannot_open_is_left_out_with_a_warning(caplog):
    choice, winner, _ = run_race([Fake("broken", 0.0001, 0.00001, fail_open=True), Fake("ok", 0.0003, 0.00003)])
    assert winner.name == "ok" and "broken" not in choice.measurements
    assert "broken does not run here (RuntimeError: no kernel for this CPU)" in caplog.text
    with pytest.raises(RuntimeError, match="no kernel"):
        run_race([Fake("x", 0, 0, fail_open=True), Fake("y", 0, 0, fail_open=True)])


def test_a_workload_well_over_the_best_stops_after_its_first_bulk_call():
    f = Fake("slow", 0.0003, 0.0002)
    f.is_open = True
    bulk = [np.arange(10)] * race.BULK_SENTENCES
    m = Measurement(probe_per_s=1.0)
    race.run_workload(f.candidate(), bulk, [np.arange(5)] * 4, m, bound=0.001)
    assert m.workload_s is None and "bulk call alone" in m.left_out and m.sentences_per_s > 0
    assert f.calls.count(race.BULK_SENTENCES) == 2  # the warm-up and one timed call, no single-sentence timing


def test_the_losers_are_freed_on_a_thread_the_interpreter_waits_for(monkeypatch):
    # a daemon thread freeing sessions while the interpreter shuts down crashed processes that exit right away
    started = []
    real = threading.Thread

    def thread(*args, **kwargs):
        t = real(*args, **kwargs)
        started.append(t)
        return t

    monkeypatch.setattr(race.threading, "Thread", thread)
    run_race([Fake("a", 0.0003, 0.00003), Fake("b", 0.0003, 0.0004)])
    (freer,) = [t for t in started if t.name == "simcse-autotune-free"]
    assert not freer.daemon


def test_candidates_left_out_against_one_that_then_fails_are_brought_back(caplog):
    # "leader" has the fastest probe but fails on the workload's bulk call; "ok" was more than 2x slower on the
    # probe: it must still be measured and chosen, not lost with the leader
    leader, ok = Fake("leader", 0.0001, 0.00001, fail_bulk=True), Fake("ok", 0.0003, 0.0002)
    choice, winner, _ = run_race([leader, ok])
    assert winner.name == "ok" and choice.measurements["ok"].workload_s is not None
    assert "leader" not in choice.measurements and "leader does not run here" in caplog.text
