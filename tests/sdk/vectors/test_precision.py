"""Compact outputs: the int8 scales, int8 and packed bits, and the cosine each is scored by."""

from __future__ import annotations

import numpy as np
import pytest
from simcse_sdk import FaissIndex, cosine_matrix, pairwise_cosine, search
from simcse_sdk.errors import InputError
from simcse_sdk.vectors.precision import bits_cosine, bytes_per_vector, int8_scales, pack_bits, to_int8


@pytest.fixture
def emb() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(40, 24)).astype(np.float32)


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_int8_scales_are_the_largest_component_of_each_renormalised_prefix(emb: np.ndarray) -> None:
    scales = int8_scales(emb)
    assert len(scales) == 24
    for d in (1, 5, 24):
        assert scales[d - 1] == pytest.approx(float(np.abs(unit(emb[:, :d])).max()), abs=1e-6)
    assert scales[0] == pytest.approx(1.0)


def test_int8_keeps_the_cosine_and_fills_the_range(emb: np.ndarray) -> None:
    u = unit(emb)
    q = to_int8(u, int8_scales(emb)[-1])
    assert q.dtype == np.int8 and np.abs(q).max() == 127
    np.testing.assert_allclose(cosine_matrix(q, q), cosine_matrix(u, u), atol=0.01)
    np.testing.assert_allclose(pairwise_cosine(q[:5], q[5:10]), pairwise_cosine(u[:5], u[5:10]), atol=0.01)


def test_packed_bits_score_cos_of_pi_times_hamming_fraction(emb: np.ndarray) -> None:
    bits = pack_bits(emb)  # (40, 3)
    assert bits.dtype == np.uint8 and bits.shape == (40, 3)
    signs = np.unpackbits(bits, axis=1)
    np.testing.assert_array_equal(signs, (emb > 0).astype(np.uint8))
    ham = (signs[:, None, :] != signs[None, :, :]).sum(-1)
    np.testing.assert_allclose(bits_cosine(bits, bits), np.cos(np.pi * ham / 24), atol=1e-6)
    np.testing.assert_allclose(cosine_matrix(bits, bits), np.cos(np.pi * ham / 24), atol=1e-6)
    np.testing.assert_allclose(pairwise_cosine(bits[:4], bits[4:8]), np.cos(np.pi * ham[range(4), range(4, 8)] / 24),
                               atol=1e-6)


@pytest.mark.parametrize("kind", ["int8", "ubinary"])
def test_search_and_faiss_take_compact_vectors_and_agree(emb: np.ndarray, kind: str) -> None:
    u = unit(emb)
    corpus = to_int8(u, int8_scales(emb)[-1]) if kind == "int8" else pack_bits(u)
    idx, scores = search(corpus[:3], corpus, top_k=5)
    assert idx[:, 0].tolist() == [0, 1, 2] and np.allclose(scores[:, 0], 1.0, atol=1e-3)
    np.testing.assert_allclose(scores, np.sort(cosine_matrix(corpus[:3], corpus), axis=1)[:, ::-1][:, :5], atol=1e-5)
    pytest.importorskip("faiss")
    f_idx, f_scores = FaissIndex(corpus).search(corpus[:3], 5)
    np.testing.assert_allclose(f_scores, scores, atol=1e-4)
    assert f_idx[:, 0].tolist() == [0, 1, 2]


def test_bits_and_floats_do_not_mix(emb: np.ndarray) -> None:
    with pytest.raises(InputError, match="corpus is packed bits .* but queries is not"):
        search(emb[:2], pack_bits(emb))
    with pytest.raises(InputError, match="packed bit widths differ"):
        cosine_matrix(pack_bits(emb), pack_bits(emb[:, :8]))


def test_one_packed_query_may_be_a_1d_row_as_a_float_query_may(emb: np.ndarray) -> None:
    bits = pack_bits(unit(emb))
    idx, _ = search(bits[3], bits, top_k=2)
    assert idx.shape == (1, 2) and idx[0, 0] == 3
    pytest.importorskip("faiss")
    f_idx, _ = FaissIndex(bits).search(bits[3], 2)  # "embedding sizes differ: queries 3, index 3"
    assert f_idx.tolist() == idx.tolist()


def test_integers_wider_than_a_byte_are_refused_not_scored_as_floats(emb: np.ndarray) -> None:
    # packed bits read back with pyarrow's to_pylist are int64: scored as 3 float values a row, the ranking was noise
    as_listed = np.array(pack_bits(unit(emb)).tolist())
    assert as_listed.dtype == np.int64
    for call in (lambda: search(as_listed[:2], as_listed), lambda: cosine_matrix(as_listed, as_listed)):
        with pytest.raises(InputError, match=r"has dtype int64: .* cast with \.astype\(np\.int8\) or "
                           r"\.astype\(np\.uint8\)"):
            call()
    from simcse_sdk.similarity import corpus_form

    with pytest.raises(InputError, match="corpus_embeddings has dtype int64"):  # Encoder.search's reading of it
        corpus_form(as_listed, 24)


def test_bytes_per_vector() -> None:
    assert [bytes_per_vector(384, o) for o in ("float32", "int8", "ubinary")] == [1536, 384, 48]
    assert bytes_per_vector(60, "ubinary") == 8
