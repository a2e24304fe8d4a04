"""SoloChoice: a lone short input runs on whichever of one thread or all threads spinning measured faster here."""

from __future__ import annotations

import logging

import pytest
from simcse_sdk.runtimes.solo import TRIES, SoloChoice


def measure(choice: SoloChoice, seconds: dict[bool, float], first: dict[bool, float]) -> list[bool]:
    """Run the choice's measurement to its end; returns the kinds it asked for, in order."""
    asked: list[bool] = []
    while choice.spin is None:
        assert len(asked) < 4 * TRIES, "the choice never ended"
        kind = choice.next()
        asked.append(kind)
        choice.record(kind, first[kind] if asked.count(kind) == 1 else seconds[kind])
    return asked


@pytest.mark.parametrize("spin_faster", [True, False])
def test_the_kind_with_the_lower_median_stays(spin_faster, caplog):
    choice = SoloChoice()
    fast, slow = 0.0009, 0.0013
    seconds = {True: fast if spin_faster else slow, False: slow if spin_faster else fast}
    with caplog.at_level(logging.INFO, logger="simcse_sdk.runtimes.solo"):
        asked = measure(choice, seconds, first=seconds)
    assert choice.spin is spin_faster
    assert asked.count(True) == asked.count(False) == TRIES + 1  # both measured as often, taking turns
    assert all(a != b for a, b in zip(asked, asked[1:], strict=False))
    assert [choice.next() for _ in range(5)] == [spin_faster] * 5  # then it stays
    assert "one short input alone runs on %s here" % ("all threads" if spin_faster else "one thread") in caplog.text


@pytest.mark.parametrize("first_spinning_run", [0.0010, 0.5])
def test_each_kinds_first_run_is_left_out(first_spinning_run):
    """A session's first run sets it up (tens of ms): it must not decide against that session. Spinning runs take
    turns at 1.0 and 1.4 ms (median 1.2 without the first run, 1.4 with a slow first run counted), one thread 1.25."""
    choice, asked = SoloChoice(), []
    while choice.spin is None:
        kind = choice.next()
        asked.append(kind)
        n = asked.count(kind)
        seconds = (first_spinning_run if n == 1 else (0.0010, 0.0014)[n % 2]) if kind else 0.00125
        choice.record(kind, seconds)
    assert choice.spin is True


def test_runs_recorded_after_the_choice_change_nothing():
    choice = SoloChoice()
    measure(choice, {True: 0.0009, False: 0.0013}, first={True: 0.0009, False: 0.0013})
    for _ in range(10 * TRIES):
        choice.record(True, 1.0)
    assert choice.spin is True and choice.next() is True
