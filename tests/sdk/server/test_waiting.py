"""The waiting line: a piece of each request in turn, at most one a thread of any one; small requests may go first."""

from __future__ import annotations

import asyncio

import numpy as np
from simcse_sdk.server.job import Job, Piece
from simcse_sdk.server.waiting import WaitingLine


def request(name: str, n: int, batch: int = 2) -> list[Piece]:
    loop = asyncio.new_event_loop()
    job = Job([f"{name}{i}" for i in range(n)], None, True, loop.create_future(), np.empty((n, 4), np.float32))
    loop.close()
    return [Piece(job, s, min(n, s + batch)) for s in range(0, n, batch)]


def names(pieces: list[Piece]) -> list[str]:
    return [p.job.texts[p.start][0] + str(p.start) for p in pieces if p.job.texts]


def test_a_piece_of_each_request_in_turn_and_at_most_one_a_thread_of_one():
    line = WaitingLine()
    line.add(request("a", 10))  # five pieces
    line.add(request("b", 1))
    line.add(request("c", 4))  # two pieces
    assert line.inputs == 15
    assert names(line.take(most_inputs=100, per_request=2)) == ["a0", "b0", "c0", "a2", "c2"]
    assert names(line.take(most_inputs=100, per_request=2)) == ["a4", "a6"]
    assert names(line.take(most_inputs=3, per_request=2)) == ["a8"]
    assert not line and line.inputs == 0


def test_small_only_takes_requests_of_one_piece_and_leaves_the_others_their_place():
    line = WaitingLine()
    line.add(request("a", 6))
    line.add(request("b", 1))
    line.add(request("c", 2))
    assert line.has_small()
    assert names(line.take(most_inputs=100, per_request=2, small_only=True)) == ["b0", "c0"]
    assert not line.has_small() and line.inputs == 6
    assert names(line.take(most_inputs=100, per_request=2)) == ["a0", "a2"]
