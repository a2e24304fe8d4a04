"""Every error status, in OpenAI's body shape, with a message that names the limit and the fix."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from openai import OpenAI, RateLimitError
from server_harness import Gate, thread_server
from simcse_sdk.server import ServerConfig, ServerState


@pytest.fixture(scope="module")
def server(tiny_model_dir):
    with thread_server(tiny_model_dir, max_inputs=64, max_queue=256, max_body_bytes=1_000_000) as running:
        yield running


def error_of(r, status: int) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    return body["error"]


@pytest.mark.parametrize("body, needle", [
    (b"{not json", "not valid JSON"),
    (b"", "body is empty"),
    (b'["a"]', "JSON object with an 'input' field, got a JSON array"),
    (b'{"inputs": ["a"]}', "Missing required field 'input'"),
    (b'{"input": []}', "empty list"),
    (b'{"input": ["a", 3]}', "input[1] is a JSON number, not a string"),
    (b'{"input": ["a", null]}', "input[1] is a JSON null"),
    (b'{"input": {"text": "a"}}', "must be a string or a list"),
    (b'{"input": [101, "a"]}', "input[1] is a JSON string"),
    (b'{"input": [[101, 102], []]}', "input mixes this model's token ids (input[0], starting with [CLS])"),
    (b'{"input": [[101, 2, "a"]]}', "input[0][2] is 'a', a JSON string: token ids are integers"),
    (b'{"input": [[101, 1.5, 102]]}', "input[0][1] is 1.5, a JSON number: token ids are integers"),
    (b'{"input": [[101, 102], "a"]}', "input[1] is not a list of integer token ids (got a JSON string)"),
    (b'{"input": null}', "input must be a string or a list, got a JSON null"),
    (b'{"input": 5}', "input must be a string or a list, got a JSON number"),
    (b'{"input": [[101, 99999999, 102]]}', "token id 99999999, outside this model's vocabulary"),
    (b'{"input": [[101, 99999999]]}', "token id 99999999, outside OpenAI's cl100k_base vocabulary"),
    (b'{"input": [[-1]]}', "token id -1"),
    (b'{"input": "\\ud800 lone surrogate"}', "lone surrogates"),
    (b'{"input": ["a"], "encoding_format": "int8"}', "encoding_format 'int8' is not supported"),
    (b'{"input": ["a"], "dimensions": 0}', "dimensions=0 is out of range"),
    (b'{"input": ["a"], "dimensions": 100000}', "dimensions=100000 is out of range"),
    (b'{"input": ["a"], "dimensions": "8"}', "dimensions must be an integer"),
    (b'{"input": ["a"], "truncate": "yes"}', "truncate must be true or false"),
])
def test_bad_requests_are_400_with_openai_shape(server, body, needle):
    with server.client() as http:
        r = http.post("/v1/embeddings", content=body, headers={"content-type": "application/json"})
    err = error_of(r, 400)
    assert needle in err["message"] and err["type"] == "invalid_request_error"


def test_too_many_inputs_and_large_body_are_413(server):
    with server.client() as http:
        many = http.post("/v1/embeddings", json={"input": ["x"] * 65})
        big = http.post("/v1/embeddings", json={"input": ["word " * 200_000]})  # ~1.2 MB, several times the limit
    assert "at most 64 per request" in error_of(many, 413)["message"]
    assert "--max-body-bytes" in error_of(big, 413)["message"]


def test_several_megabyte_body_is_refused_without_harm(server):
    payload = b'{"input": ["' + b"a" * 6_000_000 + b'"]}'
    with server.client() as http:
        assert error_of(http.post("/v1/embeddings", content=payload), 413)["code"] == "body_too_large"
        assert http.post("/v1/embeddings", json={"input": ["still fine"]}).status_code == 200


def test_unknown_route_and_method(server):
    with server.client() as http:
        assert "POST /v1/embeddings" in error_of(http.get("/v2/nothing"), 404)["message"]
        error_of(http.get("/v1/embeddings"), 405)


def test_api_key(tiny_model_dir):
    with thread_server(tiny_model_dir, api_key="secret") as running, running.client() as http:
        missing = http.post("/v1/embeddings", json={"input": ["a"]})
        wrong = http.post("/v1/embeddings", json={"input": ["a"]}, headers={"Authorization": "Bearer nope"})
        ok = http.post("/v1/embeddings", json={"input": ["a"]}, headers={"Authorization": "Bearer secret"})
        open_routes = [http.get(p).status_code for p in ("/health", "/ready", "/metrics")]
        models = http.get("/v1/models")
    assert "missing" in error_of(missing, 401)["message"] and "--api-key" in error_of(wrong, 401)["message"]
    assert ok.status_code == 200 and open_routes == [200, 200, 200]
    error_of(models, 401)


def test_api_key_from_environment(monkeypatch):
    monkeypatch.setenv("SIMCSE_API_KEY", "from-env")
    assert ServerConfig(model_dir="m").api_key == "from-env"


def test_overload_is_429_with_retry_after_at_once(tiny_model_dir):
    with thread_server(tiny_model_dir, max_queue=8, max_inputs=8) as running:
        gate = Gate(running.state)
        holder = threading.Thread(target=lambda: running.client().post("/v1/embeddings", json={"input": ["x"] * 8}))
        holder.start()
        assert gate.entered.wait(10)  # 8 inputs admitted and held: the queue is full
        with running.client() as http:
            t0 = time.perf_counter()
            r = http.post("/v1/embeddings", json={"input": ["one more"]})
            waited = time.perf_counter() - t0
            err = error_of(r, 429)
            client = OpenAI(base_url=f"{running.url}/v1", api_key="x", max_retries=0)
            with pytest.raises(RateLimitError):
                client.embeddings.create(model="m", input=["x"])
        gate.release.set()
        holder.join(10)
        with running.client() as http:
            after = http.post("/v1/embeddings", json={"input": ["x"]})
    assert r.headers["retry-after"] == "1" and "8 inputs are waiting, and this request's 1 would pass the limit " \
        "of 8 (--max-queue)" in err["message"]
    assert waited < 1.0  # refused at once, never queued
    assert after.status_code == 200


def test_not_ready_is_503_with_retry_after(tiny_model_dir):
    config = ServerConfig(model_dir=str(tiny_model_dir), device="cpu")
    state = ServerState(config)
    loading = threading.Event()
    build = state._build_encoder
    state._build_encoder = lambda: (loading.wait(30), build())[1]  # type: ignore[method-assign]
    with thread_server(tiny_model_dir, state=state, ready=False) as running, running.client() as http:
        not_yet = http.post("/v1/embeddings", json={"input": ["a"]})
        ready = http.get("/ready")
        health = http.get("/health")
        loading.set()
        deadline = time.monotonic() + 30
        while http.get("/ready").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.02)
        later = http.post("/v1/embeddings", json={"input": ["a"]})
    assert "loading the model" in error_of(not_yet, 503)["message"] and not_yet.headers["retry-after"] == "1"
    assert ready.status_code == 503 and ready.headers["retry-after"] == "1"
    assert health.status_code == 200  # alive while loading
    assert later.status_code == 200


def test_client_that_disconnects_is_not_computed(tiny_model_dir):
    with thread_server(tiny_model_dir) as running:
        gate = Gate(running.state)
        holder = threading.Thread(target=lambda: running.client().post("/v1/embeddings", json={"input": ["hold"]}))
        holder.start()
        assert gate.entered.wait(10)
        port = int(running.url.rsplit(":", 1)[1])
        body = b'{"input": ["gone", "away", "soon"]}'
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            deadline = time.monotonic() + 10
            while running.state.batcher.queued < 4 and time.monotonic() < deadline:
                time.sleep(0.01)
        time.sleep(0.2)  # the server sees the disconnect
        gate.release.set()
        holder.join(10)
        with running.client() as http:
            metrics = http.get("/metrics").text
    values = {line.split(" ")[0]: float(line.split(" ")[1]) for line in metrics.splitlines()
              if line and not line.startswith("#")}
    assert values['simcse_inputs_total{kind="text"}'] == 1.0  # only "hold" was embedded
    assert values['simcse_request_failures_total{reason="client_disconnected"}'] == 1.0
    assert values["simcse_batch_size_sum"] == 1.0  # one batch of one input: the three others never ran


def test_an_inference_failure_is_a_500_in_openai_shape(tiny_model_dir):
    with thread_server(tiny_model_dir) as running:
        batcher = running.state.batcher

        def broken(pieces, on_idle):
            raise RuntimeError("onnxruntime ran out of memory")

        batcher._run_round = broken
        with running.client() as http:
            r = http.post("/v1/embeddings", json={"input": ["a"]}, headers={"x-request-id": "req-42"})
    err = error_of(r, 500)
    assert "out of memory" in err["message"] and "req-42" in err["message"] and err["code"] == "internal_error"
