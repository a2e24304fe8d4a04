"""The exported ``tokenizer.json``: the checkpoint's, with what sentence-transformers does to the text built in.

A checkpoint whose ``tokenizer_config.json`` says ``truncation_side: "left"`` (transformers then keeps the end
of a long text) gets left truncation written into the file, which the SDK's tokenizer follows.

A sentence-transformers folder whose ``sentence_bert_config.json`` says ``do_lower_case: true`` lowercases every
text before its tokenizer sees it (a cased vocabulary trained on lowercased text). The SDK reads only
``tokenizer.json``, so the export puts a ``Lowercase`` normaliser in front of the tokenizer's own, as
sentence-transformers itself does with a fast tokenizer; without it, "A Man" and "a man" would get other vectors
than sentence-transformers gives (cosine 0.94 on a test model).

Before any work, :func:`check_tokenizer` refuses a tokenizer of special tokens only (every word [UNK]), one with
ids beyond the model's embeddings, and one that splits text otherwise than transformers' ``AutoTokenizer`` (which
the trainer and sentence-transformers use); where only the normaliser differs (``tokenizer_config.json``'s
``do_lower_case`` over a cased ``tokenizer.json``), transformers' normaliser goes into the exported file.

Example:
    >>> write_tokenizer(Path("ckpt/tokenizer.json"), Path("out/tokenizer.json"), lowercase=True)   # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

from .source import SourceError

logger = logging.getLogger(__name__)


def write_tokenizer(src: Path, dst: Path, lowercase: bool, truncation_side: str = "right", max_length: int = 512,
                    normalizer: dict[str, Any] | None = None) -> None:
    """Copy ``src`` to ``dst``; with ``normalizer`` (transformers', from :func:`check_tokenizer`) in place of the
    file's; with ``lowercase``, with a ``Lowercase`` normaliser first unless it lowercases;
    with ``truncation_side="left"`` (transformers' ``tokenizer_config.json``), truncating on the left, which
    the SDK's tokenizer reads from the file (it cuts on the right otherwise). A truncation the file sets is set to
    ``max_length``, the served length."""
    spec = json.loads(src.read_text(encoding="utf-8"))
    changed = False
    if normalizer is not None:
        spec["normalizer"] = normalizer
        changed = True
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


# Mixed case and accents: where tokenizer.json and transformers' tokenizer disagree on lowercasing, they split it
# differently.
PROBE = "A Man Is Playing The Guitar. Ça va? Naïve CAFÉ, 42 Élan"


def check_tokenizer(path: Path, vocab_size: int) -> dict[str, Any] | None:
    """Before any work: ``path/tokenizer.json`` is a tokenizer this model can use, tokenising as transformers does.

    Returns the normaliser transformers' ``AutoTokenizer`` uses where ``tokenizer_config.json`` overrides the one in
    ``tokenizer.json`` (``do_lower_case: true`` over a cased file: the trainer and sentence-transformers see
    lowercased text), else None.

    Raises:
        SourceError: a vocabulary of special tokens only (every word [UNK]), ids beyond the model's ``vocab_size``
            embeddings, or a file that splits text otherwise than ``AutoTokenizer`` beyond its normaliser.
    """
    from tokenizers import Tokenizer

    file = path / "tokenizer.json"
    spec = json.loads(file.read_text(encoding="utf-8"))
    added = spec.get("added_tokens") or []
    vocab = (spec.get("model") or {}).get("vocab") or {}
    words = {v[0] if isinstance(v, list) else v for v in vocab}  # Unigram: [piece, score] pairs
    specials = {a.get("content") for a in added if a.get("special")}
    if not words - specials:
        raise SourceError(
            f"{str(file)!r} holds only special tokens ({', '.join(sorted(map(str, specials))) or 'none'}): every word "
            "would be [UNK]. transformers builds such an empty tokenizer for a folder without tokenizer files. Copy "
            f"the tokenizer files of the model it came from into {str(path)!r} (AutoTokenizer.from_pretrained(BASE)"
            ".save_pretrained(DIR)); a checkpoint trained with this tokenizer saw only [UNK]: train it again from a "
            "base folder that has its tokenizer files."
        )
    tok = Tokenizer.from_str(json.dumps(spec))
    ids = tok.get_vocab(with_added_tokens=True).values()
    top = max(ids, default=-1)
    if vocab_size and top >= vocab_size:
        raise SourceError(
            f"{str(file)!r} has token ids up to {top} ({len(ids)} tokens), but the model embeds {vocab_size} "
            f"(config.json vocab_size): this tokenizer is not the model's. Put the tokenizer files of the model "
            f"the checkpoint was trained from into {str(path)!r}."
        )
    return _transformers_normalizer(path, spec)


def _transformers_normalizer(path: Path, spec: dict[str, Any]) -> dict[str, Any] | None:
    """None where ``tokenizer.json`` tokenises :data:`PROBE` as ``AutoTokenizer`` does with the folder's
    ``tokenizer_config.json`` (or there is none), else AutoTokenizer's
    normaliser when that alone explains the difference (``tokenizer_config.json``'s ``do_lower_case``)."""
    from transformers import AutoTokenizer

    if not (path / "tokenizer_config.json").is_file():  # transformers would guess a class from the model type
        return None
    try:
        auto = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except Exception as e:  # noqa: BLE001 - transformers raises many kinds; the SDK reads tokenizer.json alone
        logger.info("transformers cannot load the tokenizer of %s (%s): tokenizer.json is used as it is", path, e)
        return None
    theirs = list(auto(PROBE, truncation=False)["input_ids"])
    backend = getattr(auto, "backend_tokenizer", None)
    if _ids(spec, PROBE) == theirs or backend is None:
        return None
    normalizer = json.loads(backend.to_str()).get("normalizer")
    if _ids({**spec, "normalizer": normalizer}, PROBE) == theirs:
        logger.warning(
            "%s/tokenizer_config.json (do_lower_case %s) and tokenizer.json normalise text differently: following "
            "transformers, as the trainer and sentence-transformers do (its normaliser goes into the exported "
            "tokenizer.json)", path, auto.init_kwargs.get("do_lower_case"))
        return normalizer
    raise SourceError(
        f"{str(path / 'tokenizer.json')!r} tokenises {PROBE!r} as {_ids(spec, PROBE)}, but transformers' "
        f"AutoTokenizer (with tokenizer_config.json) as {theirs}: the exported model would see other tokens than "
        f"it was trained on. Write a consistent tokenizer.json with AutoTokenizer.from_pretrained(DIR)"
        ".save_pretrained(DIR) and export again."
    )


def _ids(spec: dict[str, Any], text: str) -> list[int]:
    """``text``'s ids (special tokens included) by the tokenizer ``spec``, uncut and unpadded."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(json.dumps(spec))
    tok.no_padding()
    tok.no_truncation()
    return list(tok.encode(text).ids)
