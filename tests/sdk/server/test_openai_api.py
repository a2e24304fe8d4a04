"""The server speaks OpenAI's embeddings API: the official client gets what Encoder.encode gives."""

from __future__ import annotations

import base64
import random
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import openai
import pytest
from openai import OpenAI
from server_harness import thread_server
from simcse_sdk import Encoder

TEXTS = ["A man is playing a guitar.", "Stocks fell sharply after the announcement.", "ok",
         "The quick brown fox jumps over the lazy dog near the bank of the river."]


@pytest.fixture(scope="module")
def encoder(tiny_model_dir):
    return Encoder(tiny_model_dir, device="cpu", variant="int8")


@pytest.fixture(scope="module")
def server(tiny_model_dir):
    with thread_server(tiny_model_dir, model_name="tiny", api_key="sk-test") as running:
        yield running


@pytest.fixture(scope="module")
def client(server):
    return OpenAI(base_url=f"{server.url}/v1", api_key="sk-test", max_retries=0)


def test_official_client_default_base64_equals_encode(client, encoder):
    resp = client.embeddings.create(model="tiny", input=TEXTS)  # the client asks for base64 by default
    got = np.array([d.embedding for d in resp.data], dtype=np.float32)
    np.testing.assert_allclose(got, encoder.encode(TEXTS, normalize=True), atol=1e-6)
    assert [d.index for d in resp.data] == list(range(len(TEXTS)))
    assert resp.model == "tiny" and resp.object == "list"
    assert resp.usage.prompt_tokens == sum(len(t) for t in encoder.tokenizer.encode(TEXTS)) == resp.usage.total_tokens


def test_official_client_retrieves_the_served_model_and_is_told_of_any_other(client, server):
    """client.models.retrieve(...) got a 404 from no route at all; now the served model, or OpenAI's
    model_not_found naming the one there is."""
    served = client.models.list().data[0].id
    got = client.models.retrieve(served)
    assert (got.id, got.object, got.owned_by) == (served, "model", "simcse-sdk")
    with pytest.raises(openai.NotFoundError) as e:
        client.models.retrieve("text-embedding-3-small")
    body = e.value.body
    assert body["code"] == "model_not_found" and body["param"] == "model"
    assert f"this server serves {served!r}" in body["message"]
    with server.client(headers={"Authorization": "Bearer sk-test"}) as http:
        assert http.get(f"/models/{served}").json()["id"] == served  # without /v1, as /models
        assert http.get("/metrics").text.count('route="/v1/models/{model}"') >= 1  # the route, not each id


def test_official_client_float_equals_encode(client, encoder):
    resp = client.embeddings.create(model="tiny", input=TEXTS, encoding_format="float")
    got = np.array([d.embedding for d in resp.data], dtype=np.float32)
    np.testing.assert_allclose(got, encoder.encode(TEXTS, normalize=True), atol=1e-6)


def test_single_string_and_token_ids(client, encoder):
    one = client.embeddings.create(model="tiny", input=TEXTS[0], encoding_format="float")
    ids = [t.tolist() for t in encoder.tokenizer.encode(TEXTS[:2])]
    by_ids = client.embeddings.create(model="tiny", input=ids, encoding_format="float")
    single_ids = client.embeddings.create(model="tiny", input=ids[0], encoding_format="float")
    want = encoder.encode(TEXTS[:2], normalize=True)
    np.testing.assert_allclose(one.data[0].embedding, want[0], atol=1e-6)
    np.testing.assert_allclose([d.embedding for d in by_ids.data], want, atol=1e-6)
    np.testing.assert_allclose(single_ids.data[0].embedding, want[0], atol=1e-6)
    assert by_ids.usage.prompt_tokens == sum(len(i) for i in ids)


def test_dimensions_cut_and_renormalise(client, encoder):
    resp = client.embeddings.create(model="tiny", input=TEXTS, dimensions=8, encoding_format="float")
    got = np.array([d.embedding for d in resp.data])
    full = encoder.encode(TEXTS)[:, :8]
    np.testing.assert_allclose(got, full / np.linalg.norm(full, axis=1, keepdims=True), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)


def test_base64_is_little_endian_float32(server, encoder):
    with server.client(headers={"Authorization": "Bearer sk-test"}) as http:
        r = http.post("/v1/embeddings", json={"input": TEXTS[:1], "encoding_format": "base64", "user": "u1"})
    raw = base64.b64decode(r.json()["data"][0]["embedding"])
    np.testing.assert_allclose(np.frombuffer(raw, dtype="<f4"), encoder.encode(TEXTS[:1], normalize=True)[0],
                               atol=1e-6)


def test_models_info_and_open_routes(server, client, encoder):
    assert [m.id for m in client.models.list().data] == ["tiny"]
    with server.client() as http:  # no key: health, ready and metrics stay open
        assert http.get("/health").json() == {"status": "ok"}
        assert http.get("/ready").status_code == 200
        metrics = http.get("/metrics")
        assert metrics.headers["content-type"].startswith("text/plain")
        assert "simcse_batch_size_bucket" in metrics.text and "simcse_queue_inputs" in metrics.text
        info = http.get("/info", headers={"Authorization": "Bearer sk-test"}).json()
    assert info["dimensions"] == encoder.dim and info["max_input_tokens"] == encoder.manifest.max_seq_length
    assert info["variant"] == "int8" and info["device"] == "cpu"
    assert info["limits"]["max_inputs"] == 2048 and info["limits"]["api_key_required"] is True
    assert "sk-test" not in str(info)


def test_request_id_echoed_or_generated_and_timing_headers(server):
    with server.client(headers={"Authorization": "Bearer sk-test"}) as http:
        echoed = http.post("/v1/embeddings", json={"input": ["a"]}, headers={"x-request-id": "abc-123"})
        fresh = http.post("/v1/embeddings", json={"input": ["a"]})
    assert echoed.headers["x-request-id"] == "abc-123"
    assert len(fresh.headers["x-request-id"]) >= 16
    for h in ("x-queue-time-ms", "x-inference-time-ms", "x-total-time-ms"):
        assert float(fresh.headers[h]) >= 0
    assert fresh.headers["x-truncated-inputs"] == "0"


def test_concurrent_clients_each_get_their_own_rows(server, encoder):
    """Requests of different sizes from many clients at once: batching never mixes up rows."""
    rng = random.Random(0)
    words = "the a man woman dog cat plays runs quickly slowly red blue guitar river bank field music".split()
    requests = [[" ".join(rng.choices(words, k=rng.randint(1, 40))) for _ in range(rng.choice([1, 1, 3, 17, 32]))]
                for _ in range(120)]

    def call(texts):
        with server.client(headers={"Authorization": "Bearer sk-test"}) as http:
            r = http.post("/v1/embeddings", json={"input": texts, "encoding_format": "float"})
        r.raise_for_status()
        return np.array([d["embedding"] for d in r.json()["data"]], dtype=np.float32)

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(call, requests))
    for texts, got in zip(requests, results, strict=True):
        np.testing.assert_allclose(got, encoder.encode(texts, normalize=True), atol=1e-5)
    with server.client() as http:
        text = http.get("/metrics").text
    batches = float(next(line.split()[1] for line in text.splitlines() if line.startswith("simcse_batch_size_count")))
    assert batches < sum(len(r) for r in requests)  # inputs of several requests shared batches


def test_truncation_policy_and_header(tiny_model_dir, encoder):
    long_text = " ".join(["word"] * (3 * encoder.manifest.max_seq_length))
    with thread_server(tiny_model_dir, truncate=False) as running, running.client() as http:
        refused = http.post("/v1/embeddings", json={"input": ["short", long_text]})
        long_ids = http.post("/v1/embeddings", json={"input": [[101] + [2773] * 300 + [102]]})  # this model's ids
        allowed = http.post("/v1/embeddings", json={"input": ["short", long_text], "truncate": True,
                                                    "encoding_format": "float"})
    assert refused.status_code == 422
    err = refused.json()["error"]
    assert "input[1]" in err["message"] and "truncate" in err["message"] and err["code"] == "input_too_long"
    tokens = 3 * encoder.manifest.max_seq_length + 2  # each "word" one token, and [CLS] [SEP]
    assert f"input[1] has {tokens} tokens, longer than this model's {encoder.manifest.max_seq_length}" in \
        err["message"]  # how much to shorten it
    assert long_ids.status_code == 422 and "input[0] has 302 tokens" in long_ids.json()["error"]["message"]
    assert allowed.status_code == 200 and allowed.headers["x-truncated-inputs"] == "1"
    np.testing.assert_allclose(allowed.json()["data"][1]["embedding"], encoder.encode([long_text], normalize=True)[0],
                               atol=1e-6)


def test_raw_embeddings_with_normalize_off(tiny_model_dir, encoder):
    with thread_server(tiny_model_dir, normalize=False) as running, running.client() as http:
        r = http.post("/v1/embeddings", json={"input": TEXTS, "encoding_format": "float"})
    np.testing.assert_allclose([d["embedding"] for d in r.json()["data"]], encoder.encode(TEXTS), atol=1e-6)


def test_cors_off_unless_asked(tiny_model_dir):
    headers = {"Origin": "http://app.example", "Access-Control-Request-Method": "POST"}
    with thread_server(tiny_model_dir) as running, running.client() as http:
        assert "access-control-allow-origin" not in http.options("/v1/embeddings", headers=headers).headers
    with thread_server(tiny_model_dir, cors_origins=["http://app.example"]) as running, running.client() as http:
        r = http.options("/v1/embeddings", headers=headers)
        answer = http.post("/v1/embeddings", json={"input": ["a"]}, headers={"Origin": "http://app.example"})
        refused = http.post("/v1/embeddings", json={"input": []}, headers={"Origin": "http://app.example"})
    assert r.headers["access-control-allow-origin"] == "http://app.example"
    # the embeddings route bypasses the framework: its answers, errors included, still carry CORS headers
    assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == "http://app.example"
    assert refused.status_code == 400 and refused.headers["access-control-allow-origin"] == "http://app.example"
