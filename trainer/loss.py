"""The SimCSE contrastive loss (InfoNCE over cosine similarities / temperature).

For a batch of N examples with embeddings h_i (anchor), h_i^+ (positive) and, supervised,
h_i^- (hard negative), the loss of row i is (paper, eq. 1 and 5; Appendix, hard-negative weight)::

    l_i = -log  e^{sim(h_i, h_i^+)/tau}
               / ( sum_j e^{sim(h_i, h_j^+)/tau}  +  sum_j alpha^{[j = i]} e^{sim(h_i, h_j^-)/tau} )

and the loss is the mean over i. With Matryoshka sizes it is summed over prefixes of the vectors
(:func:`simcse_loss`). ``sim`` is the cosine similarity. Unsupervised, h_i and h_i^+
are the same sentence under two dropout masks and there is no h^- term.

The hard-negative weight alpha multiplies the row's *own* hard negative inside the softmax, i.e.
``log(alpha)`` is added to that logit. The reference code's ``--hard_negative_weight`` is that
logit offset (its default 0 = alpha 1): pass ``alpha = exp(reference value)``. alpha = 1 is the
plain loss; alpha = 0 removes the row's own hard negative.

Across processes, embeddings are all-gathered so the negatives come from the global batch; as in
the reference, the local slice is put back with its graph, so each process back-propagates its own
embeddings' share of the global loss, and *summing* the gradients over processes gives exactly the
single-process gradient of the global batch (see ``distributed.allreduce_grads``).

Example:
    >>> import torch
    >>> z = torch.nn.functional.normalize(torch.eye(4), dim=-1)
    >>> round(float(info_nce(z, z, temp=0.05)), 6)   # perfect pairs, orthogonal negatives
    0.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F


def at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float32 if it is half precision (under AMP), else unchanged (float64 stays float64)."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def gather_with_grad(z: torch.Tensor) -> torch.Tensor:
    """All-gather (local_batch, hidden) into (global_batch, hidden) in rank order; the local part keeps its graph.

    Outside a process group this is the identity.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return z
    parts = [torch.zeros_like(z) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, z.detach().contiguous())
    parts[dist.get_rank()] = z  # all_gather returns no gradient: put back the tensor that has one
    return torch.cat(parts, dim=0)


def info_nce(
    z1: torch.Tensor,
    z2: torch.Tensor,
    z3: torch.Tensor | None = None,
    *,
    temp: float,
    hard_negative_weight: float = 1.0,
) -> torch.Tensor:
    """Mean InfoNCE of anchors ``z1`` (N, hidden) against positives ``z2`` (N, hidden) and hard negatives ``z3``.

    Row i's positive is column i; every other ``z2`` row and every ``z3`` row is a negative, the row's
    own hard negative weighted by ``hard_negative_weight`` (alpha) inside the softmax.
    """
    a = F.normalize(at_least_fp32(z1), dim=-1)  # (N, hidden)
    logits = a @ F.normalize(at_least_fp32(z2), dim=-1).T / temp  # (N, N)
    if z3 is not None:
        hard = a @ F.normalize(at_least_fp32(z3), dim=-1).T / temp  # (N, N)
        if hard_negative_weight != 1.0:
            log_w = math.log(hard_negative_weight) if hard_negative_weight > 0 else float("-inf")
            hard = hard + torch.diag(torch.full((hard.size(0),), log_w, device=hard.device))
        logits = torch.cat([logits, hard], dim=1)  # (N, 2N)
    labels = torch.arange(logits.size(0), device=logits.device)
    return F.cross_entropy(logits, labels)


def simcse_loss(
    emb: torch.Tensor,
    *,
    temp: float,
    hard_negative_weight: float = 1.0,
    dims: Sequence[int] | None = None,
    weights: Sequence[float] | None = None,
) -> torch.Tensor:
    """Loss of one local batch of embeddings (local_batch, num_sent, hidden), gathered over processes.

    ``num_sent`` is 2 (anchor, positive) or 3 (anchor, positive, hard negative). With ``dims`` (Matryoshka
    representation learning, Kusupati et al. 2022) the loss is ``sum_k weights[k] * info_nce`` of the first
    ``dims[k]`` components of every vector, each prefix renormalised (``info_nce`` takes cosines), so each
    prefix is trained as an embedding of its own.
    """
    z1 = gather_with_grad(emb[:, 0])  # (global_batch, hidden)
    z2 = gather_with_grad(emb[:, 1])
    z3 = gather_with_grad(emb[:, 2]) if emb.size(1) == 3 else None
    if not dims:
        return info_nce(z1, z2, z3, temp=temp, hard_negative_weight=hard_negative_weight)
    weights = list(weights) if weights is not None else [1.0] * len(dims)
    total = torch.zeros((), dtype=torch.float32, device=emb.device)
    for d, w in zip(dims, weights, strict=True):
        prefix = None if z3 is None else z3[:, :d]  # (global_batch, d)
        total = total + w * info_nce(z1[:, :d], z2[:, :d], prefix, temp=temp, hard_negative_weight=hard_negative_weight)
    return total
