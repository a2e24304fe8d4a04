"""GradCache gives the gradient of the full batch (dropout 0), and with dropout the same masks (RNG replay)."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import pytest
import torch

from trainer import gradcache
from trainer.data import mask_tokens, tokenize
from trainer.gradcache import grad_cache_backward, split_rows
from trainer.loss import simcse_loss
from trainer.model import load_base

SENTS = [
    "a man is playing a guitar on the street",
    "two dogs run",
    "the stock market fell sharply today after the report",
    "she reads",
    "children are swimming in a lake near the old wooden house",
    "a cat sleeps on the warm windowsill",
    "rain",
    "the committee approved the new budget for next year",
    "birds fly south",
    "he cooked pasta with tomato sauce and fresh basil",
]


def grads(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    out = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return out


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys() and len(a) > 10
    for k in a:
        assert torch.allclose(a[k], b[k], rtol=1e-7, atol=1e-12), k


def build(tiny_bert_dir: Path, dropout: float, num_sent: int, mlm: bool = False):
    model, tok = load_base(str(tiny_bert_dir), pooler="cls", dropout=dropout, do_mlm=mlm)
    model.double().train()  # float64: the tiny random model's embeddings are nearly parallel, fp32 noise would dominate
    examples = [tuple(SENTS[(i + k * 3) % len(SENTS)] for k in range(num_sent)) for i in range(len(SENTS))]
    if num_sent == 2:
        examples = [(s[0], s[0]) for s in examples]
    batch = tokenize(tok, examples, max_len=32)
    if mlm:
        batch["mlm_input_ids"], batch["mlm_labels"] = mask_tokens(
            batch["input_ids"], tok, 0.3, torch.Generator().manual_seed(0)
        )
    return model, batch


def loss_fn(emb: torch.Tensor) -> torch.Tensor:
    return simcse_loss(emb, temp=0.05, hard_negative_weight=2.0)


def run_gc(model, batch, num_sent: int, chunk: int, chunk_extra=None) -> torch.Tensor:
    return grad_cache_backward(
        model,
        batch,
        num_sent=num_sent,
        chunk=chunk,
        loss_fn=loss_fn,
        backward=lambda t: t.backward(),
        autocast=nullcontext,
        chunk_extra=chunk_extra,
    )


@pytest.mark.parametrize("num_sent", [2, 3])
def test_equals_full_batch_without_dropout(tiny_bert_dir: Path, num_sent: int) -> None:
    model, batch = build(tiny_bert_dir, 0.0, num_sent)
    loss = loss_fn(model.embed(batch).view(len(SENTS), num_sent, -1))  # the whole batch in one graph
    loss.backward()
    full = grads(model)
    gc_loss = run_gc(model, batch, num_sent, chunk=3)
    assert float(gc_loss) == pytest.approx(float(loss.detach()), rel=1e-9)
    assert_same(full, grads(model))


def test_mlm_term_equals_full_batch(tiny_bert_dir: Path) -> None:
    model, batch = build(tiny_bert_dir, 0.0, 2, mlm=True)
    n_masked = int((batch["mlm_labels"] != -100).sum())

    def mlm(b):
        return 0.1 * model.mlm_loss_sum(b, b["mlm_input_ids"], b["mlm_labels"]) / n_masked

    (loss_fn(model.embed(batch).view(len(SENTS), 2, -1)) + mlm(batch)).backward()
    full = grads(model)
    run_gc(model, batch, 2, chunk=4, chunk_extra=mlm)
    assert_same(full, grads(model))


@pytest.mark.parametrize("num_sent", [2, 3])
def test_with_dropout_replays_the_same_masks(tiny_bert_dir: Path, num_sent: int) -> None:
    """Dropout 0.1: the reference embeds the same chunks with grad from the same RNG state."""
    model, batch = build(tiny_bert_dir, 0.1, num_sent)
    torch.manual_seed(123)
    emb = torch.cat([model.embed(ch) for ch in split_rows(batch, num_sent, 4)])
    loss = loss_fn(emb.view(len(SENTS), num_sent, -1))
    loss.backward()
    reference = grads(model)
    torch.manual_seed(123)
    gc_loss = run_gc(model, batch, num_sent, chunk=4)
    assert float(gc_loss) == pytest.approx(float(loss.detach()), rel=1e-9)
    assert_same(reference, grads(model))


def test_without_rng_replay_the_gradient_differs(
    tiny_bert_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The negative control: new dropout masks in the re-forward give a different (wrong) gradient."""
    model, batch = build(tiny_bert_dir, 0.1, 2)
    torch.manual_seed(123)
    run_gc(model, batch, 2, chunk=4)
    replayed = grads(model)
    monkeypatch.setattr(gradcache.RandState, "replay", lambda self: nullcontext())
    torch.manual_seed(123)
    run_gc(model, batch, 2, chunk=4)
    fresh = grads(model)
    name = "encoder.embeddings.word_embeddings.weight"
    assert not torch.allclose(replayed[name], fresh[name], rtol=1e-3, atol=1e-6)


def test_split_rows_trims_padding() -> None:
    batch = {
        "input_ids": torch.ones(4, 6, dtype=torch.long),
        "attention_mask": torch.tensor([[1, 1, 0, 0, 0, 0]] * 2 + [[1, 1, 1, 1, 1, 0]] * 2),
    }
    chunks = split_rows(batch, num_sent=2, chunk=1)
    assert [c["input_ids"].shape for c in chunks] == [torch.Size([2, 2]), torch.Size([2, 5])]
