"""GradCache (Gao et al., 2021, "Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup").

A contrastive loss needs every embedding of the batch, but its gradient with respect to the
model factorises through the embeddings: dL/dtheta = sum_i (dL/dz_i) . (dz_i/dtheta). So:

1. embed the batch chunk by chunk *without* a graph, recording the RNG state before each chunk;
2. compute the loss on all the embeddings (a leaf tensor) and back-propagate to them only: dL/dz;
3. for each chunk, replay its RNG state (same dropout masks), embed it again *with* a graph, and
   back-propagate ``sum(z_chunk * dL/dz_chunk)``; gradients accumulate in the parameters.

Memory is that of one chunk, the gradient is the full batch's, and no negative is lost (unlike
plain gradient accumulation, which splits the batch into smaller contrastive problems).

Example:
    >>> import torch
    >>> batch = {"input_ids": torch.ones(6, 5, dtype=torch.long), "attention_mask": torch.ones(6, 5)}
    >>> [c["input_ids"].shape[0] for c in split_rows(batch, num_sent=2, chunk=2)]
    [4, 2]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import torch

from .loss import at_least_fp32
from .model import SimCSEModel


class RandState:
    """The CPU (and CUDA device) RNG state at one moment, to replay the same dropout masks later."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.cpu = torch.get_rng_state()
        self.cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None

    @contextmanager
    def replay(self) -> Iterator[None]:
        """Run the block from this RNG state, leaving the global RNG as it was before the block."""
        devices = [self.device] if self.cuda is not None else []
        with torch.random.fork_rng(devices=devices):
            torch.set_rng_state(self.cpu)
            if self.cuda is not None:
                torch.cuda.set_rng_state(self.cuda, self.device)
            yield


def trim_padding(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop trailing columns that are padding in every row (chunks need less than the whole batch)."""
    keep = int(batch["attention_mask"].any(dim=0).nonzero().max()) + 1
    return {k: v[:, :keep] for k, v in batch.items()}


def split_rows(batch: dict[str, torch.Tensor], num_sent: int, chunk: int) -> list[dict[str, torch.Tensor]]:
    """Cut an example-major batch (examples * num_sent, seq) into chunks of ``chunk`` examples."""
    rows = chunk * num_sent
    total = batch["input_ids"].size(0)
    return [trim_padding({k: v[i : i + rows] for k, v in batch.items()}) for i in range(0, total, rows)]


def grad_cache_backward(
    model: SimCSEModel,
    batch: dict[str, torch.Tensor],
    *,
    num_sent: int,
    chunk: int,
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    backward: Callable[[torch.Tensor], None],
    autocast: Callable[[], AbstractContextManager[Any]],
    chunk_extra: Callable[[dict[str, torch.Tensor]], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Accumulate the full-batch gradient of ``loss_fn`` into the model's ``.grad``, chunk by chunk.

    Args:
        batch: example-major tokenized batch, (local_batch * num_sent, seq) tensors.
        loss_fn: embeddings (local_batch, num_sent, hidden) -> scalar loss (may all-gather across processes).
        backward: how to back-propagate a scalar (``t.backward()``, or through a GradScaler).
        autocast: mixed-precision context for the encoder passes.
        chunk_extra: an extra per-chunk loss term with its own graph (the MLM loss), added in step 3.

    Returns:
        The contrastive loss, detached.
    """
    device = batch["input_ids"].device
    chunks = split_rows(batch, num_sent, chunk)
    # 1. embeddings without graph, remembering each chunk's RNG state
    states, reps = [], []
    with torch.no_grad():
        for ch in chunks:
            states.append(RandState(device))
            with autocast():
                reps.append(at_least_fp32(model.embed(ch)))  # (chunk * num_sent, hidden)
    # 2. the loss on the whole batch, back-propagated to the embeddings only
    z = torch.cat(reps).detach().requires_grad_()  # (local_batch * num_sent, hidden)
    loss = loss_fn(z.view(-1, num_sent, z.size(-1)))
    loss.backward()
    assert z.grad is not None
    grads = z.grad.split([c["input_ids"].size(0) for c in chunks])
    # 3. re-embed each chunk with the same dropout masks and push dL/dz through the encoder
    for ch, state, g in zip(chunks, states, grads, strict=True):
        with state.replay(), autocast():
            surrogate = (at_least_fp32(model.embed(ch)) * g).sum()
        if chunk_extra is not None:
            with autocast():
                surrogate = surrogate + chunk_extra(ch)
        backward(surrogate)
    return loss.detach()
