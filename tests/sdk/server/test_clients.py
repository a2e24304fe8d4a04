"""Real clients with their defaults get this model's embeddings: LangChain, LlamaIndex and the openai client.

LangChain's ``OpenAIEmbeddings`` tokenises with tiktoken and sends OpenAI token ids by default. tiktoken
downloads its vocabulary at first use; here its cache is built from the vocabulary the server decodes with
(bpe-openai's, the same file: tiktoken checks its sha256), so the client runs unmodified, offline.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.resources

import numpy as np
import pytest
from server_harness import thread_server
from simcse_sdk import Encoder
from simcse_sdk.evaluation.data.senteval import load_stsb

pytestmark = pytest.mark.real
TIKTOKEN_URL = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"


@pytest.fixture(scope="module", autouse=True)
def tiktoken_cache(tmp_path_factory):
    """tiktoken's cache (TIKTOKEN_CACHE_DIR: files named by the sha1 of the URL) from bpe-openai's vocabularies."""
    pytest.importorskip("tiktoken")
    folder = tmp_path_factory.mktemp("tiktoken")
    for name in ("cl100k_base", "o200k_base"):
        data = gzip.decompress((importlib.resources.files("bpe_openai") / "data" / f"{name}.tiktoken.gz").read_bytes())
        (folder / hashlib.sha1(TIKTOKEN_URL.format(name).encode()).hexdigest()).write_bytes(data)
    patch = pytest.MonkeyPatch()
    patch.setenv("TIKTOKEN_CACHE_DIR", str(folder))
    yield folder
    patch.undo()


@pytest.fixture(scope="module")
def sentences(data_dir):
    dev = load_stsb(data_dir, "dev")
    out = list(dict.fromkeys(dev.first + dev.second))[:1200]
    assert len(out) == 1200
    return out


@pytest.fixture(scope="module")
def served(minilm_model_dir):
    with thread_server(minilm_model_dir, model_name="minilm") as running:
        yield running


@pytest.fixture(scope="module")
def want(minilm_model_dir, sentences):
    return Encoder(minilm_model_dir, device="cpu", variant="int8").encode(sentences, normalize=True)


def min_cos(got, want) -> float:
    got = np.asarray(got, np.float64)
    return float(((got / np.linalg.norm(got, axis=1, keepdims=True)) * want).sum(1).min())


def inputs_of_kind(served, kind: str) -> float:
    with served.client() as http:
        lines = http.get("/metrics").text.splitlines()
    return sum(float(x.split(" ")[1]) for x in lines if x.startswith(f'simcse_inputs_total{{kind="{kind}"}}'))


def test_langchain_default_settings(served, sentences, want):
    from langchain_openai import OpenAIEmbeddings

    before = inputs_of_kind(served, "openai_token_ids")
    emb = OpenAIEmbeddings(base_url=f"{served.url}/v1", api_key="fake", model="text-embedding-3-small")
    docs = emb.embed_documents(sentences)  # chunk_size 1,000: two requests of OpenAI token ids
    query = emb.embed_query(sentences[7])
    assert len(docs) == 1200 and min_cos(docs, want) >= 0.9999
    assert min_cos([query], want[7:8]) >= 0.9999
    assert inputs_of_kind(served, "openai_token_ids") - before == 1201  # they came as token ids, decoded


def test_langchain_sending_plain_text(served, sentences, want):
    from langchain_openai import OpenAIEmbeddings

    emb = OpenAIEmbeddings(base_url=f"{served.url}/v1", api_key="fake", model="text-embedding-3-small",
                           check_embedding_ctx_length=False)
    before = inputs_of_kind(served, "text")
    assert min_cos(emb.embed_documents(sentences), want) >= 0.9999
    assert inputs_of_kind(served, "text") - before == 1200


def test_llamaindex_openai_and_openai_like(served, sentences, want):
    from llama_index.embeddings.openai import OpenAIEmbedding
    from llama_index.embeddings.openai_like import OpenAILikeEmbedding

    for emb in (OpenAIEmbedding(model_name="minilm", api_base=f"{served.url}/v1", api_key="fake"),
                OpenAILikeEmbedding(model_name="any-name-at-all", api_base=f"{served.url}/v1", api_key="fake")):
        got = emb.get_text_embedding_batch(sentences[:300])
        assert min_cos(got, want[:300]) >= 0.9999, type(emb).__name__
        assert min_cos([emb.get_query_embedding(sentences[3])], want[3:4]) >= 0.9999
