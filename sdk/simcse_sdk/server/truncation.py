"""Inputs longer than the model: this model's token ids cut as its tokenizer cuts a text, and the full length of an
input refused for it (truncation off), which the 422 names.

Example:
    >>> cut = Truncation(encoder)                     # doctest: +SKIP
    >>> len(cut.ids(np.arange(1000))), cut.max_len    # doctest: +SKIP
    (128, 128)
"""

from __future__ import annotations

import threading

import numpy as np

from ..encoder import Encoder
from ..model.manifest import TOKENIZER_NAME
from ..model.tokenizer import SentenceTokenizer

UNCUT = 2**31 - 1  # the max length of the tokenizer that counts a refused text's tokens: no text is cut


class Truncation:
    """The model's max length and the special tokens a cut keeps, read off an :class:`~simcse_sdk.Encoder`."""

    def __init__(self, encoder: Encoder) -> None:
        tokenizer = encoder.tokenizer
        self.max_len = encoder.manifest.max_seq_length
        self.prefix, self.suffix = (np.asarray(t, dtype=np.int64) for t in tokenizer.special_tokens())  # kept
        self.cut_left = tokenizer.truncation_side == "left"
        self._file = encoder.path / TOKENIZER_NAME
        self._uncut: SentenceTokenizer | None = None  # loaded when a text is first refused
        self._lock = threading.Lock()

    def ids(self, ids: np.ndarray) -> np.ndarray:
        """This model's ids cut to its max length as its tokenizer cuts a text (on its truncation side), the special
        tokens around the text kept."""
        if len(ids) <= self.max_len:
            return ids
        if self.cut_left:
            return np.concatenate([ids[: len(self.prefix)], ids[len(ids) - (self.max_len - len(self.prefix)):]])
        return np.concatenate([ids[: self.max_len - len(self.suffix)], ids[len(ids) - len(self.suffix):]])

    def tokens(self, text: str) -> int:
        """The tokens of ``text`` uncut, special tokens included: only for a text refused as too long (the model's
        tokenizer stops counting at its max length)."""
        with self._lock:
            if self._uncut is None:
                self._uncut = SentenceTokenizer(self._file, UNCUT)
        return len(self._uncut.encode([text])[0])
