"""Train to serve: a 20-step Matryoshka run, exported, then served and embedded to Parquet at a trained size.

The model is ``tiny_matryoshka_dir`` (tests/conftest.py): the tiny BERT trained 20 steps with
``matryoshka_dims=[32, 16, 8]``, exported with fp32 and int8 and the prompts ``query`` and ``passage``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from simcse_sdk import Encoder

TEXTS = ["A man is playing a guitar.", "Stocks fell sharply after the announcement.", "ok", ""]


def test_the_export_records_sizes_prompts_and_gates_each_size(tiny_matryoshka_dir: Path) -> None:
    manifest = json.loads((tiny_matryoshka_dir / "manifest.json").read_text())
    assert manifest["trained_dims"] == [16, 8] and manifest["embedding_dim"] == 32
    assert manifest["prompts"] == {"query": "query: ", "passage": "passage: "}
    assert manifest["default_prompt_name"] == "passage"  # the gate compared graphs without it (else fp32 fails)
    assert len(manifest["output_scales"]["int8"]) == 32 and all(s > 0 for s in manifest["output_scales"]["int8"])
    for name in ("fp32", "int8"):
        by_dim = manifest["variants"][name]["gate"]["by_dim"]
        assert sorted(by_dim) == ["16", "8"] and all(0 < g["min_cos"] <= 1.0 + 1e-6 for g in by_dim.values())
    report = (tiny_matryoshka_dir / "report.md").read_text()
    assert "trained sizes: 32, 16, 8" in report and "| int8 | 8 |" in report


def test_the_server_cuts_to_a_trained_size_and_applies_prompts(tiny_matryoshka_dir: Path) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).parent / "sdk" / "server"))
    from openai import OpenAI
    from server_harness import thread_server

    enc = Encoder(tiny_matryoshka_dir, device="cpu", variant="int8")
    with thread_server(tiny_matryoshka_dir, model_name="tiny") as running:
        client = OpenAI(base_url=f"{running.url}/v1", api_key="none", max_retries=0)
        resp = client.embeddings.create(model="tiny", input=TEXTS, dimensions=8, extra_body={"prompt_name": "query"})
        got = np.array([d.embedding for d in resp.data], dtype=np.float32)
        np.testing.assert_allclose(got, enc.encode(TEXTS, dimensions=8, prompt_name="query"), atol=1e-6)
        plain = np.array([d.embedding for d in client.embeddings.create(model="tiny", input=TEXTS).data])
        assert not np.allclose(plain[:, :8] / np.linalg.norm(plain[:, :8], axis=1, keepdims=True), got, atol=1e-3)
        with running.client() as http:
            info = http.get("/info").json()
            assert info["trained_dimensions"] == [32, 16, 8] and info["prompts"]["passage"] == "passage: "
            bad = http.post("/v1/embeddings", json={"input": ["a"], "prompt_name": "nope"})
            assert bad.status_code == 400 and bad.json()["error"]["param"] == "prompt_name"
            assert "'query'" in bad.json()["error"]["message"]
            ids = http.post("/v1/embeddings", json={"input": [[101, 2023, 102]], "prompt_name": "query"})
            assert ids.status_code == 400 and "token ids" in ids.json()["error"]["message"]
            doc = http.get("/openapi.json").json()
            body = doc["paths"]["/v1/embeddings"]["post"]["requestBody"]["content"]["application/json"]["schema"]
            assert body["properties"]["prompt_name"]["enum"] == ["query", "passage", "", None]


@pytest.mark.parametrize(("output", "arrow_type", "width"), [("int8", "int8", 8), ("ubinary", "uint8", 1),
                                                              ("float32", "float", 8)])
def test_simcse_embed_writes_the_compact_column(tiny_matryoshka_dir: Path, tmp_path: Path, output: str,
                                                arrow_type: str, width: int) -> None:
    import pyarrow.parquet as pq
    from simcse_sdk.embed.__main__ import main

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(TEXTS[:3]) + "\n")
    out = tmp_path / "emb"
    assert main([str(tiny_matryoshka_dir), str(corpus), "--out", str(out), "--variant", "fp32", "--dimensions", "8",
                 "--output", output, "--prompt-name", "passage", "--no-progress", "-q"]) == 0
    table = pq.read_table(out)
    assert str(table.schema.field("embedding").type) == f"fixed_size_list<element: {arrow_type}>[{width}]"
    enc = Encoder(tiny_matryoshka_dir, device="cpu", variant="fp32")
    want = enc.encode(TEXTS[:3], dimensions=8, output=output, prompt_name="passage")
    got = np.array(table.column("embedding").to_pylist(), dtype=want.dtype)
    if output == "float32":
        np.testing.assert_allclose(got, want, atol=1e-6)
    else:
        np.testing.assert_array_equal(got, want)
    vectors = json.loads((out / "_manifest.json").read_text())["model"]["vectors"]
    assert vectors["dimensions"] == 8 and vectors["output"] == output and vectors["prompt"] == "passage: "
    assert vectors["bytes_per_vector"] == {"int8": 8, "ubinary": 1, "float32": 32}[output]
    assert ("int8_scale" in vectors) == (output == "int8")
