"""Every bad value into the SDK gets an SDK error naming it and the fix (issue 12's table, then the rest).

The ``test_table_*`` tests print ``type: message`` so that ``pytest -s -k table`` shows the table's "after" column.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from simcse_sdk import (
    Encoder,
    FaissIndex,
    InferenceError,
    InputError,
    IntegrityError,
    InvalidArgumentError,
    ManifestError,
    ModelDirError,
    SimcseError,
    cosine_matrix,
    pairwise_cosine,
    search,
)
from simcse_sdk.model.manifest import Manifest


def _edit_manifest(model_dir, **changes):
    raw = json.loads((model_dir / "manifest.json").read_text())
    raw.update(changes)
    (model_dir / "manifest.json").write_text(json.dumps(raw))


def _show(e: pytest.ExceptionInfo) -> None:
    print(f"\n{type(e.value).__name__}: {e.value}")


# -- the table ----------------------------------------------------------------------------
def test_table_lone_surrogate_names_item_position_and_fix(encoder):
    with pytest.raises(InvalidArgumentError, match=r"sentences\[1\] has a lone surrogate '\\ud800' at character 4.*"
                       r"text\.encode\('utf-8', 'replace'\)") as e:
        encoder.encode(["fine", "abc \ud800 def"])
    _show(e)
    assert isinstance(e.value, ValueError)
    fixed = "abc \ud800 def".encode("utf-8", "replace").decode("utf-8")  # the fix the message gives works
    assert encoder.encode([fixed]).shape == (1, encoder.dim)


def test_table_tokenizer_json_not_json(model_copy):
    (model_copy / "tokenizer.json").write_text('{"version": "1.0", 1: 2}')
    with pytest.raises(ModelDirError, match=r"tokenizer\.json.*cannot be loaded.*re-export") as e:
        Encoder(model_copy, device="cpu", variant="fp32")
    _show(e)


def test_table_batch_size_zero_is_an_error(encoder):
    with pytest.raises(InvalidArgumentError, match=r"batch_size=0 is out of range: pass an int >= 1, or None") as e:
        encoder.encode(["a"], batch_size=0)
    _show(e)


def test_table_negative_batch_size_is_an_sdk_value_error(encoder):
    with pytest.raises(InvalidArgumentError, match=r"batch_size=-1 is out of range") as e:
        encoder.encode(["a"], batch_size=-1)
    _show(e)
    assert isinstance(e.value, ValueError) and isinstance(e.value, SimcseError)


def test_table_negative_threads(tiny_model_dir):
    with pytest.raises(InvalidArgumentError, match=r"threads=-3 is out of range: pass an int in 1\.\.1024, or None") as e:
        Encoder(tiny_model_dir, device="cpu", variant="fp32", threads=-3)
    _show(e)


def test_table_embedding_dim_negative(model_copy):
    _edit_manifest(model_copy, embedding_dim=-5)
    with pytest.raises(ManifestError, match=r"manifest\.json.*embedding_dim must be an integer >= 1, got -5") as e:
        Encoder(model_copy, device="cpu", variant="fp32")
    _show(e)


def test_table_embedding_dim_disagrees_with_graph(model_copy):
    _edit_manifest(model_copy, embedding_dim=16)
    with pytest.raises(ManifestError, match=r"embedding_dim 16, but the graph .*model\.onnx.* declares output shape "
                       r"\['batch', 32\].*re-export") as e:
        Encoder(model_copy, device="cpu", variant="fp32")
    _show(e)


def test_table_truncated_onnx_without_verify(model_copy):
    data = (model_copy / "model.onnx").read_bytes()
    (model_copy / "model.onnx").write_bytes(data[: len(data) // 2])
    with pytest.raises(IntegrityError, match=r"model\.onnx.* is not a loadable ONNX model.*truncated.*re-export") as e:
        Encoder(model_copy, device="cpu", variant="fp32", verify=False)
    _show(e)


def test_table_dict_is_not_a_list_of_texts(encoder):
    with pytest.raises(InputError, match=r"sentences is a dict, not a list of strings: pass list\(d\.values\(\)\)") as e:
        encoder.encode({"first": 1, "second": 2})
    _show(e)


def test_table_search_over_nan_rows(encoder):
    corpus = encoder.encode(["a", "b", "c"])
    corpus[2, 5] = np.nan
    with pytest.raises(InvalidArgumentError, match=r"corpus row 2 holds NaN or inf.*drop or re-embed") as e:
        search(corpus[:1], corpus, top_k=2)
    _show(e)
    with pytest.raises(InvalidArgumentError, match="corpus row 70000"):  # found in a later chunk too
        search(corpus[:1], np.vstack([np.ones((70000, corpus.shape[1])), corpus[2:]]))


# -- encode and encode_ids ------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "error", "message"), [
    ({"a", "b"}, InputError, r"sentences is a set, which has no order"),
    (b"abc", InputError, r"sentences is bytes: decode"),
    (np.array([["a", "b"]]), InputError, r"numpy array of shape \(1, 2\)"),
    (5, InputError, r"sentences must be a list of strings, got int"),
    (["ok", 3], InputError, r"sentences\[1\] is int"),
])
def test_bad_sentences(encoder, value, error, message):
    with pytest.raises(error, match=message):
        encoder.encode(value)


def test_accepted_containers_give_the_same_rows(encoder):
    texts = ["first text", "", "a third one"]
    expected = encoder.encode(texts)
    for value in (tuple(texts), (t for t in texts), np.array(texts), np.array(texts, dtype=object)):
        np.testing.assert_allclose(encoder.encode(value), expected, atol=1e-6)


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"batch_size": 2.0}, InputError, r"batch_size must be an int >= 1, or None .*got float 2\.0"),
    ({"batch_size": True}, InputError, r"batch_size must be an int.*got bool"),
    ({"max_tokens": 0}, InvalidArgumentError, r"max_tokens=0 is out of range"),
    ({"max_tokens": "8k"}, InputError, r"max_tokens must be an int"),
    ({"normalize": "yes"}, InputError, r"normalize must be True or False; got str 'yes'"),
    ({"progress": None}, InputError, r"progress must be True or False"),
])
def test_bad_encode_options(encoder, kwargs, error, message):
    with pytest.raises(error, match=message):
        encoder.encode(["a"], **kwargs)


def test_numpy_ints_are_accepted_as_sizes(encoder):
    out = encoder.encode(["a", "b"], batch_size=np.int64(1), max_tokens=np.int32(100), normalize=np.bool_(True))
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"threads": 0}, InvalidArgumentError, r"threads=0 is out of range"),
    ({"threads": 2.5}, InputError, r"threads must be an int"),
    ({"batch_size": 0}, InvalidArgumentError, r"batch_size=0 is out of range"),
    ({"verify": "no"}, InputError, r"verify must be True or False"),
    ({"variant": None}, InputError, r"variant must be a str"),
    ({"device": 0}, InputError, r"device must be a str"),
])
def test_bad_encoder_arguments(tiny_model_dir, kwargs, error, message):
    with pytest.raises(error, match=message):
        Encoder(tiny_model_dir, **{"device": "cpu", "variant": "fp32", **kwargs})


def test_bad_path_type():
    with pytest.raises(InputError, match="path must be a str or os.PathLike"):
        Encoder(42)


@pytest.mark.parametrize(("ids", "error", "message"), [
    ([[101, 2.5, 102]], InputError, r"token_ids\[0\]\[1\] is float \(2\.5\), not an int"),
    ([np.array([101.0, 102.0])], InputError, r"token_ids\[0\]\[0\] is float"),
    ([[101, True, 102]], InputError, r"token_ids\[0\]\[1\] is bool \(True\), not an int"),
    ([(101, np.True_, 102)], InputError, r"token_ids\[0\]\[1\] is bool_? \((np\.)?True_?\), not an int"),
    ([np.array([True, False])], InputError, r"token_ids\[0\]\[0\] is bool"),
    ([[101, 102], [101, -1, 102]], InvalidArgumentError, r"token_ids\[1\]\[1\] = -1 is not a token id.*range\(0, 30522\)"),
    ([[101, 30522]], InvalidArgumentError, r"token_ids\[0\]\[1\] = 30522 is not a token id"),
    ([[101, 2**70]], InvalidArgumentError, r"token_ids\[0\]\[1\] = 1180591620717411303424 is not a token id"),
    ([[101, 2**63]], InvalidArgumentError, r"token_ids\[0\]\[1\] = 9223372036854775808 is not a token id"),
    ([[]], InvalidArgumentError, r"token_ids\[0\] is empty"),
    ([list(range(1, 200))], InvalidArgumentError, r"token_ids\[0\] has 199 ids; this model takes at most 128"),
    ([np.zeros((2, 3), dtype=np.int64)], InputError, r"token_ids\[0\] has shape \(2, 3\)"),
    # a 2-D array was told to be 1-D, and a 1-D array of ids then read as ints, not inputs
    (np.ones((2, 3), dtype=np.int64), InputError, r"shape \(2, 3\): pass a list of token id lists, one 1-D list "
                                                   r"or array per input \(list\(arr\) for the rows"),
    ([[[101], [102, 103]]], InputError, r"token_ids\[0\]\[0\] is list"),
    (["101 102"], InputError, r"token_ids\[0\] is str"),
    ([101, 102], InputError, r"token_ids\[0\] is int"),
    ("101 102", InputError, r"token_ids is a single string"),
])
def test_bad_token_ids(encoder, ids, error, message):
    with pytest.raises(error, match=message):
        encoder.encode_ids(ids)


def test_encode_ids_accepts_lists_tuples_and_arrays_like_encode(encoder):
    texts = ["one text", "another, longer text"]
    ids = encoder.tokenizer.encode(texts)
    expected = encoder.encode(texts)
    for value in (ids, [x.tolist() for x in ids], [tuple(x.tolist()) for x in ids], [x.astype(np.int32) for x in ids]):
        np.testing.assert_allclose(encoder.encode_ids(value), expected, atol=1e-6)


def test_encode_ids_without_checks_gives_the_same_rows_for_checked_ids(encoder):
    """check_ids=False (the server's rounds: ids its tokenizer made or its route checked) skips the checks only."""
    texts = ["one text", "another, longer text", ""]
    ids = encoder.tokenizer.encode(texts)
    np.testing.assert_array_equal(encoder.encode_ids(ids, check_ids=False), encoder.encode_ids(ids))
    with pytest.raises(InputError, match=r"token_ids\[0\] is str"):  # the default still checks
        encoder.encode_ids(["101 102"])


# -- model directory ------------------------------------------------------------------------------
@pytest.mark.parametrize(("field", "value", "message"), [
    ("normalized", "no", r"field normalized must be true or false, got 'no'"),
    ("max_seq_length", 1.5, r"field max_seq_length must be an integer >= 2, got 1\.5"),
    ("max_seq_length", True, r"field max_seq_length must be an integer >= 2, got True"),
    ("pad_token_id", -1, r"field pad_token_id must be an integer >= 0"),
    ("variants", {}, r"field variants must be a non-empty JSON object"),
    ("inputs", "input_ids", r"field inputs must be a list of strings"),
    ("format_version", True, r"format_version True; this simcse-sdk reads format_version 1"),
    ("export_cpu", {"int8_flags": "avx2"}, r"field export_cpu\.int8_flags must be a list of strings"),
])
def test_manifest_field_types(model_copy, field, value, message):
    _edit_manifest(model_copy, **{field: value})
    with pytest.raises(ManifestError, match=r"manifest\.json.*" + message):
        Encoder(model_copy, device="cpu", variant="fp32")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("file", "../outside.onnx", r"variants\.fp32\.file must be a file name inside the model directory"),
    ("file", 7, r"variants\.fp32\.file must be a file name"),
    ("sha256", None, r"variants\.fp32\.sha256 must be 64 lowercase hex digits"),
    ("dtype", "float64", r"variants\.fp32\.dtype must be one of \['float32', 'float16', 'int8'\]"),
    ("gate", {"passed": "yes"}, r"variants\.fp32\.gate\.passed must be true or false"),
])
def test_manifest_variant_field_types(model_copy, field, value, message):
    raw = json.loads((model_copy / "manifest.json").read_text())
    raw["variants"]["fp32"][field] = value
    (model_copy / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(ManifestError, match=message):
        Encoder(model_copy, device="cpu", variant="fp32")


def test_unknown_variant_fields_are_ignored(model_copy):
    raw = json.loads((model_copy / "manifest.json").read_text())
    raw["variants"]["fp32"]["added_by_a_newer_exporter"] = 1
    (model_copy / "manifest.json").write_text(json.dumps(raw))
    assert Manifest.load(model_copy).variants["fp32"].file == "model.onnx"


def test_variant_file_that_is_no_onnx_model(model_copy):
    raw = json.loads((model_copy / "manifest.json").read_text())
    raw["variants"]["fp32"]["file"] = "tokenizer.json"
    (model_copy / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(IntegrityError, match=r"tokenizer\.json.* is not a loadable ONNX model"):
        Encoder(model_copy, device="cpu", variant="fp32", verify=False)


# -- similarity and search ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def emb(encoder):
    return encoder.encode(["a cat", "a dog", "stocks fell"])


@pytest.mark.parametrize("top_k", [1.5, "2", None, True])
def test_top_k_type(emb, top_k):
    with pytest.raises(InputError, match="top_k must be an int >= 1"):
        search(emb, emb, top_k=top_k)


@pytest.mark.parametrize(("b", "error", "message"), [
    (np.zeros((2, 31)), InputError, r"embedding sizes differ: 32 and 31"),
    (np.array([["x"] * 32]), InputError, r"b must be a numeric \(n, dim\) array.*dtype <U1"),
    ([[1.0, 2.0], [3.0]], InputError, r"b must be a numeric \(n, dim\) array.*ragged"),
    (None, InputError, r"b must be a numeric"),
    (np.ones((2, 32), dtype=complex), InputError, r"complex numbers are not embeddings"),
    (np.zeros((2, 0)), InvalidArgumentError, r"at least one dimension"),
    (np.full((1, 32), np.inf), InvalidArgumentError, r"b row 0 holds NaN or inf"),
    (np.full((1, 32), 1e39), InvalidArgumentError, r"b row 0 holds NaN or inf \(or a value beyond float32's range\)"),
])
def test_cosine_matrix_arguments(emb, b, error, message):
    with pytest.raises(error, match=message):
        cosine_matrix(emb, b)


def test_pairwise_cosine_rejects_nan(emb):
    bad = emb.copy()
    bad[1, 0] = np.nan
    with pytest.raises(InvalidArgumentError, match="b row 1 holds NaN"):
        pairwise_cosine(emb, bad)


@pytest.mark.parametrize("empty", ["array", "list"])
def test_empty_corpus_gives_empty_results(emb, empty):
    """An empty list too, as Encoder.search takes it (it was read as one row of no values and refused)."""
    corpus = np.zeros((0, emb.shape[1])) if empty == "array" else []
    idx, scores = search(emb, corpus, top_k=3)
    assert idx.shape == scores.shape == (3, 0)


def test_an_empty_list_for_an_index_says_what_to_pass(emb):
    pytest.importorskip("faiss")
    with pytest.raises(InvalidArgumentError, match=r"corpus is empty \(shape \(0,\)\).*shape \(0, dim\)"):
        FaissIndex([])
    idx, _ = FaissIndex(np.zeros((0, emb.shape[1]), dtype=np.float32)).search(emb, 3)
    assert idx.shape == (3, 0)


def test_faiss_index_arguments(emb):
    pytest.importorskip("faiss")
    bad = emb.copy()
    bad[2, 3] = np.inf
    with pytest.raises(InvalidArgumentError, match="corpus row 2 holds NaN or inf"):
        FaissIndex(bad)
    index = FaissIndex(emb)
    with pytest.raises(InputError, match="embedding sizes differ: queries 31, index 32"):
        index.search(np.ones((1, 31)))
    with pytest.raises(InvalidArgumentError, match="top_k must be >= 1, got 0"):
        index.search(emb, 0)
    with pytest.raises(InputError, match="top_k must be an int"):
        index.search(emb, "3")
    empty = FaissIndex(np.zeros((0, emb.shape[1])))
    idx, scores = empty.search(emb, 5)
    assert idx.shape == scores.shape == (3, 0)
    np.testing.assert_array_equal(index.search(emb, 2)[0], search(emb, emb, 2)[0])


# -- inference ------------------------------------------------------------------------------------
def test_max_seq_length_beyond_the_graph_is_an_inference_error(model_copy):
    _edit_manifest(model_copy, max_seq_length=600)  # the tiny BERT has 128 positions
    enc = Encoder(model_copy, device="cpu", variant="fp32")
    with pytest.raises(InferenceError, match=r"onnxruntime failed on a batch of shape \(1, 502\).*model\.onnx"
                       r".*index out of range.*max_seq_length.*re-export"):
        enc.encode([" ".join(["word"] * 500)])


def test_nan_embeddings_are_an_error_naming_the_input(tiny_model_dir, monkeypatch):
    enc = Encoder(tiny_model_dir, device="cpu", variant="fp32", parallel_batches=False)
    real_run = enc.runtime.run

    def overflowing_run(input_ids, attention_mask):  # as an fp16 graph that overflows on long inputs would
        out = real_run(input_ids, attention_mask)
        out[attention_mask.sum(axis=1) > 5] = np.inf
        return out

    monkeypatch.setattr(enc.runtime, "run", overflowing_run)
    with pytest.raises(InferenceError, match=r"gave NaN or inf for input 1 \(1 of 3 inputs\).*variant='fp32'"):
        enc.encode(["short", "a much longer text than the others", "tiny"])


# -- the table on the real model it was found with (all-MiniLM-L6-v2, int8) -------------------
@pytest.mark.real
def test_table_on_minilm_int8(minilm_model_dir, tmp_path):
    enc = Encoder(minilm_model_dir, device="cpu", variant="int8")
    with pytest.raises(InvalidArgumentError, match=r"sentences\[0\] has a lone surrogate"):
        enc.encode(["abc \ud800 def"])
    for bs in (0, -1):
        with pytest.raises(InvalidArgumentError, match=rf"batch_size={bs} is out of range"):
            enc.encode(["a"], batch_size=bs)
    with pytest.raises(InputError, match="sentences is a dict"):
        enc.encode({"a": 1})
    with pytest.raises(InvalidArgumentError, match="threads=-3 is out of range"):
        Encoder(minilm_model_dir, device="cpu", variant="int8", threads=-3)
    corpus = enc.encode(["a", "b"])
    corpus[1, 0] = np.nan
    with pytest.raises(InvalidArgumentError, match="corpus row 1 holds NaN"):
        enc.search(["a"], corpus)
    model = tmp_path / "model"
    model.mkdir()
    for f in minilm_model_dir.iterdir():
        (model / f.name).symlink_to(f)
    int8_file = Manifest.load(model).variants["int8"].file
    (model / int8_file).unlink()
    (model / int8_file).write_bytes((minilm_model_dir / int8_file).read_bytes()[:100_000])
    with pytest.raises(IntegrityError, match=int8_file.replace(".", r"\.") + ".*not a loadable ONNX model.*re-export"):
        Encoder(model, device="cpu", variant="int8", verify=False)
    (model / "tokenizer.json").unlink()
    (model / "tokenizer.json").write_text("{not json")
    with pytest.raises(ModelDirError, match=r"tokenizer\.json.*re-export"):
        Encoder(model, device="cpu", variant="fp32")
    (model / "tokenizer.json").unlink()
    (model / "tokenizer.json").symlink_to(minilm_model_dir / "tokenizer.json")
    raw = json.loads((minilm_model_dir / "manifest.json").read_text())
    (model / "manifest.json").unlink()
    (model / "manifest.json").write_text(json.dumps({**raw, "embedding_dim": 383}))
    with pytest.raises(ManifestError, match=r"embedding_dim 383, but the graph .* declares output shape \['batch', 384\]"):
        Encoder(model, device="cpu", variant="fp32")
