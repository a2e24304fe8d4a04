"""STS over vector sizes and output types: one table of tasks × (size, output), with the bytes a vector takes.

For each (size, output) pair the model's float32 vectors (each sentence embedded once) are shaped as
``Encoder.encode(..., dimensions=size, output=output)`` shapes them (:mod:`simcse_sdk.vectors`) and scored
with the STS protocol: int8 vectors by their cosine as numbers, packed bits by ``1 - 2 * hamming / bits`` (the
cosine of their ±1 vectors; the same ranking, so the same Spearman, as ``cos(pi * hamming / bits)``).

Example:
    >>> res = evaluate_sizes(Encoder("models/m"), "/data", [384, 64], ["float32", "int8"])   # doctest: +SKIP
    >>> res.scores[(64, "int8")]["STS-B"]                                                 # doctest: +SKIP
    79.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..vectors.dimensions import check_dimensions, check_output
from ..vectors.precision import bytes_per_vector
from .data.senteval import DataDirArg
from .encoding import Memo
from .results import markdown_table
from .sts import evaluate_sts

if TYPE_CHECKING:
    from ..encoder import Encoder


def scoring_form(vectors: np.ndarray, output: str, dimensions: int) -> np.ndarray:
    """Vectors whose cosine is what ``output`` is scored by: packed bits as ±1 floats, others as floats."""
    if output == "ubinary":
        return np.unpackbits(vectors, axis=1)[:, :dimensions].astype(np.float32) * 2 - 1  # (n, dimensions)
    return vectors.astype(np.float32)


@dataclass(frozen=True)
class SizesResult:
    """STS Spearman ×100 for each (size, output) pair, with the task order of the STS table."""

    tasks: list[str]
    scores: dict[tuple[int, str], dict[str, float]]  # (size, output) -> task -> Spearman x100, "Avg." included

    def table(self) -> str:
        pairs = list(self.scores)
        header = ["task", *[f"{d} {o}" for d, o in pairs]]
        rows = [[t, *[f"{self.scores[p][t]:.2f}" for p in pairs]] for t in [*self.tasks, "Avg."]]
        rows.append(["bytes / vector", *[str(bytes_per_vector(d, o)) for d, o in pairs]])
        return markdown_table(header, rows)

    def to_dict(self) -> dict[str, Any]:
        return {f"{d}/{o}": {"dimensions": d, "output": o, "bytes_per_vector": bytes_per_vector(d, o), "sts": s}
                for (d, o), s in self.scores.items()}


def evaluate_sizes(encoder: Encoder, data_dir: DataDirArg, dimensions: Sequence[int], outputs: Sequence[str],
                   tasks: Sequence[str] | None = None, batch_size: int | None = None) -> SizesResult:
    """Score ``encoder`` on the STS ``tasks`` (default: all seven) at each size in ``dimensions`` × ``outputs``."""
    sizes = [check_dimensions(d, encoder.dim) or encoder.dim for d in dimensions]
    kinds = list(outputs)
    for d in sizes:  # every pair checked before any sentence is embedded
        for o in kinds:
            check_output(o, d, encoder.dim)

    def embed(s: list[str]) -> np.ndarray:  # (n, dim) float32
        return encoder.encode(s) if batch_size is None else encoder.encode(s, batch_size=batch_size)

    base = Memo(embed)  # each sentence embedded once for every pair
    scores: dict[tuple[int, str], dict[str, float]] = {}
    names: list[str] = []
    for d in sizes:
        for o in kinds:
            def shaped(s: list[str], d: int = d, o: str = o) -> np.ndarray:
                return scoring_form(encoder.shaper.shape(base(s), d, o, normalize=False), o, d)

            res = evaluate_sts(shaped, data_dir, tasks=tasks, progress=not scores)
            names = list(res.scores)
            scores[(d, o)] = {**res.scores, "Avg.": res.avg}
    return SizesResult(names, scores)
