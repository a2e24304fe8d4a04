"""Encoder.encode's sizes, output types and prompts on the tiny Matryoshka export."""

from __future__ import annotations

import numpy as np
import pytest
from simcse_sdk import Encoder
from simcse_sdk.errors import InputError, InvalidArgumentError

TEXTS = ["A man is playing a guitar.", "Someone plays music.", "ok"]


@pytest.fixture(scope="module")
def enc(tiny_matryoshka_dir) -> Encoder:
    return Encoder(tiny_matryoshka_dir, device="cpu", variant="fp32")


def test_dimensions_cut_and_renormalise(enc: Encoder) -> None:
    full = enc.encode(TEXTS)
    got = enc.encode(TEXTS, dimensions=8)
    want = full[:, :8] / np.linalg.norm(full[:, :8], axis=1, keepdims=True)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert not enc.manifest.normalized and not np.allclose(np.linalg.norm(full, axis=1), 1.0)
    # the full size asked for is renormalised too: unit rows at every size (they were raw at 32 and unit at 31)
    np.testing.assert_allclose(enc.encode(TEXTS, dimensions=32), enc.encode(TEXTS, normalize=True), atol=1e-6)


def test_int8_and_ubinary_outputs(enc: Encoder) -> None:
    unit = enc.encode(TEXTS, dimensions=16, normalize=True)
    q = enc.encode(TEXTS, dimensions=16, output="int8")
    scale = enc.manifest.output_scales["int8"][15]
    assert q.dtype == np.int8 and q.shape == (3, 16)
    np.testing.assert_array_equal(q, np.clip(np.rint(unit * 127 / scale), -127, 127))
    b = enc.encode(TEXTS, dimensions=16, output="ubinary")
    assert b.dtype == np.uint8 and b.shape == (3, 2)
    np.testing.assert_array_equal(np.unpackbits(b, axis=1), (unit > 0).astype(np.uint8))
    assert enc.encode([], output="ubinary").shape == (0, 4)


def test_search_encodes_queries_as_the_corpus_was(enc: Encoder) -> None:
    for output in ("float32", "int8", "ubinary"):
        corpus = enc.encode(TEXTS, dimensions=8, output=output)
        idx, scores = enc.search(TEXTS, corpus, top_k=3)  # 8 sign bits of a random model may tie: check the score
        for i in range(3):
            assert scores[i, list(idx[i]).index(i)] == pytest.approx(1.0, abs=1e-3), output
        if output != "ubinary":
            assert idx[:, 0].tolist() == [0, 1, 2]


def test_prompts_are_put_before_each_text(enc: Encoder) -> None:
    assert enc.manifest.default_prompt_name == "passage"
    np.testing.assert_allclose(enc.encode(TEXTS, prompt_name="query"),
                               enc.encode(["query: " + t for t in TEXTS], prompt_name=""), atol=1e-6)
    # no name: the model's default prompt; "" asks for none
    np.testing.assert_allclose(enc.encode(TEXTS), enc.encode(["passage: " + t for t in TEXTS], prompt_name=""),
                               atol=1e-6)
    assert not np.allclose(enc.encode(TEXTS), enc.encode(TEXTS, prompt_name=""), atol=1e-3)
    with pytest.raises(InvalidArgumentError, match="prompt_name 'doc' is not one of this model's prompts"):
        enc.encode(TEXTS, prompt_name="doc")


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"dimensions": 64}, InvalidArgumentError, "dimensions=64 is out of range: this model's vectors have 32"),
    ({"dimensions": "8"}, InputError, "dimensions must be an int"),
    ({"output": "float16"}, InvalidArgumentError, "output must be one of float32, int8, ubinary"),
    ({"prompt_name": 1}, InputError, "prompt_name must be a string or None"),
    ({"dimensions": 12, "output": "ubinary"}, InvalidArgumentError,
     "12 is not a multiple of 8: ask for dimensions=16 or 8"),
    ({"dimensions": 4, "output": "ubinary"}, InvalidArgumentError, r"ask for dimensions=8\.$"),
])
def test_bad_arguments_name_the_value(enc: Encoder, kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        enc.encode(TEXTS, **kwargs)


def test_int8_output_of_an_export_without_scales_says_to_re_export(enc: Encoder) -> None:
    from simcse_sdk.vectors.output import OutputShaper

    old = OutputShaper(32, [], None, "old-model")
    with pytest.raises(InvalidArgumentError, match="old-model has none: re-export the model"):
        old.shape(enc.encode(TEXTS), None, "int8", normalize=False)


def test_describe_names_the_trained_sizes(enc: Encoder) -> None:
    assert enc.describe().endswith("trained sizes 32, 16, 8")
