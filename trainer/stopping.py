"""A request to stop training early (SIGTERM from a scheduler, Ctrl-C): finish the step, save ``last/``, stop.

A pre-empted job loses at most the step it was in, not everything since the last ``--save-steps``.
The command line installs the handlers (:meth:`StopRequest.install`); :func:`trainer.train.train`
checks the request after every step. With several processes every one must save together, so
they agree on it first (one tiny all-reduce a step).

Example:
    >>> stop = StopRequest()
    >>> stop.requested(), stop.agreed()
    (False, False)
    >>> stop.set("SIGTERM"); stop.agreed()
    True
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

logger = logging.getLogger(__name__)


class StopRequest:
    """Set by a signal handler (or a caller), read between steps."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""  # what asked: "SIGTERM", "SIGINT"...

    def set(self, reason: str) -> None:
        self.reason = self.reason or reason
        self._event.set()

    def requested(self) -> bool:
        """Whether this process was asked to stop."""
        return self._event.is_set()

    def agreed(self) -> bool:
        """Whether any process was asked to stop (every process gets the same answer)."""
        import torch
        import torch.distributed as dist

        asked = self.requested()
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            flag = torch.tensor([1.0 if asked else 0.0])
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            asked = bool(flag.item())
            self.reason = self.reason or "another process"
        return asked

    def install(self) -> None:
        """Stop on SIGTERM and on the first Ctrl-C (SIGINT); a second Ctrl-C stops at once, saving nothing more."""

        def on_signal(signum: int, frame: FrameType | None) -> None:
            name = signal.Signals(signum).name
            if signum == signal.SIGINT and self.requested():
                signal.signal(signal.SIGINT, signal.default_int_handler)
                raise KeyboardInterrupt
            logger.warning("%s: stopping after this step and saving last/ (Ctrl-C again stops at once)", name)
            self.set(name)

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
