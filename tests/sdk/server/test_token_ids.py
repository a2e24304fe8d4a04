"""Token ids are taken for this model's ids only when they are: each --token-ids policy, against Encoder.encode."""

from __future__ import annotations

import numpy as np
import pytest
from server_harness import thread_server
from simcse_sdk import Encoder
from simcse_sdk.model.tokenizer import SentenceTokenizer
from simcse_sdk.server.api.api_error import ApiError
from simcse_sdk.server.api.token_ids import TokenIdReader

bpe_openai = pytest.importorskip("bpe_openai", reason="OpenAI token ids need the serve extra (bpe-openai)")

TEXTS = ["Hello world", "A man is playing a guitar on the street.", "Stocks fell sharply after the announcement."]


@pytest.fixture(scope="module")
def encoder(tiny_model_dir):
    return Encoder(tiny_model_dir, device="cpu", variant="int8")


@pytest.fixture(scope="module")
def cl100k():
    return bpe_openai.get_encoding("cl100k_base")


def embed(running, payload: dict) -> tuple[np.ndarray, dict]:
    with running.client() as http:
        r = http.post("/v1/embeddings", json={"encoding_format": "float", **payload})
    assert r.status_code == 200, r.text
    body = r.json()
    return np.array([d["embedding"] for d in body["data"]], np.float32), body


def metric(running, name: str) -> float:
    with running.client() as http:
        lines = http.get("/metrics").text.splitlines()
    return sum(float(line.split(" ")[1]) for line in lines if line.startswith(name + " "))


@pytest.fixture(scope="module")
def auto(tiny_model_dir):
    with thread_server(tiny_model_dir) as running:
        yield running


def test_langchains_default_request_gets_the_texts_embedding(auto, encoder, cl100k):
    # what OpenAIEmbeddings sends by default: cl100k_base ids of each text, e.g. "Hello world" -> [9906, 1917]
    ids = [cl100k.encode(t) for t in TEXTS]
    assert ids[0] == [9906, 1917]
    got, body = embed(auto, {"input": ids, "model": "text-embedding-ada-002", "encoding_format": "float"})
    np.testing.assert_allclose(got, encoder.encode(TEXTS, normalize=True), atol=1e-6)
    assert body["usage"]["prompt_tokens"] == sum(len(t) for t in encoder.tokenizer.encode(TEXTS))  # this model's
    assert metric(auto, 'simcse_inputs_total{kind="openai_token_ids"}') >= len(TEXTS)


def test_this_models_ids_with_its_special_tokens_are_its_own(auto, encoder):
    ids = [t.tolist() for t in encoder.tokenizer.encode(TEXTS)]
    assert all(i[0] == 101 and i[-1] == 102 for i in ids)  # [CLS] ... [SEP]
    got, _ = embed(auto, {"input": ids})
    np.testing.assert_allclose(got, encoder.encode(TEXTS, normalize=True), atol=1e-6)
    assert metric(auto, 'simcse_inputs_total{kind="model_token_ids"}') >= len(TEXTS)


def test_this_models_ids_padded_by_a_fixed_padding_tokenizer_json_are_its_own(auto, encoder, tiny_model_dir):
    # all-MiniLM-L6-v2's own tokenizer.json pads every text to 128: [CLS] ... [SEP] [PAD] [PAD] ...
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tiny_model_dir / "tokenizer.json"))
    tok.enable_padding(pad_id=0, pad_token="[PAD]", length=40)
    ids = [e.ids for e in tok.encode_batch(TEXTS)]
    assert all(len(i) == 40 and i[-1] == 0 for i in ids)
    got, body = embed(auto, {"input": ids})
    np.testing.assert_allclose(got, encoder.encode(TEXTS, normalize=True), atol=1e-6)
    assert body["usage"]["prompt_tokens"] == sum(len(t) for t in encoder.tokenizer.encode(TEXTS))  # pads not counted
    with thread_server(tiny_model_dir, token_ids="model") as running:
        got, _ = embed(running, {"input": ids})
    np.testing.assert_allclose(got, encoder.encode(TEXTS, normalize=True), atol=1e-6)


def test_this_models_ids_without_special_tokens_are_read_as_openai_ids_under_auto(auto, encoder, cl100k):
    bare = encoder.tokenizer.encode(TEXTS[:1])[0][1:-1].tolist()  # [CLS] and [SEP] taken off
    got, _ = embed(auto, {"input": [bare]})
    np.testing.assert_allclose(got, encoder.encode([cl100k.decode(bare)], normalize=True), atol=1e-6)


def test_model_policy_refuses_other_ids_naming_both_fixes(tiny_model_dir, encoder, cl100k):
    with thread_server(tiny_model_dir, token_ids="model") as running, running.client() as http:
        ids = [t.tolist() for t in encoder.tokenizer.encode(TEXTS)]
        assert http.post("/v1/embeddings", json={"input": ids}).status_code == 200
        for foreign in ([cl100k.encode(TEXTS[0])], [ids[0][1:-1]]):
            r = http.post("/v1/embeddings", json={"input": foreign})
            assert r.status_code == 400, r.text
            err = r.json()["error"]
            assert err["code"] == "foreign_token_ids" and "[CLS] ... [SEP]" in err["message"]
            assert "--token-ids auto" in err["message"] and "check_embedding_ctx_length=False" in err["message"]
            assert str(foreign[0][:2])[:-1] in err["message"]  # says what it received


def test_openai_policy_decodes_every_list(tiny_model_dir, encoder, cl100k):
    framed = encoder.tokenizer.encode(TEXTS[:1])[0].tolist()  # this model's ids: under "openai" still OpenAI's
    with thread_server(tiny_model_dir, token_ids="openai") as running:
        got, _ = embed(running, {"input": [framed]})
        want, _ = embed(running, {"input": [cl100k.encode(TEXTS[1])]})
    np.testing.assert_allclose(got, encoder.encode([cl100k.decode(framed)], normalize=True), atol=1e-6)
    np.testing.assert_allclose(want, encoder.encode(TEXTS[1:2], normalize=True), atol=1e-6)


@pytest.mark.parametrize("encoding, gap", [("cl100k_base", 100256), ("cl100k_base", 100261), ("o200k_base", 199998)])
def test_an_id_the_openai_encoding_leaves_unassigned_is_a_400_naming_it(tiny_model_dir, encoding, gap):
    # inside 0..n_vocab-1, yet no token has it: the decoder raised KeyError, answered 500 (found by a LangChain user's
    # test of special ids); one such list among good ones refused the whole request
    with thread_server(tiny_model_dir, openai_encoding=encoding) as running, running.client() as http:
        r = http.post("/v1/embeddings", json={"input": [[9906, 1917], [9906, gap]]})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_token_id" and f"input[1] holds token id {gap}" in error["message"]
    assert "unassigned" in error["message"]


def test_o200k_ids_with_the_flag(tiny_model_dir, encoder):
    o200k = bpe_openai.get_encoding("o200k_base")
    ids = [o200k.encode(t) for t in TEXTS]
    with thread_server(tiny_model_dir, openai_encoding="o200k_base") as running:
        got, _ = embed(running, {"input": ids})
        with running.client() as http:
            assert http.get("/info").json()["token_ids"] == {"policy": "auto", "openai_encoding": "o200k_base",
                                                              "model_special_tokens": "[CLS] ... [SEP]"}
    np.testing.assert_allclose(got, encoder.encode(TEXTS, normalize=True), atol=1e-6)


def test_empty_text_is_embedded_as_the_sdk_embeds_it(auto, encoder):
    for payload in ({"input": ""}, {"input": [""]}):
        got, body = embed(auto, payload)
        np.testing.assert_allclose(got, encoder.encode([""], normalize=True), atol=1e-6)
        assert body["usage"]["prompt_tokens"] == 2  # [CLS] [SEP]


@pytest.mark.parametrize("policy", ["auto", "model", "openai"])
def test_an_empty_list_of_token_ids_is_refused_naming_it_under_every_policy(auto, tiny_model_dir, policy):
    # [[]] embedded "" (OpenAI's ids of nothing) while [[101, 102], []] was refused for mixing two kinds of ids
    from simcse_sdk.server.api.protocol import parse_request

    for items, index in (([[]], 0), ([[101, 102], []], 1), ([[9906], []], 1)):
        with pytest.raises(ApiError, match=rf"input\[{index}\] is an empty list of token ids") as e:
            parse_request({"input": items}, 8, reader_for(tiny_model_dir / "tokenizer.json", policy))
        assert (e.value.status, e.value.code) == (400, "empty_input")
    with auto.client() as http:  # and over HTTP, in OpenAI's error body
        r = http.post("/v1/embeddings", json={"input": [[101, 102], []]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "empty_input"
    assert "input[1] is an empty list of token ids" in r.json()["error"]["message"]


def test_long_model_ids_are_cut_keeping_the_closing_token(auto, encoder, tiny_model_dir):
    from tokenizers import Tokenizer

    long = "the quick brown fox jumps over the lazy dog " * 40  # > 128 tokens
    tok = Tokenizer.from_file(str(tiny_model_dir / "tokenizer.json"))
    tok.no_truncation()
    full = tok.encode(long).ids  # untruncated, [CLS] ... [SEP]
    assert len(full) > encoder.manifest.max_seq_length
    got, _ = embed(auto, {"input": [full]})
    np.testing.assert_allclose(got, encoder.encode([long], normalize=True), atol=1e-6)


def test_long_model_ids_of_a_left_truncating_model_keep_the_end(tiny_model_dir, tmp_path):
    import shutil

    from simcse_sdk import Encoder
    from tokenizers import Tokenizer

    model = tmp_path / "left"
    shutil.copytree(tiny_model_dir, model)
    tok = Tokenizer.from_file(str(model / "tokenizer.json"))
    tok.enable_truncation(128, direction="left")  # as the export writes truncation_side "left"
    tok.save(str(model / "tokenizer.json"))
    long = "the quick brown fox jumps over the lazy dog " * 40 + "and at last a different ending"
    tok.no_truncation()
    full = tok.encode(long).ids
    encoder = Encoder(model, device="cpu", variant="int8")  # the server's variant
    with thread_server(model) as running:
        got, _ = embed(running, {"input": [full]})
    np.testing.assert_allclose(got, encoder.encode([long], normalize=True), atol=1e-6)  # the server cut the end


def reader_for(tokenizer_json, policy: str = "auto") -> TokenIdReader:
    return TokenIdReader.for_tokenizer(SentenceTokenizer(tokenizer_json, 128), policy, "cl100k_base")


def test_special_tokens_are_read_from_the_tokenizer_not_the_architecture(tiny_model_dir, tiny_roberta_dir):
    bert, roberta = reader_for(tiny_model_dir / "tokenizer.json"), reader_for(tiny_roberta_dir / "tokenizer.json")
    assert (bert.prefix, bert.suffix, bert.special_text) == ((101,), (102,), "[CLS] ... [SEP]")
    assert (roberta.prefix, roberta.suffix, roberta.special_text) == ((0,), (2,), "<s> ... </s>")
    texts, ids = roberta.read([[0, 45, 2]])
    assert texts is None and ids[0].tolist() == [0, 45, 2]


def test_a_request_mixing_both_kinds_is_refused(tiny_model_dir, cl100k):
    with pytest.raises(ApiError, match=r"mixes this model's token ids \(input\[1\], starting with \[CLS\]\)"):
        reader_for(tiny_model_dir / "tokenizer.json").read([cl100k.encode("hi"), [101, 7592, 102]])


def test_a_tokenizer_without_special_tokens_makes_auto_refuse_ids(tmp_path, tiny_model_dir):
    import json

    spec = json.loads((tiny_model_dir / "tokenizer.json").read_text())
    spec["post_processor"] = None  # adds no [CLS]/[SEP]
    (tmp_path / "tokenizer.json").write_text(json.dumps(spec))
    reader = reader_for(tmp_path / "tokenizer.json")
    assert (reader.prefix, reader.suffix) == ((), ())
    with pytest.raises(ApiError, match="cannot be told from OpenAI's: start the server with --token-ids model"):
        reader.read([[7592, 2088]])
    assert reader_for(tmp_path / "tokenizer.json", "openai").read([[9906, 1917]])[0] == ["Hello world"]
