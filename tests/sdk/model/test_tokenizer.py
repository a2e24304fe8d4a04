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


def _trained(kind: str, side: str, path: Path) -> Path:
    """A tokenizer.json of ``kind`` (the pre-tokenizers of BERT, RoBERTa, XLM-R; "none": no pre-tokenizer) that
    truncates on ``side``, trained here on a few sentences."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    corpus = [f"word{i} naïve café {i * 7} über 東京 don't stop, the end." for i in range(200)]
    specials = ["[UNK]", "[CLS]", "[SEP]", "[PAD]"]
    if kind == "wordpiece":
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        trainer = trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials)
    elif kind == "bpe":
        tok = Tokenizer(models.BPE(unk_token="[UNK]"))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    else:
        tok = Tokenizer(models.Unigram())
        if kind == "unigram":
            tok.pre_tokenizer = pre_tokenizers.Metaspace()
        trainer = trainers.UnigramTrainer(vocab_size=300, special_tokens=specials, unk_token="[UNK]")
    tok.train_from_iterator(corpus, trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls),
                                                                                                ("[SEP]", sep)])
    tok.enable_truncation(max_length=512, direction=side)
    tok.save(str(path))
    return path


def _long_texts(seed: int, n: int = 12) -> list[str]:
    import random

    rng = random.Random(seed)
    words = ["word", "naïve", "café", "über", "東京", "don't", "stop,", "the", "end.", "x" * 40, "42", "a-b", "«q»"]
    gaps = [" ", " ", " ", "  ", "\n", "\t", "\u00a0", " \n "]
    texts = []
    for _ in range(n):
        size = rng.choice([300, 3_000, 12_000])
        texts.append("".join(rng.choice(words) + rng.choice(gaps) for _ in range(size)))
    texts += ["\n".join(["word"] * 9_000), "x" * 20_000, " " * 9_000 + "the end", "end " + "\n" * 20_000]
    return texts


@pytest.mark.parametrize("kind", ["wordpiece", "bpe", "unigram", "none"])
@pytest.mark.parametrize("side", ["right", "left"])
def test_a_long_texts_tokens_are_what_the_whole_text_gives(tmp_path: Path, kind: str, side: str) -> None:
    """A long text is tokenised from a part of it (CHARS_A_TOKEN): the ids and the 'cut' flag are those of the whole
    text, for each kind of pre-tokenizer and both truncation sides; a tokenizer that does not split at spaces (no
    pre-tokenizer) is found out when it loads and tokenises every text whole."""
    file = _trained(kind, side, tmp_path / "tokenizer.json")
    tok = SentenceTokenizer(file, 64)
    assert tok.truncation_side == side
    assert tok._part_chars > 0
    texts = _long_texts(seed=len(kind) + len(side))
    ids, cut = tok.encode_with_truncation(texts)
    whole = tok._tok.encode_batch(texts, add_special_tokens=True)
    assert [x.tolist() for x in ids] == [e.ids for e in whole]
    assert cut == [bool(e.overflowing) for e in whole]


def test_a_long_text_of_the_real_tokenizer_is_cut_as_a_whole_one(minilm_dir: Path) -> None:
    tok = SentenceTokenizer(minilm_dir / "tokenizer.json", 256)
    texts = _long_texts(seed=7, n=20)
    ids, cut = tok.encode_with_truncation(texts)
    whole = tok._tok.encode_batch(texts, add_special_tokens=True)
    assert [x.tolist() for x in ids] == [e.ids for e in whole] and cut == [bool(e.overflowing) for e in whole]


def test_a_tokenizer_whose_part_does_not_give_the_whole_texts_tokens_tokenises_every_text_whole(
        minilm_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from simcse_sdk.model import tokenizer

    # a probe whose part holds fewer tokens than the max length: the check cannot tell, so it says no
    monkeypatch.setattr(tokenizer, "_probe", lambda chars: "word\n" * (chars // 5) + " end")
    tok = SentenceTokenizer(minilm_dir / "tokenizer.json", 256)
    assert tok._part_chars == 0
    text = "a few words " * 3_000
    assert tok.encode([text])[0].tolist() == tok._tok.encode(text, add_special_tokens=True).ids
