"""Two gloo processes: the loss and the summed gradients equal the single-process ones on the global batch.

(Adam is nearly invariant to the gradient's scale, so comparing later losses of a run cannot tell a sum
from a mean: the gradients are compared directly here, in float64.)
"""

from __future__ import annotations

import os
import socket
from contextlib import nullcontext
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from trainer import distributed
from trainer.data import tokenize
from trainer.gradcache import grad_cache_backward
from trainer.loss import simcse_loss
from trainer.model import load_base

SENTS = [
    "a man plays the guitar",
    "dogs run in the park near the river",
    "markets fell",
    "she is reading a book",
    "kids swim in the lake",
    "a cat sleeps",
    "heavy rain fell all night long in the city",
    "birds fly south",
]
WORLD = 2


def build(base: str, num_sent: int):
    model, tok = load_base(base, pooler="cls", dropout=0.0, seed=0)
    model.double().train()
    examples = [tuple(SENTS[(i + 3 * k) % len(SENTS)] for k in range(num_sent)) for i in range(len(SENTS))]
    return model, tokenize(tok, examples, max_len=32)  # the same global batch in every process


def loss_fn(matryoshka: bool):
    """The plain loss, or Matryoshka's: each prefix is sliced from the gathered global batch."""
    dims, weights = ([32, 16, 4], [1.0, 1.0, 0.5]) if matryoshka else (None, None)

    def fn(emb: torch.Tensor) -> torch.Tensor:
        return simcse_loss(emb, temp=0.05, hard_negative_weight=2.0, dims=dims, weights=weights)

    return fn


# (sentences an example, GradCache with chunks of 1 example, Matryoshka sizes)
CASES = [(2, False, False), (3, False, False), (3, True, False), (2, False, True), (3, True, True)]


def worker(rank: int, port: int, base: str, out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(WORLD),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    distributed.setup("cpu")
    for num_sent, use_grad_cache, matryoshka in CASES:
        model, batch = build(base, num_sent)
        rows = len(SENTS) // WORLD * num_sent
        local = {k: v[rank * rows : (rank + 1) * rows] for k, v in batch.items()}  # this process's examples
        if use_grad_cache:
            loss = grad_cache_backward(
                model,
                local,
                num_sent=num_sent,
                chunk=1,
                loss_fn=loss_fn(matryoshka),
                backward=lambda t: t.backward(),
                autocast=nullcontext,
            )
        else:
            loss = loss_fn(matryoshka)(model.embed(local).view(len(SENTS) // WORLD, num_sent, -1))
            loss.backward()
        distributed.allreduce_grads(list(model.parameters()))
        grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
        result = {"loss": float(loss.detach()), "grads": grads}
        torch.save(result, Path(out) / f"rank{rank}-{num_sent}-{use_grad_cache}-{matryoshka}.pt")
    distributed.teardown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_equal_one(tiny_bert_dir: Path, tmp_path: Path) -> None:
    mp.spawn(worker, args=(free_port(), str(tiny_bert_dir), str(tmp_path)), nprocs=WORLD, join=True)
    for num_sent, use_grad_cache, matryoshka in CASES:
        model, batch = build(str(tiny_bert_dir), num_sent)
        loss = loss_fn(matryoshka)(model.embed(batch).view(len(SENTS), num_sent, -1))  # one process, the global batch
        loss.backward()
        single = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
        for rank in range(WORLD):
            got = torch.load(tmp_path / f"rank{rank}-{num_sent}-{use_grad_cache}-{matryoshka}.pt")
            assert got["loss"] == pytest.approx(float(loss.detach()), rel=1e-10)
            assert got["grads"].keys() == single.keys()
            for name, g in single.items():
                assert torch.allclose(got["grads"][name], g, rtol=1e-8, atol=1e-14), (
                    num_sent,
                    use_grad_cache,
                    matryoshka,
                    name,
                )
