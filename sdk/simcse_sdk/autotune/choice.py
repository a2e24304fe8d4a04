"""What ``variant="auto"`` works with: a candidate as the race measures it, its measurement, and the choice.

Example:
    >>> print(Choice("int8", "onnxruntime", "asked for").describe())
    variant 'int8' (onnxruntime): asked for
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import accuracy

Encode = Callable[[list[np.ndarray], "int | None"], np.ndarray]  # (token ids, batch size or None) -> embeddings


@dataclass
class Candidate:
    """One variant as ``choose`` measures it (built by the Encoder)."""

    name: str
    runtime: str  # "onnxruntime" | "openvino"
    encode: Encode
    open: list[Callable[[], object]]  # opens each session the probe runs on; run two at a time
    open_rest: list[Callable[[], object]]  # and those the workload needs besides (opened only if it gets there)
    close: Callable[[], None]  # frees the sessions of a candidate that lost
    size_bytes: int  # of its model files, as loaded (bounds how many are open at once)
    order: float = math.inf  # the export gate's latency estimate: measured in this order, fastest first
    owner: Any = None  # handed back for the winner (the Encoder whose sessions are now open)
    min_cos: float | None = None  # its export gate's minimum cosine, checked here against the reference; None: not checked


@dataclass
class Measurement:
    """One candidate's speed on the workload; the fields after ``probe_per_s`` are None where it stopped early."""

    probe_per_s: float  # sentences/s on the probe
    sentences_per_s: float | None = None  # best bulk call of the workload
    single_ms: float | None = None  # median one-sentence call
    workload_s: float | None = None  # estimated time of the whole workload: the score, lower is better
    left_out: str = ""  # why it stopped early, "" when fully measured
    left_out_kind: str = ""  # "slower" (probe or partial workload) | "accuracy" (below its gate here) | ""


@dataclass
class Choice:
    """The variant an Encoder runs and why."""

    variant: str
    runtime: str
    reason: str  # "asked for" | "only candidate" | "measured" | "cached"
    measurements: dict[str, Measurement] = field(default_factory=dict)  # candidate -> its speed
    cache_file: str | None = None
    seconds: float | None = None  # how long measuring took (opening the candidates included)
    accuracy: dict[str, accuracy.AccuracyCheck] = field(default_factory=dict)  # candidate -> checked here vs fp32

    def describe(self) -> str:
        checked = ("; accuracy here: " + "; ".join(a.describe() for a in self.accuracy.values())) if self.accuracy else ""
        return self._speed() + checked

    def _speed(self) -> str:
        text = f"variant {self.variant!r} ({self.runtime}): "
        if self.reason in ("asked for", "only candidate"):
            return text + ("asked for" if self.reason == "asked for" else "the only candidate here")
        took = f", {self.seconds:.1f} s" if self.seconds is not None else ""
        how = f"measured now{took}" if self.reason == "measured" else f"measured earlier{took}, cached in {self.cache_file}"
        done = sorted(((n, m) for n, m in self.measurements.items() if m.workload_s is not None),
                      key=lambda kv: kv[1].workload_s or 0.0)
        rows = [f"{n} {m.sentences_per_s:.0f} sent/s, 1 sentence {m.single_ms:.2f} ms" for n, m in done]
        rows += [f"{n} left out ({m.left_out})" for n, m in self.measurements.items() if m.workload_s is None]
        return text + f"fastest of {len(self.measurements)} on this machine ({how}): " + "; ".join(rows)
