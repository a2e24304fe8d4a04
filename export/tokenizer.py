"""The exported ``tokenizer.json``: the checkpoint's, with what sentence-transformers does to the text built in.

A checkpoint whose ``tokenizer_config.json`` says ``truncation_side: "left"`` (transformers then keeps the end
of a long text) gets left truncation written into the file, which the SDK's tokenizer follows.

A sentence-transformers folder whose ``sentence_bert_config.json`` says ``do_lower_case: true`` lowercases every
text before its tokenizer sees it (a cased vocabulary trained on lowercased text). The SDK reads only
``tokenizer.json``, so the export puts a ``Lowercase`` normaliser in front of the tokenizer's own, as
sentence-transformers itself does with a fast tokenizer; without it, "A Man" and "a man" would get other vectors
than sentence-transformers gives (cosine 0.94 on a test model).

Example:
    >>> write_tokenizer(Path("ckpt/tokenizer.json"), Path("out/tokenizer.json"), lowercase=True)   # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def write_tokenizer(src: Path, dst: Path, lowercase: bool, truncation_side: str = "right", max_length: int = 512) -> None:
    """Copy ``src`` to ``dst``; with ``lowercase``, with a ``Lowercase`` normaliser first unless it lowercases;
    with ``truncation_side="left"`` (transformers' ``tokenizer_config.json``), truncating on the left, which
    the SDK's tokenizer reads from the file (it cuts on the right otherwise). A truncation the file sets is set to
    ``max_length``, the served length."""
    spec = json.loads(src.read_text(encoding="utf-8"))
    changed = False
    if lowercase and not lowercases(spec.get("normalizer")):
        own = spec.get("normalizer")
        spec["normalizer"] = {"type": "Sequence", "normalizers": [{"type": "Lowercase"}, *([own] if own else [])]}
        logger.info("do_lower_case: texts are lowercased before tokenising (a Lowercase normaliser in tokenizer.json)")
        changed = True
    truncation = spec.get("truncation") or {}
    if truncation_side == "left" or (truncation and truncation.get("max_length") != max_length):
        # the served length (a trained checkpoint's file kept the training cut, 32: anyone reading it got 32)
        from tokenizers import Tokenizer

        tok = Tokenizer.from_str(json.dumps(spec))
        tok.enable_truncation(max_length, direction=truncation_side)
        spec = json.loads(tok.to_str())
        if truncation_side == "left":
            logger.info("truncation_side left: a text longer than %d tokens loses its start, not its end", max_length)
        changed = True
    if changed:
        dst.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    else:
        shutil.copy(src, dst)


def lowercases(normalizer: dict[str, Any] | None) -> bool:
    """Whether a ``tokenizer.json`` normaliser lowercases the text already (BERT's uncased one does)."""
    if not normalizer:
        return False
    if normalizer.get("type") == "Lowercase" or (normalizer.get("type") == "BertNormalizer"
                                                   and normalizer.get("lowercase")):
        return True
    return any(lowercases(n) for n in normalizer.get("normalizers") or [])
