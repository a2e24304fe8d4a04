"""The head-of-line benchmark's big request, and its refusal of settings that measure nothing."""

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.head_of_line import big_texts, passes, small_requests

ROOT = Path(__file__).resolve().parents[2]


def test_the_big_request_holds_texts_of_the_words_asked_each_from_another_place():
    sentences = [f"sentence {i} has some words in it" for i in range(100)]
    texts = big_texts(sentences, 50, 12)
    assert len(texts) == 50 and {len(t.split()) for t in texts} == {12}
    assert len(set(texts)) == 50


def test_small_requests_hold_the_sentences_asked_each_in_its_turn():
    sentences = [f"s{i}" for i in range(10)]
    assert small_requests(sentences, 1) == [[s] for s in sentences]
    assert small_requests(sentences, 4) == [["s0", "s1", "s2", "s3"], ["s4", "s5", "s6", "s7"]]


def test_the_systems_run_in_the_order_given_then_reversed_pass_by_pass():
    """The first system to run read slowest on these machines, whichever it was: no system always goes first."""
    assert passes(["sdk", "naive"], 3) == [(1, "sdk"), (1, "naive"), (2, "naive"), (2, "sdk"), (3, "sdk"),
                                           (3, "naive")]
    assert passes(["sdk"], 1) == [(1, "sdk")]


@pytest.mark.parametrize("flags", [["--passes", "0"], ["--big", "0"], ["--small-size", "0"], ["--every", "-1"], ["--systems", "sdk-baseline", "--baseline",
                                                                       "/nonexistent"]])
def test_settings_that_measure_nothing_are_refused_before_any_server_starts(flags):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "head_of_line.py"), *flags],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2 and "error:" in done.stderr and "up in" not in done.stderr
    assert flags[0] in done.stderr  # the bad setting named
