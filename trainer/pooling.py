"""Sentence poolers, the same ones as SimCSE's reference code.

The pooler is named explicitly everywhere (checkpoint metadata, export flag, manifest);
it is never inferred from a model's name.

- ``cls``: the [CLS] vector passed through the MLP head (dense + tanh). In a checkpoint
  the head lives in the model's own ``pooler`` weights, so ``pooler_output`` is it.
- ``cls_before_pooler``: the raw [CLS] vector of the last layer.
- ``avg``: mean of the last layer over real (unmasked) tokens.
- ``avg_first_last``: mean over tokens of (first layer + last layer) / 2.
- ``avg_top2``: mean over tokens of (last layer + second-last layer) / 2.

Example:
    >>> import torch
    >>> h = torch.ones(2, 3, 4); m = torch.tensor([[1, 1, 0], [1, 0, 0]])
    >>> pool("avg", m, last_hidden=h).shape
    torch.Size([2, 4])
"""

from __future__ import annotations

import torch

POOLERS = ("cls", "cls_before_pooler", "avg", "avg_first_last", "avg_top2")


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
