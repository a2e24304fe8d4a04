"""The inputs admitted and not started yet: a queue of pieces a request, which rounds take in turns.

A round takes one piece of each waiting request in turn, in the order the requests came, and at most
``per_request`` pieces of any one; so a request that comes while a big one waits is in the next round, not
after all of the big one's pieces. A round beside big ones takes small requests only (:mod:`.batching`).

Example:
    >>> line = WaitingLine()
    >>> line.add(pieces_of_a_big_request); line.add(pieces_of_a_small_one)  # doctest: +SKIP
    >>> line.take(most_inputs=256, per_request=2)  # big, small, big                # doctest: +SKIP
"""

from __future__ import annotations

from collections import deque

from .job import Job, Piece


class WaitingLine:
    """Pieces admitted and not started, a queue a request, in the order the requests came."""

    def __init__(self) -> None:
        self._queues: deque[deque[Piece]] = deque()
        self.inputs = 0  # inputs of the waiting pieces

    def __bool__(self) -> bool:
        return bool(self._queues)

    def add(self, pieces: list[Piece]) -> None:
        """One request's pieces, behind every request already waiting."""
        if pieces:
            self._queues.append(deque(pieces))
            self.inputs += pieces[-1].end - pieces[0].start  # a request's pieces are its inputs in a row

    def has_small(self) -> bool:
        """Whether a request of one piece (a query, a few sentences) waits."""
        return any(q[0].whole for q in self._queues)

    def take(self, most_inputs: int, per_request: int, small_only: bool = False) -> list[Piece]:
        """Pieces for a round, up to ``most_inputs`` inputs (a piece is never split; the first is taken whatever its
        size): one of each request in turn, at most ``per_request`` of one. A request's next piece then waits behind
        every other request's. ``small_only``: requests of one piece only; the others keep their places."""
        pieces: list[Piece] = []
        size, later = 0, []  # later: requests that gave this round all they may
        taken: dict[int, int] = {}
        passed: list[deque[Piece]] = []  # requests of several pieces, with small_only
        while self._queues and (not pieces or size + self._queues[0][0].size <= most_inputs):
            queue = self._queues.popleft()
            if small_only and not queue[0].whole:
                passed.append(queue)
                continue
            piece = queue.popleft()
            pieces.append(piece)
            size += piece.size
            if queue:  # more of this request: counted (a request of one piece, the usual, costs nothing here)
                n = taken[id(queue)] = taken.get(id(queue), 0) + 1
                (later if n >= per_request else self._queues).append(queue)
        self._queues.extendleft(reversed(passed))
        self._queues.extend(later)
        self.inputs -= size
        return pieces

    def remove(self, job: Job) -> list[Piece]:
        """Take out ``job``'s waiting pieces (its client went away) and return them."""
        out = [p for q in self._queues if q[0].job is job for p in q]
        if out:
            self._queues = deque(q for q in self._queues if q[0].job is not job)
            self.inputs -= sum(p.size for p in out)
        return out

    def clear(self) -> list[Job]:
        """Empty the line; returns the jobs that were waiting."""
        jobs = [q[0].job for q in self._queues]
        self._queues.clear()
        self.inputs = 0
        return jobs
