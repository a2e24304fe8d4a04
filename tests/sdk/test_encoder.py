"""Encoder behaviour users rely on: order, batching invariance, truncation, threads, search."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from simcse_sdk import Encoder, FaissIndex, cosine_matrix, pairwise_cosine, search
from simcse_sdk.inputs.batching import plan_batches
from simcse_sdk.runtimes.variant_sessions import MAX_PADDING

SENTENCES = [
    "A man is playing a guitar.",
    "",
    "The quick brown fox jumps over the lazy dog near the bank of the river.",
    "ok",
    "Stocks fell sharply after the announcement.",
    "A woman slices an onion.",
    "Two dogs run through a field.",
] * 3


def test_shape_dtype_and_input_order(encoder):
    out = encoder.encode(SENTENCES, batch_size=4)
    assert out.shape == (len(SENTENCES), encoder.dim) and out.dtype == np.float32
    one_by_one = np.stack([encoder.encode([s])[0] for s in SENTENCES])
    np.testing.assert_allclose(out, one_by_one, atol=1e-5)


def test_batch_size_and_token_budget_do_not_change_results(encoder):
    a = encoder.encode(SENTENCES, batch_size=64)
    b = encoder.encode(SENTENCES, batch_size=2, max_tokens=16)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_empty_string_is_embedded(encoder):
    out = encoder.encode(["", "x"])
    assert np.isfinite(out).all() and np.linalg.norm(out[0]) > 0


def test_long_text_is_truncated_to_max_length(encoder):
    max_len = encoder.manifest.max_seq_length
    long_text = " ".join(["word"] * (3 * max_len))
    just_fits = " ".join(["word"] * (max_len - 2))  # + [CLS] and [SEP]
    np.testing.assert_allclose(encoder.encode([long_text]), encoder.encode([just_fits]), atol=1e-5)


def test_normalize(encoder):
    out = encoder.encode(SENTENCES, normalize=True)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_threads_give_identical_results(encoder):
    expected = encoder.encode(SENTENCES)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: encoder.encode(SENTENCES), range(8)))
    for r in results:
        np.testing.assert_array_equal(r, expected)


@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_parallel_batches_match_one_batch_at_a_time(tiny_model_dir, variant):
    many = SENTENCES * 5
    parallel = Encoder(tiny_model_dir, device="cpu", variant=variant, threads=2)
    serial = Encoder(tiny_model_dir, device="cpu", variant=variant, threads=2, parallel_batches=False)
    a = parallel.encode(many, batch_size=4, progress=True)
    assert parallel._sessions.has_bulk  # several batches ran on the single-thread workers
    np.testing.assert_allclose(a, serial.encode(many, batch_size=4), atol=1e-5)
    assert not serial._sessions.has_bulk


def test_parallel_batches_refuse_a_model_file_replaced_after_loading(tiny_model_dir, tmp_path):
    import shutil

    from simcse_sdk.errors import ModelDirError

    model = tmp_path / "m"
    shutil.copytree(tiny_model_dir, model)
    enc = Encoder(model, device="cpu", variant="fp32", threads=2)
    (model / "model.onnx").rename(model / "old.onnx")
    shutil.copy(model / "old.onnx", model / "model.onnx")  # same bytes, but a new file: a re-export looks like this
    with pytest.raises(ModelDirError, match="changed since this Encoder was created"):
        enc.encode(SENTENCES * 5, batch_size=4)


def test_parallel_batches_work_in_a_forked_child(tiny_model_dir):
    import multiprocessing

    enc = Encoder(tiny_model_dir, device="cpu", variant="fp32", threads=2)
    expected = enc.encode(SENTENCES * 5, batch_size=4)  # creates the pool in the parent
    _FORKED["encoder"] = enc  # the forked child inherits it (an Encoder is not picklable)
    with multiprocessing.get_context("fork").Pool(1) as pool:
        got = pool.apply_async(_encode_in_child).get(timeout=60)  # hung before: the parent's pool has no threads here
    np.testing.assert_allclose(got, expected, atol=1e-5)


_FORKED = {}


def _encode_in_child():
    return _FORKED["encoder"].encode(SENTENCES * 5, batch_size=4)


def test_similarity_matches_cosine_of_embeddings(encoder):
    a, b = SENTENCES[:5], SENTENCES[5:10]
    emb_a, emb_b = encoder.encode(a), encoder.encode(b)
    np.testing.assert_allclose(encoder.similarity(a, b), pairwise_cosine(emb_a, emb_b), atol=1e-5)
    np.testing.assert_allclose(np.diag(cosine_matrix(emb_a, emb_b)), pairwise_cosine(emb_a, emb_b), atol=1e-6)


def test_int8_variant_runs_on_cpu(tiny_model_dir):
    enc = Encoder(tiny_model_dir, device="cpu", variant="int8")  # variant="auto" measures: tests/sdk/test_autotune.py
    assert enc.variant == "int8"
    assert enc.encode(SENTENCES).shape == (len(SENTENCES), enc.dim)


def _exact_topk(q, c, k):
    sims = cosine_matrix(q, c)
    order = np.lexsort((np.broadcast_to(np.arange(c.shape[0]), sims.shape), -sims), axis=1)[:, :k]
    return order, np.take_along_axis(sims, order, axis=1)


def test_chunked_search_equals_full_matrix():
    rng = np.random.default_rng(0)
    corpus, queries = rng.normal(size=(1000, 16)), rng.normal(size=(7, 16))
    idx, scores = search(queries, corpus, top_k=5, chunk_size=64)
    ref_idx, ref_scores = _exact_topk(queries, corpus, 5)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(scores, ref_scores, atol=1e-6)


def test_search_top_k_larger_than_corpus():
    idx, scores = search(np.eye(3), np.eye(3), top_k=10)
    assert idx.shape == (3, 3) and idx[:, 0].tolist() == [0, 1, 2]


def test_encoder_search_finds_the_duplicate(encoder):
    corpus = encoder.encode(SENTENCES[:7])
    idx, _ = encoder.search([SENTENCES[4]], corpus, top_k=1)
    assert idx[0, 0] == 4


def test_faiss_index_matches_exact_search():
    pytest.importorskip("faiss", reason="faiss is optional: pip install 'simcse-sdk[faiss]'")
    rng = np.random.default_rng(1)
    corpus, queries = rng.normal(size=(500, 32)).astype(np.float32), rng.normal(size=(9, 32))
    idx, scores = FaissIndex(corpus).search(queries, 5)
    ref_idx, ref_scores = search(queries, corpus, top_k=5)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(scores, ref_scores, atol=1e-5)


def test_int8_warns_on_a_cpu_weaker_than_the_export_cpu(tiny_model_dir, tmp_path, caplog):
    import json
    import shutil

    model = tmp_path / "m"
    shutil.copytree(tiny_model_dir, model)
    raw = json.loads((model / "manifest.json").read_text())
    raw["export_cpu"]["int8_flags"] = [*raw["export_cpu"]["int8_flags"], "amx_int8_fake_flag"]
    (model / "manifest.json").write_text(json.dumps(raw))
    with caplog.at_level("WARNING", logger="simcse_sdk.encoder"):
        Encoder(model, device="cpu", variant="int8")
    assert "lacks amx_int8_fake_flag" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="simcse_sdk.encoder"):
        Encoder(tiny_model_dir, device="cpu", variant="int8")
    assert "lacks" not in caplog.text


@pytest.mark.parametrize("n", [2, 3, 7])
def test_an_input_of_one_batch_is_split_over_the_threads_with_the_same_result(tiny_model_dir, n):
    few = SENTENCES[:n] if len(SENTENCES) >= n else (SENTENCES * n)[:n]
    parallel = Encoder(tiny_model_dir, device="cpu", variant="fp32", threads=2)
    serial = Encoder(tiny_model_dir, device="cpu", variant="fp32", threads=2, parallel_batches=False)
    seen: list[int] = []
    out = parallel.encode_ids(parallel.tokenizer.encode(few), on_batch=lambda b: seen.append(len(b.indices)))
    assert parallel._sessions.has_bulk and len(seen) == 2 and sum(seen) == n  # one batch a thread
    np.testing.assert_allclose(out, serial.encode(few), atol=1e-5)
    one = Encoder(tiny_model_dir, device="cpu", variant="fp32", threads=1)
    seen.clear()
    ids = one.tokenizer.encode(few)
    one.encode_ids(ids, on_batch=lambda b: seen.append(len(b.indices)))
    padding = MAX_PADDING["onnxruntime"]
    planned = [len(b.indices) for b in plan_batches(ids, one.batch_size, one.max_tokens, 0, max_padding=padding)]
    assert seen == planned and len(seen) < n  # one thread: batches as any input gets them (padding-aware), not split


def test_similarity_of_lists_of_unequal_length_is_a_value_error_naming_both(encoder):
    with pytest.raises(ValueError, match="got 2 and 1 texts"):  # InvalidArgumentError: a bad value, not a bad type
        encoder.similarity(["a", "b"], ["c"])
