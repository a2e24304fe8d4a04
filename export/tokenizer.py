"""The exported ``tokenizer.json``: the checkpoint's, with what sentence-transformers does to the text built in.

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


def write_tokenizer(src: Path, dst: Path, lowercase: bool) -> None:
    """Copy ``src`` to ``dst``; with ``lowercase``, with a ``Lowercase`` normaliser first unless it lowercases."""
    if not lowercase:
        shutil.copy(src, dst)
        return
    spec = json.loads(src.read_text(encoding="utf-8"))
    if lowercases(spec.get("normalizer")):
        shutil.copy(src, dst)
        return
    own = spec.get("normalizer")
    spec["normalizer"] = {"type": "Sequence", "normalizers": [{"type": "Lowercase"}, *([own] if own else [])]}
    dst.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    logger.info("do_lower_case: texts are lowercased before tokenising (a Lowercase normaliser in tokenizer.json)")


def lowercases(normalizer: dict[str, Any] | None) -> bool:
    """Whether a ``tokenizer.json`` normaliser lowercases the text already (BERT's uncased one does)."""
    if not normalizer:
        return False
    if normalizer.get("type") == "Lowercase" or (normalizer.get("type") == "BertNormalizer"
                                                   and normalizer.get("lowercase")):
        return True
    return any(lowercases(n) for n in normalizer.get("normalizers") or [])
