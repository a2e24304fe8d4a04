"""Cosine similarity and top-k search over embeddings.

Search runs over the corpus in chunks, so a large corpus never needs the full
queries × corpus matrix in memory. When faiss is installed, :class:`FaissIndex` gives the
same (exact, inner-product) results with faiss' kernels.

Every function takes what ``Encoder.encode`` returns: float32 vectors, ``output="int8"`` vectors (int8: their
cosine as numbers, since one scale a size keeps it the float cosine's estimate) and ``output="ubinary"`` packed
sign bits (a uint8 array: scored ``cos(pi * hamming / bits)``, see :mod:`simcse_sdk.vectors.precision`). Both
sides of a comparison must be packed bits or neither.

Examples:
    >>> import numpy as np
    >>> a = np.array([[1.0, 0.0], [0.0, 2.0]]); b = np.array([[1.0, 1.0], [0.0, 1.0]])
    >>> [round(float(x), 3) for x in pairwise_cosine(a, b)]
    [0.707, 1.0]
    >>> idx, scores = search(a, b, top_k=1)
    >>> idx.tolist()
    [[0], [1]]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InputError, InvalidArgumentError, MissingExtraError
from .vectors.precision import bits_cosine, bits_pairwise_cosine


def normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Rows of ``x`` (n, d) scaled to unit L2 norm (float32); all-zero rows stay zero."""
    x = _as_float32(x, "x")
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)


def _as_float32(x: object, name: str) -> np.ndarray:
    """``x`` as a float32 array, or an :class:`InputError` for text, objects, complex numbers, ragged lists."""
    try:
        arr = np.asarray(x)
    except ValueError as e:  # ragged nested lists
        raise InputError(f"{name} must be a numeric (n, dim) array of embeddings; it is ragged ({e}).") from None
    if arr.dtype.kind not in "fiub":
        raise InputError(
            f"{name} must be a numeric (n, dim) array of embeddings, got {type(x).__name__} of dtype {arr.dtype}"
            f"{' (complex numbers are not embeddings)' if arr.dtype.kind == 'c' else ''}."
        )
    if arr.dtype.kind in "iu" and arr.dtype.itemsize > 1:  # packed bits as int64 would be scored as floats
        raise InputError(wider_ints(name, arr.dtype))
    with np.errstate(over="ignore"):  # beyond float32's range becomes inf, which the finite check names
        return arr.astype(np.float32, copy=False)


def wider_ints(name: str, dtype: np.dtype) -> str:
    """The message for integer vectors wider than a byte: what encode() returns never is."""
    return (f"{name} has dtype {dtype}: encode() gives float32, int8 (output='int8') or uint8 packed bits "
            "(output='ubinary'), and integers read back as Python ints (pyarrow's to_pylist) have lost which: "
            "cast with .astype(np.int8) or .astype(np.uint8), or read the column with .to_numpy(); real-valued "
            "vectors given as Python ints: .astype(np.float32).")


def _check_finite(x: np.ndarray, name: str, offset: int = 0) -> None:
    """Raise :class:`InvalidArgumentError` naming the first row of ``x`` (n, dim) holding NaN or inf."""
    if not np.isfinite(x).all():
        row = int(np.flatnonzero(~np.isfinite(x).all(axis=1))[0])
        raise InvalidArgumentError(
            f"{name} row {offset + row} holds NaN or inf (or a value beyond float32's range), so its cosine "
            "is undefined: drop or re-embed that row."
        )


def _as_matrix(x: np.ndarray, name: str, finite: bool = True, empty_width: int | None = None) -> np.ndarray:
    """``x`` as (n, dim) float32 (a 1-D vector is one row), dim >= 1, checked finite unless ``finite=False``; with
    ``empty_width``, an empty 1-D input (``[]``) is no rows of that width (a corpus with nothing in it yet)."""
    x = _as_float32(x, name)
    if x.ndim == 1 and x.size == 0:
        if empty_width is None:
            raise InvalidArgumentError(f"{name} is empty (shape {x.shape}): embeddings need at least one dimension; "
                                       "for no rows pass an array of shape (0, dim).")
        return np.zeros((0, empty_width), dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2:
        raise InputError(f"{name} must be a (n, dim) array of embeddings, got shape {x.shape}")
    if x.shape[1] == 0:
        raise InvalidArgumentError(f"{name} has shape {x.shape}: embeddings need at least one dimension.")
    if finite:
        _check_finite(x, name)
    return x


def _check_top_k(top_k: object, name: str = "top_k") -> int:
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)):
        raise InputError(f"{name} must be an int >= 1, got {type(top_k).__name__} {top_k!r:.40}")
    if top_k < 1:
        raise InvalidArgumentError(f"{name} must be >= 1, got {top_k}")
    return int(top_k)


def _is_bits(x: object) -> bool:
    """Packed sign bits (``encode(..., output="ubinary")``): a uint8 numpy array."""
    return isinstance(x, np.ndarray) and x.dtype == np.uint8


def _bits_pair(a: object, b: object, names: tuple[str, str]) -> bool:
    """True when both are packed bits (checked 2-D, equal width); an :class:`InputError` when only one is."""
    if _is_bits(a) != _is_bits(b):
        packed, other = names if _is_bits(a) else names[::-1]
        raise InputError(f"{packed} is packed bits (uint8, output='ubinary') but {other} is not: encode both with "
                         "the same output, or cast non-bit uint8 data to float first.")
    if not _is_bits(a):
        return False
    for x, name in ((a, names[0]), (b, names[1])):
        assert isinstance(x, np.ndarray)
        if x.ndim != 2 or x.shape[1] == 0:
            raise InputError(f"{name} must be (n, bytes) packed bits, got shape {x.shape}")
    assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
    if a.shape[1] != b.shape[1]:
        raise InputError(f"packed bit widths differ: {names[0]} {8 * a.shape[1]} bits, {names[1]} {8 * b.shape[1]} "
                         "(uint8 is read as packed bits, output='ubinary': 8 dimensions a byte): encode both with "
                         "the same model, output='ubinary' and dimensions, or pass other uint8 data as float32.")
    return True


def pairwise_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine of row i of ``a`` with row i of ``b``: shape (n,)."""
    if _bits_pair(a, b, ("a", "b")):
        if a.shape != b.shape:
            raise InputError(f"pairwise cosine needs equal shapes, got {a.shape} and {b.shape}")
        return bits_pairwise_cosine(a, b)
    a, b = _as_matrix(a, "a"), _as_matrix(b, "b")
    if a.shape != b.shape:
        raise InputError(f"pairwise cosine needs equal shapes, got {a.shape} and {b.shape}")
    return np.einsum("nd,nd->n", normalize(a), normalize(b))


def cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """All cosines between rows of ``a`` (n, d) and rows of ``b`` (m, d): shape (n, m)."""
    if _bits_pair(a, b, ("a", "b")):
        return bits_cosine(a, b)
    a, b = _as_matrix(a, "a"), _as_matrix(b, "b")
    if a.shape[1] != b.shape[1]:
        raise InputError(f"embedding sizes differ: {a.shape[1]} and {b.shape[1]}: encode both with the same model "
                         "and the same dimensions=.")
    return normalize(a) @ normalize(b).T


def search(
    queries: np.ndarray, corpus: np.ndarray, top_k: int = 10, chunk_size: int = 65536
) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine top-k: returns (indices, scores), each (n_queries, k), best first.

    The corpus is scanned ``chunk_size`` rows at a time, keeping a running top-k, so memory
    is O(n_queries × (chunk_size + k)) whatever the corpus size. ``k = min(top_k, len(corpus))``,
    so an empty corpus gives (n_queries, 0) arrays. A query or corpus row holding NaN or inf
    raises :class:`~simcse_sdk.errors.InvalidArgumentError` naming the row; an all-zero row
    scores 0 against everything. Equal scores (duplicate rows; often with packed bits) rank the lower
    corpus index first, both in their order and in which of them make the top k, as a stable sort of all
    scores would; :meth:`FaissIndex.search` follows the same rule. (Float sums may differ in their last
    bit with where BLAS meets a row, so two identical float rows can score one ulp apart.)
    """
    if _is_bits(queries) and queries.ndim == 1:  # one query as a 1-D row, as float queries may be
        queries = queries[None, :]
    bits = _bits_pair(queries, corpus, ("queries", "corpus"))
    if bits:
        q, c = queries, corpus
    else:
        q = _as_matrix(queries, "queries")
        c = _as_matrix(corpus, "corpus", finite=False, empty_width=q.shape[1])  # its rows: checked by chunk
        if q.shape[1] != c.shape[1]:
            raise InputError(f"embedding sizes differ: queries {q.shape[1]}, corpus {c.shape[1]}: encode the queries "
                             "with the corpus's model and dimensions= (Encoder.search does that for you).")
        q = normalize(q)
    top_k = _check_top_k(top_k)
    chunk_size = _check_top_k(chunk_size, "chunk_size")
    k = min(top_k, len(c))
    best_scores = np.full((len(q), 0), -np.inf, dtype=np.float32)  # (n_queries, <=k)
    best_idx = np.zeros((len(q), 0), dtype=np.int64)
    for start in range(0, len(c), chunk_size):
        if bits:
            chunk, scores = c[start : start + chunk_size], bits_cosine(q, c[start : start + chunk_size])
        else:
            _check_finite(c[start : start + chunk_size], "corpus", offset=start)
            chunk = normalize(c[start : start + chunk_size])
            scores = q @ chunk.T  # (n_queries, chunk)
        cand_scores = np.concatenate([best_scores, scores], axis=1)
        cand_idx = np.concatenate([best_idx, np.broadcast_to(np.arange(start, start + len(chunk)), scores.shape)], axis=1)
        best_idx, best_scores = _top_k_lower_index(cand_idx, cand_scores, min(k, cand_scores.shape[1]))
    # Sort best first; ties broken by the lower corpus index, like a stable full sort.
    order = np.lexsort((best_idx, -best_scores), axis=1)
    return np.take_along_axis(best_idx, order, axis=1), np.take_along_axis(best_scores, order, axis=1)


def _top_k_lower_index(idx: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k best of ``scores`` (n, m) with their ``idx`` (ascending along each row), in index order; of equal
    scores at the k-th place the lower indices (argpartition alone picks any of them). O(m) a row, as argpartition."""
    kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1 : k]  # (n, 1): each row's k-th best score
    above, tie = scores > kth, scores == kth
    keep = above | tie
    left = k - above.sum(axis=1)  # places left for the scores equal to the k-th
    over = np.flatnonzero(tie.sum(axis=1) > left)  # rows with more of them than places: keep the first (lower index)
    if len(over):
        keep[over] = above[over] | (tie[over] & (np.cumsum(tie[over], axis=1) <= left[over, None]))
    return idx[keep].reshape(len(idx), k), scores[keep].reshape(len(idx), k)


def _lower_index_first(idx: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The first k of rows sorted best first (faiss' results), each run of equal scores put in corpus-index order:
    only entries within a run move (the rule of :func:`search`)."""
    runs = np.concatenate([np.zeros((len(scores), 1), dtype=np.int64),
                           np.cumsum(scores[:, 1:] != scores[:, :-1], axis=1)], axis=1)
    order = np.lexsort((idx, runs), axis=1)[:, :k]
    return np.take_along_axis(idx, order, axis=1), np.take_along_axis(scores, order, axis=1)


def corpus_form(corpus_embeddings: object, dim: int) -> tuple[np.ndarray, int | None, str]:
    """(corpus, dimensions, output): the corpus as an array, and how queries must be encoded to be scored against it
    by a model of ``dim`` values: its width gives the size (None: the full one), its dtype the output (int8;
    uint8: ubinary). An empty list is an empty corpus (as search() reads one); rows of no values are refused."""
    c = np.asarray(corpus_embeddings)
    if c.dtype.kind in "iu" and c.dtype.itemsize > 1 and c.size:  # else queries encoded at the bits' byte width
        raise InputError(wider_ints("corpus_embeddings", c.dtype))
    if c.ndim == 2 and c.shape[1] == 0:
        raise InputError(f"corpus_embeddings has shape {c.shape}: rows of no values. Pass what encode() returned "
                         "for the corpus, shape (n, width).")
    out = {np.dtype(np.int8): "int8", np.dtype(np.uint8): "ubinary"}.get(c.dtype, "float32")
    width = c.shape[-1] * (8 if out == "ubinary" else 1) if c.ndim == 2 else dim
    dims = min(width, dim) if width != dim else None  # a wrong width: search() names both sizes
    return c, dims, out


class FaissIndex:
    """Exact index over normalised embeddings (needs ``pip install faiss-cpu``): inner product for float and int8
    vectors, Hamming distance (``faiss.IndexBinaryFlat``) for packed bits, scored as :func:`search` scores.

    Example:
        >>> index = FaissIndex(corpus_embeddings)                 # doctest: +SKIP
        >>> indices, scores = index.search(query_embeddings, 5)   # doctest: +SKIP
    """

    def __init__(self, corpus: np.ndarray) -> None:
        try:
            import faiss
        except ImportError as e:
            raise MissingExtraError("FaissIndex needs faiss: pip install 'simcse-sdk[faiss]' (faiss-cpu)") from e
        self.bits = _is_bits(corpus)  # packed sign bits (output="ubinary")
        if self.bits:
            _bits_pair(corpus, corpus, ("corpus", "corpus"))
            c = np.ascontiguousarray(corpus)
            self._index: Any = faiss.IndexBinaryFlat(8 * c.shape[1])
        else:
            c = normalize(_as_matrix(corpus, "corpus"))
            self._index = faiss.IndexFlatIP(c.shape[1])
        self._index.add(np.ascontiguousarray(c))
        self.size = len(c)
        self.dim = int(c.shape[1])  # float: components; bits: bytes a row

    def search(self, queries: np.ndarray, top_k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """(indices, scores), each (n_queries, k), best first — the same as :func:`search`, equal scores included:
        the lower corpus index first, both in their order and in which of them make the top k (faiss' own order
        among equal scores is redone, fetching further where a run of them reaches the k-th place)."""
        if _is_bits(queries) != self.bits:
            raise InputError(f"this index holds {'packed bits' if self.bits else 'float vectors'}; the queries must "
                             "be encoded with the same output.")
        q = (queries[None, :] if queries.ndim == 1 else queries) if self.bits else \
            normalize(_as_matrix(queries, "queries"))  # one query may be a 1-D row, as for float vectors
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise InputError(f"embedding sizes differ: queries {q.shape[-1]}, index {self.dim}")
        k = min(_check_top_k(top_k), self.size)
        if k == 0:  # an empty index: faiss refuses k=0, search() gives (n_queries, 0)
            return np.zeros((len(q), 0), dtype=np.int64), np.zeros((len(q), 0), dtype=np.float32)
        q = np.ascontiguousarray(q)
        idx, scores = np.zeros((len(q), k), dtype=np.int64), np.zeros((len(q), k), dtype=np.float32)
        rows, fetch = np.arange(len(q)), min(2 * k + 64, self.size)  # faiss' time hardly grows with k: a margin
        while len(rows):
            s, i = self._index.search(q if len(rows) == len(q) else q[rows], fetch)
            if self.bits:  # Hamming distances -> cos(pi * h / bits), as search() scores them
                s = np.cos(np.pi * s / (8 * self.dim)).astype(np.float32)
            # faiss picks among equal scores in its own order. Where the run of scores equal to the k-th reaches the
            # last one fetched, rows beyond it may belong in it: fetch those queries again, four times as many.
            done = (s[:, -1] != s[:, k - 1]) | (fetch == self.size)
            idx[rows[done]], scores[rows[done]] = _lower_index_first(i[done].astype(np.int64), s[done], k)
            rows, fetch = rows[~done], min(4 * fetch, self.size)
        return idx, scores
