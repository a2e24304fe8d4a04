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
        try:
            encodings = self._tok.encode_batch(sentences, add_special_tokens=True)
        except Exception as e:  # Encoder.encode checks its input first; this only names what got past that
            raise InputError(
                f"The tokenizer rejected the input ({e}): pass a list of str without lone surrogates."
            ) from e
        return [np.asarray(e.ids, dtype=np.int64) for e in encodings], [bool(e.overflowing) for e in encodings]
