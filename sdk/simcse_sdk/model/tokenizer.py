"""The fast (Rust) tokenizer, configured for dynamic padding and truncation.

Shipped ``tokenizer.json`` files often carry fixed padding (all-MiniLM-L6-v2 pads every
sentence to 128): it is switched off here, and each batch is padded only to its own
longest sentence by :mod:`simcse_sdk.inputs.batching`. Texts longer than the model's max length
are truncated to it (the [CLS]/[SEP] or <s>/</s> tokens are kept).

Example:
    >>> tok = SentenceTokenizer("my-model/tokenizer.json", max_length=32)   # doctest: +SKIP
    >>> ids = tok.encode(["a short sentence", ""])                          # doctest: +SKIP
    >>> [len(x) for x in ids]                                              # doctest: +SKIP
    [5, 2]
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from ..errors import InputError, InvalidArgumentError, ModelDirError

# A text of more than twice this many characters a token of max length is tokenised from a part of it first: its
# start (its end, for a tokenizer that truncates on the left), cut at a space. Where that part alone is longer than
# max length, truncation keeps the same tokens as from the whole text, which is not tokenised at all: 100 texts of
# 20,000 characters took 102 instead of 602 ms (all-MiniLM-L6-v2, max length 256), one of 1.5 MB 1.1 s. Where the
# part is not that long (very long words, runs of other whitespace), the whole text is tokenised, as before.
CHARS_A_TOKEN = 16
MAX_PART_CHARS = 2**17  # longer parts (max lengths over 8,192) are not used: every text is tokenised whole


def _probe(chars: int) -> str:
    """What a tokenizer is checked on when it loads, ``chars`` and more long: a part cut at a space must give what the
    whole text gives (a tokenizer whose pre-tokenizer does not split at spaces would not; it then tokenises every
    text whole)."""
    unit = [f"Word{i}, naïve café-{i * 7} (über) 東京 don't  x{i % 13}\n" for i in range(40)]
    return " ".join(unit * (chars // sum(len(u) + 1 for u in unit) + 1))


class SentenceTokenizer:
    """Turns sentences into token id lists, truncated to ``max_length``, unpadded."""

    def __init__(self, path: str | os.PathLike[str], max_length: int) -> None:
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
            raise InvalidArgumentError(f"max_length must be an int >= 1 (tokens a text keeps), got {max_length!r}.")
        path = Path(path)
        if not path.is_file():
            raise ModelDirError(f"Tokenizer file {str(path)!r} is missing; re-export the model directory.")
        try:
            self._tok = Tokenizer.from_file(str(path))
            self._tok.no_padding()
            # the side a long text loses, as the file says (the export writes "left" for a model that truncates
            # there: transformers' truncation_side)
            self.truncation_side: str = (self._tok.truncation or {}).get("direction", "right")
            self._tok.no_truncation()  # the special tokens are read from an uncut text
            self._specials = self._find_special_tokens()
            self._tok.enable_truncation(max_length=max_length, direction=self.truncation_side)
        except Exception as e:  # tokenizers raises a bare Exception for every file it cannot parse
            raise ModelDirError(
                f"Tokenizer file {str(path)!r} cannot be loaded ({e}): it is truncated or not a tokenizers "
                "JSON file. Copy the model directory again or re-export the model."
            ) from e
        specials = len(self._specials[0]) + len(self._specials[1])
        if max_length <= specials:  # tokenizers would not cut at all below its special tokens' count
            raise InvalidArgumentError(
                f"max length {max_length} leaves no room for text: this tokenizer puts {specials} special tokens "
                f"around every text; use a max length of at least {specials + 1}."
            )
        self.max_length = max_length
        part = max_length * CHARS_A_TOKEN  # a long text's part (see CHARS_A_TOKEN); 0: every text tokenised whole
        self._part_chars = part if part <= MAX_PART_CHARS else 0
        if self._part_chars and not self._parts_agree(_probe(part * 3 // 2)):
            self._part_chars = 0

    @property
    def vocab_size(self) -> int:
        """Number of token ids the model knows (ids are in ``range(vocab_size)``)."""
        return int(self._tok.get_vocab_size(with_added_tokens=True))

    def special_tokens(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The ids this tokenizer puts before and after every text: BERT ``((101,), (102,))`` ([CLS], [SEP]),
        RoBERTa ``((0,), (2,))``; ``((), ())`` for one that adds none (or in a way that cannot be split)."""
        return self._specials

    def _find_special_tokens(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """:meth:`special_tokens`, read by encoding a text with and without them (truncation off)."""
        full = self._tok.encode("hello world", add_special_tokens=True).ids
        plain = self._tok.encode("hello world", add_special_tokens=False).ids
        for i in range(len(full) - len(plain) + 1):
            if plain and full[i : i + len(plain)] == plain:
                return tuple(full[:i]), tuple(full[i + len(plain) :])
        return (), ()

    def id_names(self, ids: tuple[int, ...] | list[int]) -> list[str]:
        """The vocabulary entries of ``ids`` (``[CLS]``, ``</s>``...), for messages."""
        return [self._tok.id_to_token(i) or f"#{i}" for i in ids]

    def encode(self, sentences: list[str]) -> list[np.ndarray]:
        """Token ids of each sentence (int64 arrays of varying length), special tokens included."""
        return self.encode_with_truncation(sentences)[0]

    def encode_with_truncation(self, sentences: list[str]) -> tuple[list[np.ndarray], list[bool]]:
        """Token ids of each sentence, and whether it was cut to ``max_length`` tokens."""
        if isinstance(sentences, str):
            raise InputError("the tokenizer takes a list of texts, got a single str: pass [text].")
        given = list(sentences)
        long = [i for i, t in enumerate(given) if isinstance(t, str) and 0 < 2 * self._part_chars < len(t)]
        texts = given.copy()
        for i in long:
            texts[i] = self._part(given[i])
        encodings = self._encode(texts)
        whole = [i for i in long if not encodings[i].overflowing]  # its part was not longer than max length
        for i, e in zip(whole, self._encode([given[i] for i in whole]) if whole else [], strict=True):
            encodings[i] = e
        return [np.asarray(e.ids, dtype=np.int64) for e in encodings], [bool(e.overflowing) for e in encodings]

    def _encode(self, texts: list[str]) -> list:  # type: ignore[type-arg]
        try:
            return self._tok.encode_batch(texts, add_special_tokens=True)
        except Exception as e:  # Encoder.encode checks its input first; this only names what got past that
            raise InputError(
                f"The tokenizer rejected the input ({e}): pass a list of str without lone surrogates."
            ) from e

    def _part(self, text: str) -> str:
        """The part of a long ``text`` that truncation keeps tokens of: its first ``_part_chars`` characters up to a
        space (its last, from a space, when truncating on the left); the whole text where there is no space."""
        n = self._part_chars
        if self.truncation_side == "left":
            at = text.find(" ", len(text) - n)
            return text if at < 0 else text[at:]
        at = text.rfind(" ", 0, n)
        return text if at <= 0 else text[:at]

    def _parts_agree(self, probe: str) -> bool:
        """Whether the tokens of ``probe``'s part are what the whole of it gives (see ``CHARS_A_TOKEN``)."""
        part = self._part(probe)
        if part == probe:
            return False
        a, b = self._tok.encode_batch([part, probe], add_special_tokens=True)
        return bool(a.overflowing) and a.ids == b.ids
