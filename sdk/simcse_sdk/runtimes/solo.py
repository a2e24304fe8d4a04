"""Where one short input runs while nothing else of its variant does: on one thread, or on all threads that spin.

onnxruntime runs a batch of one short sentence faster on one thread than on two that sleep between operators
(2-core Xeon with AMX, int8: 0.82 against 0.96 ms), but two threads that spin while the run lasts can be faster
still (2-core AMD EPYC with AVX512-VNNI, int8, one STS-B test sentence a call, five passes in turn: 0.91-1.13 ms
spinning against 1.23-1.85 ms on one thread; onnxruntime stops spinning when the run ends). Which wins is the
machine's, so it is measured where it runs: the first such runs alternate between the two, and once each has run
:data:`TRIES` times past its first (which sets its session up), the one with the lower median time stays (logged).
Spinning keeps every core busy for the run, so it is only for a run alone: no other call of the variant in
progress when it starts, and a caller that does not share the CPU (the server's rounds on round threads run beside
its event loop and do not spin; see :mod:`simcse_sdk.server.batching` for a lone input's round on the loop).
:class:`~simcse_sdk.runtimes.variant_sessions.VariantSessions` runs one such run at a time, so the choice needs no
lock.

Example:
    >>> choice = SoloChoice()
    >>> choice.next()          # still measuring: the two take turns
    True
    >>> for _ in range(TRIES + 1):
    ...     choice.record(True, 0.0009); choice.record(False, 0.0012)
    >>> choice.spin
    True
"""

from __future__ import annotations

import logging
import statistics

logger = logging.getLogger(__name__)

# Lone runs of each kind measured before choosing; the first of each is left out (a session's first run sets it up).
TRIES = 12


class SoloChoice:
    """Measures, then remembers, whether a lone short input runs faster on all threads spinning or on one thread."""

    def __init__(self) -> None:
        self.spin: bool | None = None  # the choice: True all threads spinning, False one thread; None: measuring
        self._times: dict[bool, list[float]] = {True: [], False: []}  # seconds a run, by spinning

    def next(self) -> bool:
        """Whether the next lone run spins (while measuring: the kind with fewer runs so far)."""
        if self.spin is not None:
            return self.spin
        return len(self._times[True]) <= len(self._times[False])

    def record(self, spin: bool, seconds: float) -> None:
        """A lone run took ``seconds``; after :data:`TRIES` runs of each kind (past the first), choose."""
        if self.spin is not None:
            return
        self._times[spin].append(seconds)
        if min(len(t) for t in self._times.values()) <= TRIES:
            return
        median = {kind: statistics.median(t[1:]) for kind, t in self._times.items()}
        self.spin = median[True] < median[False]
        logger.info("one short input alone runs on %s here: median %.2f ms spinning on all threads against %.2f ms "
                    "on one thread, of %d runs each (each kind's first left out)",
                    "all threads" if self.spin else "one thread", median[True] * 1e3, median[False] * 1e3, TRIES)
