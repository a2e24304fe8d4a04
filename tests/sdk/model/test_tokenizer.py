"""The tokenizer: its special tokens, and a max length that leaves room for text."""

from __future__ import annotations

from pathlib import Path

import pytest
from simcse_sdk.errors import InvalidArgumentError
from simcse_sdk.model.tokenizer import SentenceTokenizer


def test_special_tokens_do_not_depend_on_the_max_length(minilm_dir: Path) -> None:
    # At 3 tokens the probe text itself was cut, and the specials came out as ((), ()): the server then took
    # every list of this model's ids for OpenAI's.
    for length in (3, 4, 256):
        tok = SentenceTokenizer(minilm_dir / "tokenizer.json", length)
        assert tok.special_tokens() == ((101,), (102,))
    ids, cut = SentenceTokenizer(minilm_dir / "tokenizer.json", 3).encode_with_truncation(["hello world there"])
    assert ids[0].tolist() == [101, 7592, 102] and cut == [True]


@pytest.mark.parametrize("length", [1, 2])
def test_a_max_length_without_room_for_text_is_refused(minilm_dir: Path, length: int) -> None:
    # tokenizers does not cut at all below its special tokens' count: 1 gave the whole text back.
    with pytest.raises(InvalidArgumentError, match=f"max length {length} leaves no room for text: this tokenizer "
                       "puts 2 special tokens around every text; use a max length of at least 3"):
        SentenceTokenizer(minilm_dir / "tokenizer.json", length)


@pytest.mark.parametrize("length", [0, -5, 2.5, True])
def test_a_max_length_that_is_not_a_count_is_named(minilm_dir: Path, length: object) -> None:
    with pytest.raises(InvalidArgumentError, match="max_length must be an int >= 1"):  # was "file cannot be loaded"
        SentenceTokenizer(minilm_dir / "tokenizer.json", length)  # type: ignore[arg-type]
