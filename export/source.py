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
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainer.pooling import POOLERS, ST_POOLING_MODES, st_pooling
from trainer.serving_length import serving_length, st_config

logger = logging.getLogger(__name__)


# modules.json entries the export reproduces: the encoder, its pooling and an L2 normalisation.
ST_MODULES = ("Transformer", "Pooling", "Normalize")


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
    lowercase: bool = False  # sentence-transformers' do_lower_case: texts lowercased before tokenising
    length_from: str = ""  # where max_seq_length came from (--max-len, simcse.json, a config file, the positions)
    truncation_side: str = "right"  # tokenizer_config.json's truncation_side: which end a long text loses
    pooling_skips_prompt: bool = False  # sentence-transformers' include_prompt false (pooling starts after the prompt)
    vocab_size: int = 0  # config.json's vocab_size: the token ids the embeddings hold (0: not said)
    normalizer: dict[str, Any] | None = None  # transformers' normaliser where tokenizer_config.json overrides the file's

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
        if not config_path.is_file() and (root / "0_Transformer" / "config.json").is_file():
            raise SourceError(_old_st_layout(root))
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
            base = json.loads((root / "simcse.json").read_text(encoding="utf-8")).get("base") if (
                root / "simcse.json").is_file() else None
            raise SourceError(
                f"{str(root)!r} has no tokenizer.json (the fast tokenizer the SDK needs). Copy the tokenizer files of "
                f"the model it came from ({'simcse.json says ' + repr(base) if base else 'its base model'}) into it: "
                "AutoTokenizer.from_pretrained(BASE).save_pretrained(DIR), from a BASE that has them (from a folder "
                "without them transformers builds a tokenizer that turns every word into [UNK])."
            )

        meta: dict[str, Any] = {}
        if (root / "simcse.json").is_file():
            meta = json.loads((root / "simcse.json").read_text(encoding="utf-8"))
        found = _detect(root, meta)
        if found.module_problem:
            raise SourceError(found.module_problem)
        if pooler is not None:  # the flag wins, also over a pooling the export cannot compute
            found_pooler, found_from = pooler, "flag"
        elif found.pooling_problem:
            raise SourceError(found.pooling_problem)
        else:
            found_pooler, found_from = found.pooler, found.source
        if found_pooler is None:
            raise SourceError(
                f"{str(root)!r} does not say how it pools (no simcse.json, no 1_Pooling/config.json): pass "
                f"--pooler with one of {', '.join(POOLERS)}."
            )
        if found_pooler not in POOLERS:
            raise SourceError(f"Unknown pooler {found_pooler!r}; choose one of {', '.join(POOLERS)}.")
        # The encoder's position limit (e.g. RoBERTa's positions start after the pad id) is applied once the
        # model is loaded: export.graph.fit_length.
        if max_seq_length is not None:
            length, length_from = max_seq_length, "--max-len"
        elif found.length:
            length, length_from = found.length, "simcse.json"
        else:
            length, length_from = serving_length(root, config)
        logger.info("max length %d tokens (%s)", length, length_from)
        return cls(
            path=root,
            model_type=model_type,
            pooler=found_pooler,
            pooler_from=found_from,
            normalize=found.normalize if normalize is None else normalize,
            max_seq_length=int(length),
            num_heads=int(getattr(config, "num_attention_heads", 0) or 0),
            hidden_size=int(getattr(config, "hidden_size", 0) or 0),
            pad_token_id=_pad_id(root, config),
            metadata=meta,
            lowercase=found.lowercase,
            truncation_side=_truncation_side(root),
            length_from=length_from,
            pooling_skips_prompt=not found.include_prompt,
            vocab_size=int(getattr(config, "vocab_size", 0) or 0),
        )


def _old_st_layout(root: Path) -> str:
    """The error for an older sentence-transformers folder (its model in ``0_Transformer/``): the flags that export it."""
    found = _detect(root, {})  # the folder's 1_Pooling/ and modules.json, read as for a current folder
    normalize = " --normalize" if found.normalize else ""
    flags = f"--pooler {found.pooler}{normalize}" if found.pooler else "--pooler (the pooling 1_Pooling/config.json names)"
    return (f"{str(root)!r} is an older sentence-transformers folder: no config.json here, the model is in "
            f"0_Transformer/. Pass --ckpt {str(root / '0_Transformer')!r} {flags} (its pooling and normalisation "
            "live beside it, in 1_Pooling/ and modules.json, which the export reads only in the model's own folder).")


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


@dataclass
class Detected:
    """What the checkpoint's own files say about pooling, normalisation, length and text handling."""

    pooler: str | None = None  # one of POOLERS, None when no file says
    source: str = ""  # the file it came from
    normalize: bool = False
    length: int | None = None  # simcse.json's max_seq_length (else resolved by serving_length)
    lowercase: bool = False  # sentence_bert_config.json's do_lower_case
    include_prompt: bool = True  # 1_Pooling/config.json's include_prompt
    pooling_problem: str | None = None  # why the export cannot compute its pooling (a --pooler flag overrides it)
    module_problem: str | None = None  # a module after the pooling that the export cannot reproduce


def _detect(root: Path, meta: dict[str, Any]) -> Detected:
    """The checkpoint's own files: ``simcse.json``, else a sentence-transformers folder's."""
    if meta:
        return Detected(meta.get("pooler"), "simcse.json", bool(meta.get("normalize", False)),
                        meta.get("max_seq_length"))
    pooling_cfg = root / "1_Pooling" / "config.json"
    read = st_pooling(root)
    if read is None:  # sentence_bert_config.json alone: an older folder's 0_Transformer/ (do_lower_case still applies)
        return Detected(lowercase=bool(st_config(root)[0].get("do_lower_case", False)))
    modes, cfg = read
    found = Detected(source="1_Pooling/config.json", include_prompt=bool(cfg.get("include_prompt", True)))
    if len(modes) == 1 and modes[0] in ST_POOLING_MODES:
        found.pooler = ST_POOLING_MODES[modes[0]]
    else:
        found.pooling_problem = (f"{str(pooling_cfg)!r} asks for pooling {' + '.join(map(str, modes)) or 'none'}; the export "
                         "computes mean or CLS pooling alone. Pass --pooler (avg, cls_before_pooler, ...) to export "
                         "with another pooling, knowing its vectors differ from sentence-transformers'.")
    modules = root / "modules.json"
    if modules.is_file():
        kinds = [str(m.get("type", "")) for m in json.loads(modules.read_text(encoding="utf-8"))]
        found.normalize = any(k.endswith("Normalize") for k in kinds)
        other = [k for k in kinds if not k.endswith(ST_MODULES)]
        if other:  # a Dense projection (LaBSE, distiluse-*) left out would change every vector
            found.module_problem = (f"{str(modules)!r} lists {', '.join(other)} after the encoder; the export reproduces "
                             f"{', '.join(ST_MODULES)} modules only, and leaving the others out would give other "
                             "vectors than sentence-transformers'. Export a model without them.")
    found.lowercase = bool(st_config(root)[0].get("do_lower_case", False))
    return found


def _truncation_side(root: Path) -> str:
    """``tokenizer_config.json``'s ``truncation_side`` (transformers' default: right)."""
    file = root / "tokenizer_config.json"
    side = json.loads(file.read_text(encoding="utf-8")).get("truncation_side") if file.is_file() else None
    if side not in (None, "left", "right"):
        raise SourceError(f"{str(file)!r} says truncation_side {side!r}; transformers knows 'left' and 'right'.")
    return side or "right"

