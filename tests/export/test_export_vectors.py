"""What the export writes about vectors: trained sizes, prompts (flags and sentence-transformers' config)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from export.source import SourceError
from export.vectors import parse_prompts, prompts, trained_dims


def source(path: Path, meta: dict | None = None) -> SimpleNamespace:
    return SimpleNamespace(path=path, metadata=meta or {}, pooling_skips_prompt=False)


def test_trained_sizes_come_from_simcse_json_or_the_flag(tmp_path: Path) -> None:
    assert trained_dims(source(tmp_path, {"matryoshka_dims": [384, 128, 64]}), None, 384) == [128, 64]
    assert trained_dims(source(tmp_path), [256, 32], 384) == [256, 32]  # a model trained elsewhere
    assert trained_dims(source(tmp_path), None, 384) == []
    with pytest.raises(SourceError, match=r"--matryoshka-dims \[512, 64\]: sizes must be descending, from 384"):
        trained_dims(source(tmp_path), [512, 64], 384)
    with pytest.raises(SourceError, match="simcse.json matryoshka_dims"):
        trained_dims(source(tmp_path, {"matryoshka_dims": [64, 128]}), None, 384)


def test_a_flag_naming_an_untrained_size_is_refused_and_the_trained_ones_accepted(tmp_path: Path) -> None:
    trained = source(tmp_path, {"matryoshka_dims": [384, 128, 64]})
    with pytest.raises(SourceError) as e:  # the manifest said [256, 32]: 256 never trained, 128 reported untrained
        trained_dims(trained, [256, 32], 384)
    assert "--matryoshka-dims [256, 32] names [256, 32], which this checkpoint was not trained for" in str(e.value)
    assert "[384, 128, 64]" in str(e.value) and "drop --matryoshka-dims" in str(e.value)
    with pytest.raises(SourceError, match=r"names \[32\]"):
        trained_dims(trained, [128, 32], 384)
    assert trained_dims(trained, [384, 128, 64], 384) == [128, 64]
    assert trained_dims(trained, [128, 64], 384) == [128, 64]  # the full size is implied either way
    assert trained_dims(trained, [128], 384) == [128]  # some of them only (64 left out: int8 may fail there)


def test_a_flag_on_a_checkpoint_trained_at_full_size_only_is_refused(tmp_path: Path) -> None:
    plain = source(tmp_path, {"pooler": "avg", "matryoshka_dims": None})  # this trainer's simcse.json, no sizes
    with pytest.raises(SourceError) as e:  # the manifest said trained_dims [256, 128] and the SDK stopped warning
        trained_dims(plain, [256, 128], 384)
    assert "--matryoshka-dims [256, 128]: this checkpoint was trained at its full size only" in str(e.value)
    assert f"{tmp_path}/simcse.json matryoshka_dims null" in str(e.value) and "Drop --matryoshka-dims" in str(e.value)
    assert trained_dims(plain, None, 384) == []
    assert trained_dims(source(tmp_path), [256, 128], 384) == [256, 128]  # no simcse.json: trained elsewhere


def test_prompts_from_the_sentence_transformers_config_and_flags(tmp_path: Path) -> None:
    (tmp_path / "config_sentence_transformers.json").write_text(json.dumps(
        {"prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": "query"}))
    table, default = prompts(source(tmp_path), {"passage": "doc: "}, None)
    assert table == {"query": "query: ", "passage": "doc: "} and default == "query"
    assert prompts(source(tmp_path), {}, "passage")[1] == "passage"
    with pytest.raises(SourceError, match=r"default prompt 'title' is not one of the prompts \['passage', 'query'\]"):
        prompts(source(tmp_path), {}, "title")
    assert prompts(source(tmp_path / "none"), {}, None) == ({}, None)


def test_prompt_flags_keep_their_spaces_and_refuse_a_missing_name() -> None:
    assert parse_prompts(["query=query: ", "x=a=b"]) == {"query": "query: ", "x": "a=b"}
    with pytest.raises(SourceError, match="write NAME=TEXT"):
        parse_prompts(["query: "])
