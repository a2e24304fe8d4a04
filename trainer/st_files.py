"""The sentence-transformers files of a checkpoint, so ``SentenceTransformer(ckpt)`` pools as the trainer does.

Without them sentence-transformers silently mean-pools any folder and keeps the tokenizer's 512 tokens. Each saved
checkpoint gets (the layout of sentence-transformers' own models, which its releases old and new read)::

    modules.json                  Transformer, Pooling (and Dense) modules, in order
    sentence_bert_config.json     max_seq_length: the serving length (simcse.json's)
    1_Pooling/config.json         the inference pooler: cls_before_pooler -> CLS token, avg -> mean
    2_Dense/                      the ``cls`` pooler only: the MLP head (linear + tanh over [CLS])

There is no Normalize module: the trainer's vectors are not normalised (``simcse.json`` says ``normalize: false``).
sentence-transformers has no pooling over two layers, so ``avg_first_last`` and ``avg_top2`` get none of these files
(:func:`st_unsupported` says why).

Example:
    >>> write_st_files(Path("runs/u1/best"), model, "cls_before_pooler", 256)   # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path

from torch import nn

from .encoder import pooler_dense
from .model import SimCSEModel

POOLING_MODES = {"cls": "cls_token", "cls_before_pooler": "cls_token", "avg": "mean_tokens"}
LEGACY_KEYS = ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens")


def st_unsupported(pooler: str) -> str | None:
    """Why sentence-transformers cannot represent the inference ``pooler`` (None: it can)."""
    if pooler in POOLING_MODES:
        return None
    return (f"sentence-transformers has no pooling for {pooler!r} (two layers averaged): the checkpoints get no "
            "sentence-transformers files, and SentenceTransformer(checkpoint) would mean-pool the last layer; "
            "use the SDK's export, or train with --pooler avg, cls or cls_before_pooler")


def _head(model: SimCSEModel) -> nn.Linear:
    dense = model.head.dense if model.head is not None else pooler_dense(model.encoder)
    if dense is None:
        raise ValueError(f"{type(model.encoder).__name__} has no MLP head to write as a Dense module")
    return dense


def write_st_files(folder: Path, model: SimCSEModel, pooler: str, max_seq_length: int) -> bool:
    """Write the sentence-transformers files for the inference ``pooler`` into ``folder``; False if it has none."""
    if st_unsupported(pooler) is not None:
        return False
    hidden = int(model.encoder.config.hidden_size)
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": int(max_seq_length), "do_lower_case": False}, indent=2) + "\n")
    pooling = {"word_embedding_dimension": hidden,
               **{f"pooling_mode_{k}": k == POOLING_MODES[pooler] for k in LEGACY_KEYS}}
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling, indent=2) + "\n")
    if pooler == "cls":  # the MLP head: tanh(dense(h[CLS]))
        from safetensors.torch import save_file

        dense = _head(model)
        modules.append({"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"})
        (folder / "2_Dense").mkdir(exist_ok=True)
        (folder / "2_Dense" / "config.json").write_text(json.dumps({
            "in_features": hidden, "out_features": int(dense.out_features), "bias": dense.bias is not None,
            "activation_function": "torch.nn.modules.activation.Tanh"}, indent=2) + "\n")
        state = {"linear.weight": dense.weight}
        if dense.bias is not None:
            state["linear.bias"] = dense.bias
        save_file({k: v.detach().contiguous().cpu() for k, v in state.items()}, str(folder / "2_Dense" /
                                                                                     "model.safetensors"))
    (folder / "modules.json").write_text(json.dumps(modules, indent=2) + "\n")
    return True
