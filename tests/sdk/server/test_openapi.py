"""GET /openapi.json documents every route the app serves, and the live server holds to it under a fuzzer.

schemathesis generates requests from the document (valid and invalid bodies, other methods, headers) and
checks every response: no 5xx, status code, content type, headers and body as documented, and every 4xx in
OpenAI's error shape. Bounded: a few hundred requests, well under a minute.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from server_harness import thread_server
from simcse_sdk.server import ServerConfig, create_app
from simcse_sdk.server.api.openapi import ENCODING_FORMATS, KNOWN_FIELDS, REQUEST, ROUTES

pytest.importorskip("schemathesis", reason="the fuzz test needs schemathesis (the dev extra)")


@pytest.fixture(scope="module")
def server(tiny_model_dir):
    with thread_server(tiny_model_dir, model_name="tiny", max_inputs=64, max_queue=256,
                       max_body_bytes=200_000) as running:
        yield running


def test_the_document_lists_every_route_the_app_serves(server, tiny_model_dir):
    with server.client() as http:
        doc = http.get("/openapi.json").json()
    assert doc["openapi"] == "3.1.0"
    served = {(r.path, m) for r in create_app(ServerConfig(model_dir=str(tiny_model_dir))).routes
              for m in r.methods - {"HEAD"}}
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    assert served == documented == {(r.path, r.method) for r in ROUTES}
    body = doc["paths"]["/v1/embeddings"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["dimensions"]["maximum"] == 32  # the served model's size
    assert set(body["properties"]) == KNOWN_FIELDS and REQUEST["properties"]["encoding_format"]["enum"] == [
        *ENCODING_FORMATS, None]


def test_info_names_the_model_and_its_manifest_not_a_path(server, tiny_model_dir):
    with server.client() as http:
        info = http.get("/info").json()
    assert str(tiny_model_dir) not in orjson.dumps(info).decode() and "model_dir" not in info
    import hashlib

    assert info["manifest_sha256"] == hashlib.sha256((tiny_model_dir / "manifest.json").read_bytes()).hexdigest()
    assert info["model"] == "tiny" and info["token_ids"]["policy"] == "auto"


def test_the_live_server_holds_to_its_document_under_schemathesis(server, tmp_path):
    # every check but positive_data_acceptance: whether token ids are valid depends on the model's vocabulary and
    # on their framing (this model's, or OpenAI's), which the document states in words, not in a JSON Schema
    cmd = [str(Path(sys.executable).with_name("schemathesis")), "run", f"{server.url}/openapi.json",
           "--max-examples", "100", "--seed", "20261202", "--checks", "all",
           "--exclude-checks", "positive_data_acceptance", "--no-color"]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(Path(__file__).with_name("schemathesis_hooks.py"))}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)  # its cache there
    summary = done.stdout[done.stdout.rfind("SUMMARY"):]
    print(summary)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    generated = int(re.search(r"(\d+) generated", summary).group(1))
    assert generated >= 200 and f"Tested: {len(ROUTES) - 1}" in summary, summary  # every route but /openapi.json
    assert "openai_error_body" not in summary, summary
