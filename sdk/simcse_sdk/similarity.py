"""Cosine similarity and top-k search over embeddings.

Search runs over the corpus in chunks, so a large corpus never needs the full
queries × corpus matrix in memory. When faiss is installed, :class:`FaissIndex` gives the
same (exact, inner-product) results with faiss' kernels.

Example:
    >>> import numpy as np
    >>> a = np.array([[1.0, 0.0], [0.0, 2.0]]); b = np.array([[1.0, 1.0], [0.0, 1.0]])
    >>> [round(float(x), 3) for x in pairwise_cosine(a, b)]
    [0.707, 1.0]
    >>> idx, scores = search(a, b, top_k=1)
    >>> idx.tolist()
    [[0], [1]]
"""

from __future__ import annotations

import numpy as np

from .errors import InputError


def normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows of ``x`` (n, d) scaled to unit L2 norm (float32)."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)


def _as_matrix(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise InputError(f"{name} must be a (n, dim) array of embeddings, got shape {x.shape}")
    return x


def pairwise_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine of row i of ``a`` with row i of ``b``: shape (n,)."""
    a, b = _as_matrix(a, "a"), _as_matrix(b, "b")
    if a.shape != b.shape:
        raise InputError(f"pairwise cosine needs equal shapes, got {a.shape} and {b.shape}")
    return np.einsum("nd,nd->n", normalize(a), normalize(b))


def cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """All cosines between rows of ``a`` (n, d) and rows of ``b`` (m, d): shape (n, m)."""
    a, b = _as_matrix(a, "a"), _as_matrix(b, "b")
    if a.shape[1] != b.shape[1]:
        raise InputError(f"embedding sizes differ: {a.shape[1]} and {b.shape[1]}")
    return normalize(a) @ normalize(b).T


def search(
    queries: np.ndarray, corpus: np.ndarray, top_k: int = 10, chunk_size: int = 65536
) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine top-k: returns (indices, scores), each (n_queries, k), best first.

    The corpus is scanned ``chunk_size`` rows at a time, keeping a running top-k, so memory
    is O(n_queries × (chunk_size + k)) whatever the corpus size.
    """
    q, c = _as_matrix(queries, "queries"), _as_matrix(corpus, "corpus")
    if q.shape[1] != c.shape[1]:
        raise InputError(f"embedding sizes differ: queries {q.shape[1]}, corpus {c.shape[1]}")
    if top_k < 1:
        raise InputError(f"top_k must be >= 1, got {top_k}")
    k = min(top_k, len(c))
    q = normalize(q)
    best_scores = np.full((len(q), 0), -np.inf, dtype=np.float32)  # (n_queries, <=k)
    best_idx = np.zeros((len(q), 0), dtype=np.int64)
    for start in range(0, len(c), chunk_size):
        chunk = normalize(c[start : start + chunk_size])
        scores = q @ chunk.T  # (n_queries, chunk)
        cand_scores = np.concatenate([best_scores, scores], axis=1)
        cand_idx = np.concatenate([best_idx, np.broadcast_to(np.arange(start, start + len(chunk)), scores.shape)], axis=1)
        kk = min(k, cand_scores.shape[1])
        part = np.argpartition(-cand_scores, kk - 1, axis=1)[:, :kk]
        best_scores = np.take_along_axis(cand_scores, part, axis=1)
        best_idx = np.take_along_axis(cand_idx, part, axis=1)
    # Sort best first; ties broken by the lower corpus index, like a stable full sort.
    order = np.lexsort((best_idx, -best_scores), axis=1)
    return np.take_along_axis(best_idx, order, axis=1), np.take_along_axis(best_scores, order, axis=1)


class FaissIndex:
    """Exact inner-product index over normalised embeddings (needs ``pip install faiss-cpu``).

    Example:
        >>> index = FaissIndex(corpus_embeddings)                 # doctest: +SKIP
        >>> indices, scores = index.search(query_embeddings, 5)   # doctest: +SKIP
    """

    def __init__(self, corpus: np.ndarray) -> None:
        try:
            import faiss
        except ImportError as e:
            raise ImportError("FaissIndex needs faiss: pip install 'simcse-sdk[faiss]' (faiss-cpu)") from e
        c = normalize(_as_matrix(corpus, "corpus"))
        self._index = faiss.IndexFlatIP(c.shape[1])
        self._index.add(np.ascontiguousarray(c))
        self.size = len(c)

    def search(self, queries: np.ndarray, top_k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """(indices, scores), each (n_queries, k), best first — the same as :func:`search`."""
        q = normalize(_as_matrix(queries, "queries"))
        scores, idx = self._index.search(np.ascontiguousarray(q), min(top_k, self.size))
        return idx.astype(np.int64), scores
