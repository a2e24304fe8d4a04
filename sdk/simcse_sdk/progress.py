"""Progress of a long ``encode``: a tqdm bar when tqdm is installed, else periodic log lines.

Example:
    >>> bar = Progress(total=3)
    >>> bar.update(3); bar.close()
    >>> bar.done
    3
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


class Progress:
    """Counts encoded sentences against ``total``."""

    def __init__(self, total: int, desc: str = "encode") -> None:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            self._bar = None
        else:
            self._bar = tqdm(total=total, unit="sent", desc=desc)
        self.total, self.done = total, 0

    def update(self, n: int) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        else:
            logger.info("encoded %d/%d", self.done, self.total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
