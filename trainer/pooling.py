"""Sentence poolers, the same ones as SimCSE's reference code.

The pooler is named explicitly everywhere (checkpoint metadata, export flag, manifest);
it is never inferred from a model's name.

- ``cls``: the [CLS] vector passed through the MLP head (dense + tanh). In a checkpoint
  the head lives in the model's own ``pooler`` weights, so ``pooler_output`` is it.
- ``cls_before_pooler``: the raw [CLS] vector of the last layer.
- ``avg``: mean of the last layer over real (unmasked) tokens.
- ``avg_first_last``: mean over tokens of (first layer + last layer) / 2.
- ``avg_top2``: mean over tokens of (last layer + second-last layer) / 2.

:func:`warn_base_pooling` warns when a recipe's [CLS] pooler meets a base trained for mean pooling.

Example:
    >>> import torch
    >>> h = torch.ones(2, 3, 4); m = torch.tensor([[1, 1, 0], [1, 0, 0]])
    >>> pool("avg", m, last_hidden=h).shape
    torch.Size([2, 4])
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger(__name__)

POOLERS = ("cls", "cls_before_pooler", "avg", "avg_first_last", "avg_top2")
# sentence-transformers' pooling modes the exported graph computes, as poolers here: its 1_Pooling/config.json says
# ``"pooling_mode": "cls"`` (sentence-transformers 6) or ``"pooling_mode_cls_token": true`` (earlier releases).
ST_POOLING_MODES = {"cls": "cls_before_pooler", "mean": "avg"}
ST_LEGACY_MODES = {"pooling_mode_cls_token": "cls", "pooling_mode_mean_tokens": "mean",
                   "pooling_mode_max_tokens": "max", "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
                   "pooling_mode_weightedmean_tokens": "weightedmean", "pooling_mode_lasttoken": "lasttoken"}


def needs_hidden_states(pooler: str) -> bool:
    """Whether ``pooler`` reads intermediate layers (``output_hidden_states=True``)."""
    return pooler in ("avg_first_last", "avg_top2")


def masked_mean(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``hidden`` (batch, seq, hidden) over positions where the mask is 1."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (batch, seq, 1)
    summed = (hidden * mask).sum(dim=1)  # (batch, hidden)
    count = mask.sum(dim=1).clamp(min=1e-9)  # (batch, 1)
    return summed / count


def pool(
    pooler: str,
    attention_mask: torch.Tensor,
    *,
    last_hidden: torch.Tensor,
    pooler_output: torch.Tensor | None = None,
    hidden_states: tuple[torch.Tensor, ...] | None = None,
) -> torch.Tensor:
    """Pool token states into one vector a sentence: returns (batch, hidden).

    Args:
        pooler: one of :data:`POOLERS`.
        attention_mask: (batch, seq), 1 for real tokens.
        last_hidden: (batch, seq, hidden), the last layer.
        pooler_output: (batch, hidden), the MLP head over [CLS]; needed for ``cls``.
        hidden_states: every layer's output, embeddings first; needed for the ``avg_*`` two-layer poolers.
    """
    if pooler == "cls":
        if pooler_output is None:
            raise ValueError("pooler 'cls' needs the model's pooler_output (the MLP head over [CLS])")
        return pooler_output
    if pooler == "cls_before_pooler":
        return last_hidden[:, 0]
    if pooler == "avg":
        return masked_mean(last_hidden, attention_mask)
    if pooler in ("avg_first_last", "avg_top2"):
        if hidden_states is None:
            raise ValueError(f"pooler {pooler!r} needs hidden_states (output_hidden_states=True)")
        # As in SimCSE's reference: "first" is the first transformer layer's output (hidden_states[1]).
        other = hidden_states[1] if pooler == "avg_first_last" else hidden_states[-2]
        return masked_mean((other + hidden_states[-1]) / 2.0, attention_mask)
    raise ValueError(f"unknown pooler {pooler!r}; choose one of {', '.join(POOLERS)}")


def st_pooling(folder: str | os.PathLike[str]) -> tuple[list[str], dict[str, Any]] | None:
    """The pooling modes a sentence-transformers folder's ``1_Pooling/config.json`` lists (sentence-transformers'
    names, e.g. ``["mean"]``), with the file's settings; None without that file. Before sentence-transformers 6, one
    boolean key a mode; none set (or no key) means mean."""
    file = Path(folder) / "1_Pooling" / "config.json"
    if not file.is_file():
        return None
    cfg = json.loads(file.read_text(encoding="utf-8"))
    modes = cfg.get("pooling_mode")
    if modes is None:
        modes = [ST_LEGACY_MODES.get(k, k) for k, on in cfg.items() if k.startswith("pooling_mode") and on] or ["mean"]
    return ([modes] if isinstance(modes, str) else list(modes)), cfg


def warn_base_pooling(base: str | os.PathLike[str], pooler: str, recipe: str) -> None:
    """Warn when ``base`` is a sentence-transformers folder (or a cached hub id of one) trained for mean pooling
    while the recipe ``recipe`` trains ``pooler`` (its default, not a --pooler the user gave): the [CLS] vector of
    such a base was never trained as a sentence vector."""
    if pooler not in ("cls", "cls_before_pooler"):
        return
    from .serving_length import local_folder

    folder = local_folder(base)  # a cached hub id's files too
    try:
        read = st_pooling(folder)
    except (OSError, ValueError) as e:  # an unreadable 1_Pooling/config.json: the export names it
        logger.debug("%s: pooling not read (%s)", folder, e)
        return
    if read is not None and read[0] == ["mean"]:
        logger.warning("--base %s was trained for mean pooling (its 1_Pooling/config.json), but the %s recipe uses "
                       "--pooler %s (the [CLS] vector): pass --pooler avg to keep the base's pooling", base, recipe,
                       pooler)
