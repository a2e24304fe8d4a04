"""Progress while the job runs (rows done / total, rows/s) and the summary when it ends.

Example:
    >>> from simcse_sdk.embed.summary import Summary
    >>> print(Summary(rows=1000, bad_rows=1, shards=2, shards_skipped=1, seconds=2.0, rows_embedded=500).text())
    1,000 rows in 2 shards (1 already done, skipped); embedded 500 rows in 2.0 s (250 rows/s); 1 bad row
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

logger = logging.getLogger(__name__)


@dataclass
class Summary:
    """What a finished job did."""

    rows: int  # rows in the output (all shards)
    bad_rows: int  # empty or non-text input rows (embedded as "" or skipped, per the job's bad_rows)
    shards: int  # shard files in the output
    shards_skipped: int  # shards already complete before this run (resume)
    seconds: float  # wall time of this run's embedding
    rows_embedded: int  # rows this run embedded
    duplicate_ids: int | None = None  # rows whose --id-column value another row has; None: not counted

    @property
    def rows_per_s(self) -> float:
        return self.rows_embedded / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return dict(asdict(self), rows_per_s=round(self.rows_per_s, 1))

    def text(self) -> str:
        bad = f"{self.bad_rows:,} bad row{'s' if self.bad_rows != 1 else ''}"
        shards = f"{self.shards:,} shard{'s' if self.shards != 1 else ''}"
        return (f"{self.rows:,} rows in {shards} ({self.shards_skipped:,} already done, skipped); "
                f"embedded {self.rows_embedded:,} rows in {self.seconds:.1f} s ({self.rows_per_s:,.0f} rows/s); {bad}"
                + (f"; {self.duplicate_ids:,} repeated id{'s' if self.duplicate_ids != 1 else ''}"
                   if self.duplicate_ids else ""))


class Progress:
    """A tqdm bar over rows (when tqdm is installed and ``enabled``), else a log line per shard."""

    def __init__(self, total: int, done: int, enabled: bool) -> None:
        self.total, self.done, self._start_done = total, done, done
        self._start = time.perf_counter()
        self._bar = None
        if enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                pass
            else:
                self._bar = tqdm(total=total, initial=done, unit="rows", unit_scale=True, desc="embed", smoothing=0.1)

    def update(self, rows: int) -> None:
        self.done += rows
        if self._bar is not None:
            self._bar.update(rows)
            return
        elapsed = time.perf_counter() - self._start
        rate = (self.done - self._start_done) / elapsed if elapsed > 0 else 0.0
        logger.info("embedded %d/%d rows (%.0f rows/s)", self.done, self.total, rate)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
