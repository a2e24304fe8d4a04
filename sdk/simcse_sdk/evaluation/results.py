"""Result records of the evaluations, each with ``to_dict()`` (JSON-able) and a markdown ``table()``.

Scores are Spearman correlations or accuracies multiplied by 100, as in the SimCSE paper.

Example:
    >>> from simcse_sdk.evaluation.results import StsResult, TaskScore
    >>> r = StsResult({"STS-B": TaskScore("STS-B", 81.234, 1379)}, wall_s=1.0, sentences=2758)
    >>> print(r.table())
    | STS-B | Avg. |
    |-------|------|
    | 81.23 | 81.23 |
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table; the rule under the header is as wide as each header cell."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("-" * (len(h) + 2) for h in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(value: float | None, digits: int = 2) -> str:
    """``value`` with ``digits`` decimals; ``-`` for a missing value."""
    return "-" if value is None else f"{value:.{digits}f}"


def mean_or_nan(values: list[float]) -> float:
    """The plain mean; NaN for an empty list."""
    return math.fsum(values) / len(values) if values else math.nan


@dataclass(frozen=True)
class TaskScore:
    """One STS task's score.

    ``spearman`` is the headline number: for STS12-16 the Spearman over all subsets
    concatenated (SentEval's ``all``), for STS-B and SICK-R the test-set Spearman.
    ``mean`` and ``wmean`` (STS12-16 only) are the plain and pair-count-weighted means of
    the per-subset Spearmans; ``subsets`` maps each subset to ``(spearman, pairs)``.
    """

    task: str
    spearman: float
    pairs: int
    mean: float | None = None
    wmean: float | None = None
    subsets: dict[str, tuple[float, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"spearman": self.spearman, "pairs": self.pairs}
        if self.mean is not None:
            out["all"] = self.spearman
            out["mean"] = self.mean
            out["wmean"] = self.wmean
        if self.subsets:
            out["subsets"] = {k: {"spearman": s, "pairs": n} for k, (s, n) in self.subsets.items()}
        return out


@dataclass(frozen=True)
class StsResult:
    """The STS evaluation: per-task :class:`TaskScore`, in the paper's column order."""

    tasks: dict[str, TaskScore]
    wall_s: float
    sentences: int

    @property
    def scores(self) -> dict[str, float]:
        """Headline Spearman ×100 per task."""
        return {k: t.spearman for k, t in self.tasks.items()}

    @property
    def pairs(self) -> dict[str, int]:
        """Scored pairs per task."""
        return {k: t.pairs for k, t in self.tasks.items()}

    @property
    def avg(self) -> float:
        """Plain mean of the headline numbers of the tasks evaluated (all 7: the paper's Avg.)."""
        return mean_or_nan(list(self.scores.values()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": "spearman x100 of cosine similarity",
            "tasks": {k: t.to_dict() for k, t in self.tasks.items()},
            "avg": self.avg,
            "wall_s": self.wall_s,
            "unique_sentences": self.sentences,
        }

    def table(self, digits: int = 2) -> str:
        """The paper's row: ``| STS12 | ... | SICK-R | Avg. |``."""
        header = [*self.tasks, "Avg."]
        return markdown_table(header, [[fmt(v, digits) for v in (*self.scores.values(), self.avg)]])

    def details(self, digits: int = 2) -> str:
        """One row per task: the ``all`` (headline), ``mean`` and ``wmean`` aggregations and pair counts."""
        rows = [
            [k, fmt(t.spearman, digits), fmt(t.mean, digits), fmt(t.wmean, digits), str(t.pairs)]
            for k, t in self.tasks.items()
        ]
        return markdown_table(["task", "all", "mean", "wmean", "pairs"], rows)


@dataclass(frozen=True)
class DevResult:
    """Dev-mode scores for model selection: STS-B dev and SICK-R trial, Spearman ×100."""

    stsb: float
    sickr: float
    wall_s: float

    @property
    def avg(self) -> float:
        """Mean of the two."""
        return (self.stsb + self.sickr) / 2

    def to_dict(self) -> dict[str, Any]:
        return {"stsb_dev": self.stsb, "sickr_dev": self.sickr, "avg": self.avg, "wall_s": self.wall_s}

    def table(self, digits: int = 2) -> str:
        return markdown_table(
            ["STS-B dev", "SICK-R dev", "Avg."],
            [[fmt(self.stsb, digits), fmt(self.sickr, digits), fmt(self.avg, digits)]],
        )


@dataclass(frozen=True)
class TransferScore:
    """One transfer task: test accuracy ×100, the model-selection accuracy, sizes and chosen C."""

    task: str
    accuracy: float
    dev_accuracy: float
    n_train: int
    n_test: int
    protocol: str
    c: list[float]
    f1: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "accuracy": self.accuracy,
            "dev_accuracy": self.dev_accuracy,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "protocol": self.protocol,
            "c": self.c,
        }
        if self.f1 is not None:
            out["f1"] = self.f1
        return out


@dataclass(frozen=True)
class TransferResult:
    """The transfer evaluation: per-task :class:`TransferScore`, in the paper's column order."""

    tasks: dict[str, TransferScore]
    wall_s: float
    seed: int

    @property
    def accuracies(self) -> dict[str, float]:
        """Test accuracy ×100 per task."""
        return {k: t.accuracy for k, t in self.tasks.items()}

    @property
    def avg(self) -> float:
        """Plain mean of the accuracies of the tasks evaluated."""
        return mean_or_nan(list(self.accuracies.values()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": "accuracy x100, logistic regression on frozen embeddings",
            "tasks": {k: t.to_dict() for k, t in self.tasks.items()},
            "avg": self.avg,
            "wall_s": self.wall_s,
            "seed": self.seed,
        }

    def table(self, digits: int = 2) -> str:
        """The paper's row: ``| MR | CR | SUBJ | MPQA | SST | TREC | MRPC | Avg. |``."""
        header = ["SST" if k == "SST2" else k for k in self.tasks] + ["Avg."]
        return markdown_table(header, [[fmt(v, digits) for v in (*self.accuracies.values(), self.avg)]])
