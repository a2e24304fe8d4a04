"""The checkpoint being exported: where it is, what it is, and how it pools.

The pooler comes from the checkpoint's own metadata, or an explicit ``--pooler`` flag —
never from the model's name:

1. ``--pooler`` given: it wins (and is recorded as given by the user);
2. ``simcse.json`` (written by ``python -m trainer``): its ``pooler``, ``max_seq_length``, ``normalize``;
3. a sentence-transformers folder: ``1_Pooling/config.json`` (mean/cls), ``modules.json``
   (a ``Normalize`` module), ``sentence_bert_config.json`` (``max_seq_length``);
4. otherwise: an error asking for ``--pooler``.

Any checkpoint ``transformers.AutoModel`` loads as an encoder is accepted; its ``model_type`` is
recorded in the manifest and never used to decide anything (what differs between architectures is
read from the loaded model: :mod:`trainer.encoder`, :func:`export.graph.fit_length`).

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
        config = _config(root)
        model_type = str(getattr(config, "model_type", "?"))  # recorded in the manifest, never used to decide
        if getattr(config, "is_decoder", False) or getattr(config, "is_encoder_decoder", False):
            raise SourceError(
                f"{str(root)!r} holds a {model_type!r} decoder model; the export takes encoders (bidirectional "
                "attention, pooled sentence embedding). Decoder-only embedding models (last-token pooling) are not "
                "supported."
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
        # The encoder's position limit (e.g. RoBERTa's positions start after the pad id) is applied once the
        # model is loaded: export.graph.fit_length.
        length = max_seq_length if max_seq_length is not None else found_len or min(int(getattr(config, "max_position_embeddings", None) or 512), 512)
        return cls(
            path=root,
            model_type=model_type,
            pooler=found_pooler,
            pooler_from=found_from,
            normalize=found_norm if normalize is None else normalize,
            max_seq_length=int(length),
            num_heads=int(getattr(config, "num_attention_heads", 0) or 0),
            hidden_size=int(getattr(config, "hidden_size", 0) or 0),
            pad_token_id=_pad_id(root, config),
            metadata=meta,
        )


def _config(root: Path) -> Any:
    """The checkpoint's transformers config (attribute names mapped: DistilBERT's ``dim`` is ``hidden_size``)."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(root, local_files_only=True)
    except (ValueError, KeyError, OSError) as e:
        raw = json.loads((root / "config.json").read_text(encoding="utf-8"))
        import transformers

        custom = " It ships its own modelling code (auto_map), which the export does not run." if "auto_map" in raw else ""
        raise SourceError(
            f"{str(root)!r} holds a {raw.get('model_type', '?')!r} model that transformers {transformers.__version__} "
            f"cannot load ({str(e).splitlines()[0] if str(e) else type(e).__name__}).{custom} Upgrade transformers "
            "or pass a checkpoint of an architecture it knows."
        ) from e


def _pad_id(root: Path, config: Any) -> int:
    """The padding id: the config's ``pad_token_id``, else the tokenizer's pad token, else 0."""
    if getattr(config, "pad_token_id", None) is not None:
        return int(config.pad_token_id)
    tok = json.loads((root / "tokenizer.json").read_text(encoding="utf-8"))
    pad = (tok.get("padding") or {}).get("pad_id")
    if pad is None:
        pad = next((t["id"] for t in tok.get("added_tokens", []) if t.get("content") in ("[PAD]", "<pad>")), 0)
    return int(pad)


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
