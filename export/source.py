"""The checkpoint being exported: where it is, what it is, and how it pools.

The pooler comes from the checkpoint's own metadata, or an explicit ``--pooler`` flag —
never from the model's name:

1. ``--pooler`` given: it wins (and is recorded as given by the user);
2. ``simcse.json`` (written by ``python -m trainer``): its ``pooler``, ``max_seq_length``, ``normalize``;
3. a sentence-transformers folder: ``1_Pooling/config.json`` (mean/cls), ``modules.json``
   (a ``Normalize`` module), ``sentence_bert_config.json`` (``max_seq_length``);
4. otherwise: an error asking for ``--pooler``.

Example:
    >>> src = Source.read("runs/unsup/best")          # doctest: +SKIP
    >>> src.pooler, src.max_seq_length                # doctest: +SKIP
    ('cls_before_pooler', 32)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainer.pooling import POOLERS

# Architectures whose graphs export and fuse (onnxruntime's "bert" fusion covers both families).
SUPPORTED_MODEL_TYPES = ("bert", "roberta", "xlm-roberta", "camembert")

ST_POOLING_MODES = {"pooling_mode_cls_token": "cls_before_pooler", "pooling_mode_mean_tokens": "avg"}


class SourceError(ValueError):
    """The checkpoint cannot be exported as asked; the message says what to do."""


@dataclass
class Source:
    """A checkpoint directory and the facts the export needs about it."""

    path: Path  # the checkpoint directory
    model_type: str  # config.json's model_type (bert, roberta, ...)
    pooler: str  # one of trainer.pooling.POOLERS
    pooler_from: str  # where the pooler came from: flag | simcse.json | 1_Pooling/config.json
    normalize: bool  # L2-normalise inside the graph
    max_seq_length: int  # tokens kept per text
    num_heads: int  # attention heads (for the fusion pass)
    hidden_size: int  # width of the encoder
    pad_token_id: int  # padding id of the tokenizer/model
    metadata: dict[str, Any] = field(default_factory=dict)  # the simcse.json contents, if any

    @classmethod
    def read(
        cls,
        path: str | os.PathLike[str],
        pooler: str | None = None,
        max_seq_length: int | None = None,
        normalize: bool | None = None,
    ) -> Source:
        root = Path(path)
        if not root.is_dir():
            raise SourceError(f"Checkpoint directory {str(root)!r} does not exist; pass --ckpt DIR of a saved model.")
        config_path = root / "config.json"
        if not config_path.is_file():
            raise SourceError(
                f"{str(root)!r} is not a model checkpoint: no config.json. Pass a directory written by "
                "`python -m trainer` or `save_pretrained` (config.json + model.safetensors + tokenizer.json)."
            )
        config = json.loads(config_path.read_text(encoding="utf-8"))
        model_type = config.get("model_type", "?")
        if model_type not in SUPPORTED_MODEL_TYPES:
            raise SourceError(
                f"{str(root)!r} holds a {model_type!r} model; the export supports {', '.join(SUPPORTED_MODEL_TYPES)} "
                "(BERT and RoBERTa families)."
            )
        if not any((root / w).is_file() for w in ("model.safetensors", "pytorch_model.bin")):
            raise SourceError(f"{str(root)!r} has config.json but no weights (model.safetensors or pytorch_model.bin).")
        if not (root / "tokenizer.json").is_file():
            raise SourceError(
                f"{str(root)!r} has no tokenizer.json (the fast tokenizer the SDK needs). Save it with "
                "AutoTokenizer.from_pretrained(...).save_pretrained(DIR) using a fast tokenizer."
            )

        meta: dict[str, Any] = {}
        if (root / "simcse.json").is_file():
            meta = json.loads((root / "simcse.json").read_text(encoding="utf-8"))
        found_pooler, found_from, found_norm, found_len = _detect(root, meta)
        if pooler is not None:
            found_pooler, found_from = pooler, "flag"
        if found_pooler is None:
            raise SourceError(
                f"{str(root)!r} does not say how it pools (no simcse.json, no 1_Pooling/config.json): pass "
                f"--pooler with one of {', '.join(POOLERS)}."
            )
        if found_pooler not in POOLERS:
            raise SourceError(f"Unknown pooler {found_pooler!r}; choose one of {', '.join(POOLERS)}.")
        length = max_seq_length or found_len or min(int(config.get("max_position_embeddings", 512)), 512)
        if model_type != "bert":  # RoBERTa's positions start after the padding id
            length = min(length, int(config.get("max_position_embeddings", 514)) - 2)
        return cls(
            path=root,
            model_type=model_type,
            pooler=found_pooler,
            pooler_from=found_from,
            normalize=found_norm if normalize is None else normalize,
            max_seq_length=int(length),
            num_heads=int(config["num_attention_heads"]),
            hidden_size=int(config["hidden_size"]),
            pad_token_id=int(config.get("pad_token_id") or 0),
            metadata=meta,
        )


def _detect(root: Path, meta: dict[str, Any]) -> tuple[str | None, str, bool, int | None]:
    """(pooler, where from, normalize, max length) from the checkpoint's own files."""
    if meta:
        return meta.get("pooler"), "simcse.json", bool(meta.get("normalize", False)), meta.get("max_seq_length")
    pooling_cfg = root / "1_Pooling" / "config.json"
    if pooling_cfg.is_file():
        cfg = json.loads(pooling_cfg.read_text(encoding="utf-8"))
        modes = [ST_POOLING_MODES.get(k) for k, on in cfg.items() if k.startswith("pooling_mode") and on]
        if len(modes) != 1 or modes[0] is None:
            raise SourceError(
                f"{str(pooling_cfg)!r} asks for pooling {cfg}; the export supports mean or CLS alone. "
                "Pass --pooler to override."
            )
        normalize = False
        modules = root / "modules.json"
        if modules.is_file():
            normalize = any(m.get("type", "").endswith("Normalize") for m in json.loads(modules.read_text()))
        length = None
        st_cfg = root / "sentence_bert_config.json"
        if st_cfg.is_file():
            length = json.loads(st_cfg.read_text()).get("max_seq_length")
        return modes[0], "1_Pooling/config.json", normalize, length
    return None, "", False, None
