"""Prompts and sizes in the manifest: read back as written, checked, looked up by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from simcse_sdk.errors import InputError, InvalidArgumentError, ManifestError
from simcse_sdk.model.manifest import Manifest
from simcse_sdk.model.prompts import prompt_text


def raw(**over: object) -> dict:
    base = {"format_version": 1, "pooling": "avg", "normalized": False, "max_seq_length": 32, "embedding_dim": 8,
            "variants": {"fp32": {"file": "model.onnx", "sha256": "0" * 64, "dtype": "float32"}}}
    return {**base, **over}


def test_sizes_prompts_and_scales_round_trip(tmp_path: Path) -> None:
    m = Manifest.from_dict(raw(trained_dims=[4, 2], prompts={"query": "query: "}, default_prompt_name="query",
                               output_scales={"int8": [0.5] * 8}))
    m.save(tmp_path)
    back = Manifest.load(tmp_path)
    assert (back.trained_dims, back.prompts, back.default_prompt_name) == ([4, 2], {"query": "query: "}, "query")
    assert back.output_scales == {"int8": [0.5] * 8}
    old = Manifest.from_dict(raw())  # an export from before these fields: none of them
    assert (old.trained_dims, old.prompts, old.default_prompt_name, old.output_scales) == ([], {}, None, {})
    assert json.loads((tmp_path / "manifest.json").read_text())["trained_dims"] == [4, 2]


@pytest.mark.parametrize(("over", "message"), [
    ({"trained_dims": [16]}, r"trained_dims \[16\] must be descending sizes of at most embedding_dim 8"),
    ({"trained_dims": [2, 4]}, "must be descending"),
    ({"trained_dims": ["4"]}, "trained_dims must be a list of integers >= 1"),
    ({"prompts": {"q": 1}}, "prompts must be a JSON object of prompt name -> text"),
    ({"default_prompt_name": "q"}, r"default_prompt_name 'q' is not one of prompts \[\]"),
    ({"output_scales": {"int8": [0.0]}}, "output_scales must be"),
])
def test_bad_fields_name_the_field_and_the_fix(over: dict, message: str) -> None:
    with pytest.raises(ManifestError, match=message + ".*re-export"):
        Manifest.from_dict(raw(**over), where="m/manifest.json")


def test_prompt_lookup() -> None:
    m = Manifest.from_dict(raw(prompts={"query": "query: ", "passage": "passage: "}, default_prompt_name="passage"))
    assert prompt_text(m, "query") == "query: " and prompt_text(m, None) == "passage: "
    assert prompt_text(m, "") == ""  # no prompt, even where the model has a default
    assert prompt_text(Manifest.from_dict(raw()), None) == ""
    with pytest.raises(InvalidArgumentError, match="prompt_name 'q' is not one of this model's prompts: 'query', "
                                                    "'passage'"):
        prompt_text(m, "q")
    with pytest.raises(InvalidArgumentError, match=r"none \(export with --prompt NAME=TEXT to add one\)"):
        prompt_text(Manifest.from_dict(raw()), "query")
    with pytest.raises(InputError, match="prompt_name must be a string or None, got int 3"):
        prompt_text(m, 3)
