"""Embedding a task's sentences: deduplicate, encode each unique sentence once, map back.

``Encode`` is any function from a list of sentences to an (N, D) array, row i for
sentence i: ``Encoder(...).encode``, a sentence-transformers model's ``encode``, a lambda.
Unique sentences are sorted by length (less padding for encoders that batch in input
order) and passed in chunks of :data:`CHUNK` so that a tqdm progress bar can advance;
without tqdm installed the bar is silently skipped.

Example:
    >>> import numpy as np
    >>> from simcse_sdk.evaluation.encoding import embed
    >>> calls = []
    >>> def encode(sents):
    ...     calls.append(len(sents))
    ...     return np.array([[len(s), 1.0] for s in sents])
    >>> emb = embed(encode, ["ab", "a", "ab"], progress=False)
    >>> emb[:, 0].tolist(), calls
    ([2.0, 1.0, 2.0], [2])
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .errors import EncodeOutputError

logger = logging.getLogger(__name__)

#: Any function from a list of sentences to an (N, D) float array, in input order.
Encode = Callable[[list[str]], np.ndarray]

#: Sentences per call to ``encode``.
CHUNK = 2048


def _progress_bar(total: int, desc: str, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit="sent", leave=False)


def embed(
    encode: Encode, sentences: Sequence[str], progress: bool = True, desc: str = "encoding"
) -> np.ndarray:
    """Embed ``sentences`` with ``encode``, each distinct sentence once; returns (N, D) float32 rows.

    Raises:
        EncodeOutputError: ``encode`` returned a non-2-D array, or a row count other than its input's.
    """
    unique = sorted(set(sentences), key=lambda s: (len(s), s))
    index = {s: i for i, s in enumerate(unique)}
    parts: list[np.ndarray] = []
    bar = _progress_bar(len(unique), desc, progress)
    try:
        for start in range(0, len(unique), CHUNK):
            chunk = unique[start : start + CHUNK]
            out = checked_output(encode(list(chunk)), chunk)
            parts.append(out)
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    if not parts:
        return np.zeros((0, 0), dtype=np.float32)
    table = np.concatenate(parts, axis=0)
    logger.debug("%s: %d sentences, %d unique", desc, len(sentences), len(unique))
    return table[np.fromiter((index[s] for s in sentences), dtype=np.int64, count=len(sentences))]


def checked_output(out: object, sentences: Sequence[str]) -> np.ndarray:
    """``encode``'s output as (N, D) float32, or :class:`EncodeOutputError`: wrong shape, not numbers, NaN/inf."""
    try:
        arr = np.asarray(out, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise EncodeOutputError(f"encode returned {type(out).__name__}, not an array of numbers ({e}).") from None
    if arr.ndim != 2 or arr.shape[0] != len(sentences):
        raise EncodeOutputError(
            f"encode returned shape {arr.shape} for {len(sentences)} sentences; expected ({len(sentences)}, D)"
        )
    if not np.isfinite(arr).all():
        row = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
        raise EncodeOutputError(
            f"encode returned NaN or inf for sentence {sentences[row]!r:.80}: its scores would be undefined; "
            "check the model (or its export) on that sentence."
        )
    return arr


def unit_rows(emb: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """``emb`` with each row scaled to unit L2 norm (zero rows stay zero)."""
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    return emb / np.maximum(norms, eps)


def pair_cosine(a: np.ndarray, b: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Cosine of ``a[i]`` with ``b[i]`` for each row i (computed in float64; zero rows give 0).

    The dot product is divided by the norms after it is summed, not taken of unit rows: for ±1 vectors (packed
    bits) the dot is an exact integer, so pairs at the same Hamming distance get the very same cosine and tie in
    Spearman's ranks (unit rows summed to 1/bits steps apart by rounding, which broke the ties at random)."""
    a64, b64 = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    norms = np.maximum(np.linalg.norm(a64, axis=1), eps) * np.maximum(np.linalg.norm(b64, axis=1), eps)
    return np.einsum("ij,ij->i", a64, b64) / norms


class Memo:
    """Wrap ``encode`` so that a sentence seen before is not encoded again (for several evaluations in a row).

    Example:
        >>> import numpy as np
        >>> memo = Memo(lambda s: np.ones((len(s), 2)))
        >>> memo(["a", "b"]).shape, memo(["b", "c"]).shape, memo.encoded
        ((2, 2), (2, 2), 3)
    """

    def __init__(self, encode: Encode) -> None:
        self.encode = encode
        self.cache: dict[str, np.ndarray] = {}
        self.encoded = 0

    def __call__(self, sentences: list[str]) -> np.ndarray:
        missing = [s for s in dict.fromkeys(sentences) if s not in self.cache]
        if missing:
            out = checked_output(self.encode(missing), missing)
            self.cache.update(zip(missing, out, strict=True))
            self.encoded += len(missing)
        if not sentences:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self.cache[s] for s in sentences])
