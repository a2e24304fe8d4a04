"""The run log: one JSON object a line in ``<run-dir>/log.jsonl``, flushed as written.

Record types: ``start`` (config, data, device), ``step`` (loss, lr, epoch, seconds), ``eval``
(dev scores, the max length they were measured at, whether it is the best so far; a NaN score is null), ``resume``, ``end`` (steps, wall time, it/s, peak memory). On resume, records
after the resumed step are dropped (they are written again as the steps are redone), so a killed
and resumed run has each step exactly once.

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "log.jsonl"
    >>> log = RunLog(p); log.write("step", step=1, loss=0.5); log.close()
    >>> read_log(p)[0]["loss"]
    0.5
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any


class RunLog:
    """Append-only JSONL writer; ``keep_until_step`` trims a resumed run's log first."""

    def __init__(self, path: Path, keep_until_step: int | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if keep_until_step is not None and self.path.exists():
            kept = [
                r for r in read_log(self.path) if r.get("step", 0) <= keep_until_step or r["type"] == "start"
            ]
            self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))
        self._f = open(self.path, "a", encoding="utf-8")

    def write(self, type_: str, **fields: Any) -> None:
        """Append one record ``{"type": type_, "time": unix seconds, **fields}``."""
        record = {"type": type_, "time": round(time.time(), 3), **fields}
        self._f.write(json.dumps(finite_or_none(record), allow_nan=False) + "\n")
        self._f.flush()

    def close(self) -> None:
        """Close the file."""
        self._f.close()


def finite_or_none(value: Any) -> Any:
    """``value`` with every NaN or infinite float (in dicts and lists too) as None: strict JSON has no NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    return value


def read_log(path: Path) -> list[dict[str, Any]]:
    """Every record of a log file (a torn last line from a kill is ignored)."""
    records = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def started_examples(run_dir: Path, state: dict[str, Any]) -> int | None:
    """How many training examples the run read when it started: its saved state's count, else (a state saved
    before the count was kept) its log's ``start`` record's; None when neither has it."""
    if "examples" in state:
        return int(state["examples"])
    path = Path(run_dir) / "log.jsonl"
    starts = [r for r in read_log(path) if r.get("type") == "start"] if path.is_file() else []
    return int(starts[0]["examples"]) if starts and "examples" in starts[0] else None
