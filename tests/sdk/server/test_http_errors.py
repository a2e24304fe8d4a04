"""Every error status, in OpenAI's body shape, with a message that names the limit and the fix."""

from __future__ import annotations

import gzip
import logging
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
    (b'{"input": [[101, 102], [9906]]}', "input mixes this model's token ids (input[0], starting with [CLS])"),
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
    # the scheme a client is to answer with (RFC 9110), on the embeddings route and on the framework's routes
    assert missing.headers["www-authenticate"] == wrong.headers["www-authenticate"] == "Bearer"
    assert models.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("source", ["SIMCSE_API_KEY", "--api-key"])
def test_a_key_with_whitespace_around_it_still_lets_clients_in(tiny_model_dir, monkeypatch, caplog, source):
    # a secret file's trailing newline ($(cat key.txt) keeps none, but env files and secret mounts do) locked every
    # client out: their token was stripped, the server's key was not
    settings = {"api_key": "my-key "} if source == "--api-key" else {}
    if source == "SIMCSE_API_KEY":
        monkeypatch.setenv("SIMCSE_API_KEY", "my-key\n")
    with caplog.at_level(logging.INFO, logger="simcse_sdk.server.config"), \
            thread_server(tiny_model_dir, **settings) as running:
        client = OpenAI(base_url=f"{running.url}/v1", api_key="my-key", max_retries=0)
        assert len(client.embeddings.create(model="m", input=["a"]).data) == 1
    assert f"the API key ({source}) had whitespace around it" in caplog.text and "my-key" not in caplog.text


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

        def broken(pieces, on_idle, share_cpu=True, pooled=True):
            raise RuntimeError("onnxruntime ran out of memory")

        batcher._run_round = broken
        with running.client() as http:
            r = http.post("/v1/embeddings", json={"input": ["a"]}, headers={"x-request-id": "req-42"})
    err = error_of(r, 500)
    assert "out of memory" in err["message"] and "req-42" in err["message"] and err["code"] == "internal_error"


# named ids, and a gzip header without the time: pytest-xdist's workers must collect the same ids
@pytest.mark.parametrize("encoding, body", [
    ("gzip", gzip.compress(b'{"input": ["a"]}', mtime=0)),  # was a 400 blaming lone surrogates
    ("gzip", b'{"input": ["a"]}'),  # plain JSON labelled gzip: was a 200
    ("br", b'{"input": ["a"]}'),
], ids=["gzip", "plain JSON labelled gzip", "plain JSON labelled br"])
def test_a_body_in_a_content_encoding_is_415_naming_it(server, encoding, body):
    with server.client() as http:
        r = http.post("/v1/embeddings", content=body, headers={"content-type": "application/json",
                                                                "content-encoding": encoding})
        plain = http.post("/v1/embeddings", content=b'{"input": ["a"]}', headers={
            "content-type": "application/json", "content-encoding": "identity"})
    err = error_of(r, 415)
    assert err["code"] == "unsupported_content_encoding" and f"Content-Encoding '{encoding}' is not supported" in \
        err["message"] and "send an uncompressed UTF-8 JSON body" in err["message"]
    assert plain.status_code == 200


def counters(http) -> dict[str, float]:
    return {line.split(" ")[0]: float(line.split(" ")[1]) for line in http.get("/metrics").text.splitlines()
            if line and not line.startswith("#")}


@pytest.mark.parametrize("framing", ["chunked", "content-length"])
def test_a_body_the_client_abandons_is_not_computed(server, framing):
    """A disconnect while the body arrives: what came was parsed and embedded (a 200), or read as an empty body (a
    400 invalid_json); the client is gone, so nothing is computed and the request counts as 499."""
    port = int(server.url.rsplit(":", 1)[1])
    part = b'{"input": "partial"}'  # valid JSON on its own: only the missing end says it is not the request
    head, data = (b"Transfer-Encoding: chunked", b"%x\r\n%s\r\n" % (len(part), part)) if framing == "chunked" \
        else (b"Content-Length: 1000", part)
    with server.client() as http:
        before = counters(http)
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n%s\r\n\r\n%s"
                      % (head, data))
            time.sleep(0.3)  # the server has read the part
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            after = counters(http)
            changed = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)
                       and k.startswith(("simcse_requests_total{route=\"/v1/", "simcse_request_failures_total",
                                         "simcse_inputs_total"))}
            if any(k.startswith("simcse_requests_total") for k in changed):
                break
            time.sleep(0.02)
    assert changed == {'simcse_requests_total{route="/v1/embeddings",status="499"}': 1.0,
                       'simcse_request_failures_total{reason="client_disconnected"}': 1.0}


def test_unknown_routes_are_counted_under_one_label_with_the_request_id_capped(server):
    with server.client() as http:
        r = http.get("/v2/nothing-here", headers={"x-request-id": "r" * 500})
        wrong_method = http.post("/health")
        metrics = http.get("/metrics").text
    assert error_of(r, 404)["code"] == "unknown_route" and r.headers["x-request-id"] == "r" * 200  # as other routes
    with server.client() as http:
        long_path = error_of(http.get("/" + "p" * 10_000), 404)["message"]
    assert "/" + "p" * 199 + "…" in long_path and len(long_path) < 1000  # the path sent was echoed whole
    assert error_of(wrong_method, 405)["code"] == "method_not_allowed"
    # counted, under a fixed label: a label per path sent would grow without bound
    assert 'simcse_requests_total{route="unknown",status="404"}' in metrics and "/v2/nothing" not in metrics
    assert 'simcse_requests_total{route="/health",status="405"}' in metrics


@pytest.mark.parametrize("body, meant", [
    (b'{"input": "a", "dimension": 8}', "dimensions"),  # was a 200 with every dimension
    (b'{"input": "a", "encoding-format": "base64"}', "encoding_format"),
    (b'{"input": "a", "encodingFormat": "base64"}', "encoding_format"),
    (b'{"input": "a", "prompt-name": "query"}', "prompt_name"),
    (b'{"input": "a", "truncated": false}', "truncate"),
])
def test_a_near_miss_of_a_known_field_is_refused_naming_the_field_meant(server, body, meant):
    with server.client() as http:
        err = error_of(http.post("/v1/embeddings", content=body), 400)
    field = body.split(b'"')[5].decode()
    assert err["code"] == "unknown_field" and err["param"] == field
    assert f"Unknown field {field!r}: did you mean {meant!r}?" in err["message"]


def test_fields_clients_send_are_still_accepted_and_ignored(server):
    # the openai client's user, and other vendors' fields (Cohere/Voyage/NIM input_type, Voyage truncation, Jina task)
    client = OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0)
    resp = client.embeddings.create(model="m", input=["a"], user="u-1", dimensions=8, extra_body={
        "input_type": "query", "truncation": True, "task": "retrieval.query", "model_name": "x", "prompt": "q"})
    assert len(resp.data[0].embedding) == 8


@pytest.mark.parametrize("body, needle", [
    (b'{"input": [101.5, 102]}', "input[0] is 101.5: token ids must be integers"),  # a flat id list is valid input
    (b'{"input": [101, 102.5]}', "input[1] is 102.5: token ids must be integers"),
    (b'{"input": ["a"], "dimensions": 1e300}', "dimensions (a number over 2**63) is out of range"),
    (b'{"input": ["a"], "dimensions": 99999999999999999999999}', "dimensions (a number over 2**63) is out of range"),
    (b'{"input": [18446744073709551616]}', "input[0] holds a number over 2**63: token ids are integers"),
    (b'{"input": [[101, -18446744073709551616]]}', "input[0] holds a number under -2**63"),
    (b'{"input": ["a"], "dimensions": [' + b"1, " * 1000 + b'1]}', "dimensions must be an integer, got [1, 1,"),
])
def test_bad_numbers_are_named_as_sent_and_huge_values_shortened(server, body, needle):
    # 1e300 was echoed as a 300-digit integer, 99999999999999999999999 as 99999999999999991611392 and 2**64 as
    # 1.8446744073709552e+19 (orjson reads integers past 64 bits as floats)
    with server.client() as http:
        err = error_of(http.post("/v1/embeddings", content=body), 400)
    assert needle in err["message"] and len(err["message"]) < 300, err["message"]
