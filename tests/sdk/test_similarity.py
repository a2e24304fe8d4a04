"""Equal scores in top-k search: search() and FaissIndex both put the lower corpus index first, as a stable sort."""

from __future__ import annotations

import numpy as np
import pytest
from simcse_sdk import FaissIndex, cosine_matrix, search
from simcse_sdk.errors import InputError
from simcse_sdk.vectors.precision import pack_bits


def exact_rows(rng: np.random.Generator, n: int, d: int = 16) -> np.ndarray:
    """Rows of four +-1 and zeros elsewhere: norm 2, so every cosine is a multiple of 1/4, exact in float32 in any
    summation order. Equal scores are then equal in numpy's and faiss' kernels alike (random float rows can come out
    one ulp apart by where BLAS puts them), and they are many."""
    x = np.zeros((n, d), dtype=np.float32)
    for row in x:
        row[rng.choice(d, 4, replace=False)] = rng.choice([-1.0, 1.0], 4)
    return x


def corpus_and_queries(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """A corpus of 300 rows drawn from 25 (each row repeated about 12 times), and 20 queries, as ``kind``."""
    rng = np.random.default_rng(7)
    if kind == "ubinary":  # packed sign bits of real-valued rows: Hamming distances tie often, duplicates or not
        base, queries = rng.normal(size=(25, 64)), rng.normal(size=(20, 64))
        return pack_bits(base[rng.integers(0, 25, 300)]), pack_bits(queries)
    base, queries = exact_rows(rng, 25), exact_rows(rng, 20)
    base[3] = 0  # an all-zero row scores 0, tied with every orthogonal row
    corpus = base[rng.integers(0, 25, 300)]
    if kind == "int8":
        return (corpus * 64).astype(np.int8), (queries * 64).astype(np.int8)
    return corpus, queries


def stable_top_k(queries: np.ndarray, corpus: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-cosine_matrix(queries, corpus), axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("kind", ["float32", "int8", "ubinary"])
@pytest.mark.parametrize("chunk_size", [7, 64, 65536])
def test_search_keeps_the_lower_index_of_equal_scores_in_order_and_at_the_kth_place(kind: str, chunk_size: int):
    # argpartition took any of the rows tied at the k-th place: which ones depended on the chunk size
    corpus, queries = corpus_and_queries(kind)
    for k in (1, 5, 37, 300):
        idx, scores = search(queries, corpus, top_k=k, chunk_size=chunk_size)
        np.testing.assert_array_equal(idx, stable_top_k(queries, corpus, k))
        assert (np.diff(scores, axis=1) <= 0).all()


@pytest.mark.parametrize("kind", ["float32", "int8", "ubinary"])
def test_faiss_index_orders_equal_scores_as_search_does(kind: str):
    pytest.importorskip("faiss", reason="faiss is optional: pip install 'simcse-sdk[faiss]'")
    corpus, queries = corpus_and_queries(kind)
    index = FaissIndex(corpus)
    for k in (1, 5, 37, 150, 300, 1000):
        ref_idx, ref_scores = search(queries, corpus, top_k=k)
        idx, scores = index.search(queries, top_k=k)
        np.testing.assert_array_equal(idx, ref_idx, err_msg=f"top_k={k}")
        np.testing.assert_array_equal(scores, ref_scores, err_msg=f"top_k={k}")
    one_idx, _ = index.search(queries[4], top_k=9)  # one query: faiss' other (non-BLAS) kernel
    np.testing.assert_array_equal(one_idx, search(queries[4], corpus, top_k=9)[0])


def test_faiss_index_puts_a_rows_copies_in_corpus_order():
    # the reported case: a random float corpus holding each row two or three times
    pytest.importorskip("faiss", reason="faiss is optional: pip install 'simcse-sdk[faiss]'")
    rng = np.random.default_rng(3)
    base = rng.normal(size=(40, 32)).astype(np.float32)
    corpus = base[np.r_[np.arange(40), np.arange(40), np.arange(0, 40, 2)]]  # row i at i, 40 + i, (even) 80 + i / 2
    idx, scores = FaissIndex(corpus).search(base[::5], top_k=3)  # rows 0, 5, ..., 35
    for i, (row, row_scores) in enumerate(zip(idx.tolist(), scores, strict=True)):
        copies = [5 * i, 5 * i + 40] + ([80 + 5 * i // 2] if i % 2 == 0 else [])
        assert row[: len(copies)] == copies and row_scores[0] == row_scores[len(copies) - 1]


def test_a_corpus_of_another_width_is_refused_with_what_to_do():
    """A corpus from another model (or another dimensions=) cannot be searched: the error says how to encode it."""
    q, c = np.ones((1, 384), np.float32), np.ones((3, 768), np.float32)
    with pytest.raises(InputError, match=r"queries 384, corpus 768: encode the queries with the corpus's model"):
        search(q, c)
    with pytest.raises(InputError, match=r"3072 \(uint8 is read as packed bits.*output='ubinary'"):
        search(np.ones((1, 48), np.uint8), np.ones((3, 384), np.uint8))
