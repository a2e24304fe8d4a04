"""Alignment and uniformity (Wang & Isola, 2020) on STS-B, as in the SimCSE paper's section 5.

On L2-normalised embeddings f:

* alignment = mean of ||f(x) - f(y)||² over the positive pairs, the STS-B pairs with gold
  score ≥ ``threshold`` (4.0 by default);
* uniformity = log of the mean of exp(-2 ||f(x) - f(y)||²) over all distinct pairs of
  distinct sentences of the split (every sentence of either column, deduplicated).

Lower is better for both. The split is ``dev`` by default (the paper's choice).

Example:
    >>> from simcse_sdk.evaluation import alignment_uniformity
    >>> au = alignment_uniformity(model.encode, "/data")           # doctest: +SKIP
    >>> align, uniform = au                                         # doctest: +SKIP
    >>> au.to_dict()                                                # doctest: +SKIP
    {'alignment': 0.267, 'uniformity': -3.849, 'positive_pairs': 264, 'sentences': 2909, 'split': 'dev'}
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.special import logsumexp

from .arguments import check_evaluation_args, check_split, check_threshold
from .data.senteval import DataDirArg, load_stsb
from .encoding import Encode, embed, unit_rows

#: Rows per block when summing over all pairs (bounds memory to BLOCK × N floats).
BLOCK = 1024


@dataclass(frozen=True)
class AlignmentUniformity:
    """Alignment and uniformity, with the sizes they were computed on.

    Iterating yields ``(alignment, uniformity)``, so ``align, uniform = alignment_uniformity(...)`` works.
    """

    alignment: float
    uniformity: float
    positive_pairs: int
    sentences: int
    split: str

    def __iter__(self) -> Iterator[float]:
        return iter((self.alignment, self.uniformity))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def alignment(x: np.ndarray, y: np.ndarray) -> float:
    """Mean squared distance between the unit-normalised rows ``x[i]`` and ``y[i]``."""
    diff = unit_rows(np.asarray(x, dtype=np.float64)) - unit_rows(np.asarray(y, dtype=np.float64))
    return float(np.mean(np.sum(diff * diff, axis=1)))


def uniformity(emb: np.ndarray, t: float = 2.0) -> float:
    """log mean over pairs i < j of exp(-t ||e_i - e_j||²), on unit-normalised rows."""
    e = unit_rows(np.asarray(emb, dtype=np.float64))
    n = len(e)
    if n < 2:
        return float("nan")
    parts: list[float] = []
    for start in range(0, n, BLOCK):
        block = e[start : start + BLOCK]
        sq = np.maximum(2.0 - 2.0 * (block @ e.T), 0.0)  # ||a - b||² for unit rows
        rows, cols = np.triu_indices(len(block), k=1, m=n - start)
        parts.append(float(logsumexp(-t * sq[:, start:][rows, cols])))
    count = n * (n - 1) / 2
    return float(logsumexp(parts) - np.log(count))


def alignment_uniformity(
    encode: Encode,
    data_dir: DataDirArg = None,
    split: str = "dev",
    threshold: float = 4.0,
    progress: bool = False,
) -> AlignmentUniformity:
    """Alignment over STS-B pairs with gold ≥ ``threshold`` and uniformity over the split's sentences.

    Returns:
        An :class:`AlignmentUniformity`; ``align, uniform = alignment_uniformity(...)`` works.
    """
    check_evaluation_args(encode, data_dir, progress)
    split, threshold = check_split(split), check_threshold(threshold)
    pairs = load_stsb(data_dir, split)
    positive = pairs.gold >= threshold
    first = [s for s, p in zip(pairs.first, positive, strict=True) if p]
    second = [s for s, p in zip(pairs.second, positive, strict=True) if p]
    unique = sorted(set(pairs.first) | set(pairs.second))
    emb = embed(encode, [*unique, *first, *second], progress=progress, desc=f"STS-B {split}")
    n, k = len(unique), len(first)
    return AlignmentUniformity(
        alignment=alignment(emb[n : n + k], emb[n + k :]),
        uniformity=uniformity(emb[:n]),
        positive_pairs=k,
        sentences=n,
        split=split,
    )
