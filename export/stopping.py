"""Stopping an export on SIGTERM or Ctrl-C: the half-built folder is removed and nothing is published.

The signal handler raises :class:`Terminated`, which unwinds through the build's cleanup. CPython drops an
exception raised while a weakref callback or ``__del__`` runs (it prints "Exception ignored in ..." and goes on):
a SIGTERM that landed in an import lock's callback was lost, and the export published its folder and exited 0.
So the handler also records the request, and :func:`check` (called just before publishing) raises it again.

Example:
    >>> import signal
    >>> signal.signal(signal.SIGTERM, on_signal)        # doctest: +SKIP
    >>> check()                                         # before the rename that publishes; raises if asked to stop
"""

from __future__ import annotations

import threading

_requested = threading.Event()  # set by on_signal, never cleared: an export that was asked to stop does not publish


class Terminated(KeyboardInterrupt):
    """SIGTERM or Ctrl-C, handled as Ctrl-C. A subclass, not KeyboardInterrupt itself: CPython marks a
    KeyboardInterrupt that leaves C code running Python (torch's exporter does) as unhandled, and at exit kills the
    process with SIGINT even after ``main`` caught it and returned 130 (seen in 2 of 12 runs: exit status -2); it
    checks the exact type."""


def on_signal(signum: int, frame: object) -> None:
    """The handler of SIGTERM and SIGINT: record the request, then unwind."""
    _requested.set()
    raise Terminated


def check() -> None:
    """Raise :class:`Terminated` if a stop was asked for, even when the handler's own raise was dropped."""
    if _requested.is_set():
        raise Terminated
