"""Matryoshka training: the loss over prefixes, the CLI's checks, and a run that scores and records every size."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import pytest
import torch

from tests.trainer.test_loss import direct
from trainer.__main__ import main
from trainer.checkpoint import read_meta
from trainer.config import resolve
from trainer.errors import ConfigError
from trainer.loss import simcse_loss
from trainer.runlog import read_log
from trainer.train import train


@pytest.fixture
def emb() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    anchor = torch.randn(5, 12, generator=g)
    return torch.stack([anchor, anchor + 0.4 * torch.randn(5, 12, generator=g), torch.randn(5, 12, generator=g)], 1)


@pytest.mark.parametrize("num_sent", [2, 3])
def test_loss_is_the_weighted_sum_over_renormalised_prefixes(emb: torch.Tensor, num_sent: int) -> None:
    e = emb[:, :num_sent]  # (5, num_sent, 12)
    dims, weights = [12, 8, 3], [1.0, 0.5, 2.0]
    got = float(simcse_loss(e, temp=0.05, hard_negative_weight=2.0, dims=dims, weights=weights))
    hand = sum(
        w * direct(e[:, 0, :d], e[:, 1, :d], e[:, 2, :d] if num_sent == 3 else None, temp=0.05, alpha=2.0)
        for d, w in zip(dims, weights, strict=True)
    )
    assert got == pytest.approx(hand, rel=1e-5)
    assert float(simcse_loss(e, temp=0.05, dims=[12])) == pytest.approx(float(simcse_loss(e, temp=0.05)), rel=1e-6)


def test_every_prefix_gets_a_gradient_of_its_own(emb: torch.Tensor) -> None:
    """Only the 3-dim term reaches component 2 of the 3-dim prefix renormalisation: dropping it changes that grad."""
    e1, e2 = emb[:, :2].clone().requires_grad_(True), emb[:, :2].clone().requires_grad_(True)
    simcse_loss(e1, temp=0.05, dims=[12, 3]).backward()
    simcse_loss(e2, temp=0.05, dims=[12]).backward()
    assert not torch.allclose(e1.grad[..., :3], e2.grad[..., :3])
    assert e1.grad[..., 3:].abs().sum() > 0


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"matryoshka_dims": [64, 128]}, "strictly descending"),
        ({"matryoshka_dims": [64, 0]}, "sizes >= 1"),
        ({"matryoshka_dims": [64, 32], "matryoshka_weights": [1.0]}, "one positive weight per size"),
        ({"matryoshka_dims": [64, 32], "matryoshka_weights": [1.0, -1.0]}, "one positive weight per size"),
        ({"matryoshka_dims": [64, 32], "select_dim": 16}, "--select-dim 16 is not one of"),
        ({"select_dim": 16}, "need --matryoshka-dims"),
    ],
)
def test_bad_sizes_are_refused_with_the_fix(over: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve("unsup", over)


def test_a_size_larger_than_the_model_is_an_error_before_training(
    tiny_bert_dir: Path, tiny_txt: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = ["--unsup", str(tiny_txt), "--base", str(tiny_bert_dir), "--batch-size", "8", "--steps", "2",
            "--eval-steps", "0", "--no-progress", "--out", str(tmp_path / "r"), "--matryoshka-dims", "64,16",
            "--no-mlp-only-train"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "64 is larger than this model's embedding size 32" in err and "32,16,8,4" in err


def test_sizes_that_leave_the_full_vector_untrained_are_an_error(
    tiny_bert_dir: Path, tiny_txt: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = ["--unsup", str(tiny_txt), "--base", str(tiny_bert_dir), "--batch-size", "8", "--steps", "2",
            "--eval-steps", "0", "--no-progress", "--out", str(tmp_path / "r"), "--matryoshka-dims", "16,8",
            "--pooler", "avg"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "16 leaves untrained the rest of this model's embedding size 32" in err and "32,16,8,4" in err
    assert not (tmp_path / "r" / "last").exists()


def test_matryoshka_on_a_train_only_mlp_head_is_refused() -> None:
    # unsup's recipe trains the MLP head's output but serves the raw [CLS]: its prefixes would not be trained
    with pytest.raises(ConfigError, match="--no-mlp-only-train"):
        resolve("unsup", {"matryoshka_dims": [32, 16]})
    assert resolve("unsup", {"matryoshka_dims": [32, 16], "pooler": "avg"}).inference_pooler == "avg"
    assert resolve("sup", {"matryoshka_dims": [32, 16]}).inference_pooler == "cls"  # sup serves the head


def test_no_hard_negatives_with_a_hard_negative_weight_is_refused() -> None:
    with pytest.raises(ConfigError, match="--hard-negative-weight 2.0 .* --no-hard-negatives"):
        resolve("sup", {"hard_negatives": False, "hard_negative_weight": 2.0})


def test_malformed_size_list_is_an_argparse_error(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["--unsup", "x", "--matryoshka-dims", "64;16"])
    assert "expected sizes separated by commas" in capsys.readouterr().err


def test_run_scores_each_size_and_selects_on_the_one_named(
    tiny_bert_dir: Path, tiny_txt: Path, data_dir: Path, tmp_path: Path
) -> None:
    cfg = resolve("unsup", {"base": str(tiny_bert_dir), "data": str(tiny_txt), "out": str(tmp_path / "m"),
                            "batch_size": 8, "steps": 2, "eval_steps": 1, "save_steps": 0, "data_dir": str(data_dir),
                            "eval_batch_size": 256, "matryoshka_dims": [32, 16, 8], "select_dim": 8,
                            "mlp_only_train": False})
    result = train(cfg, progress=False)
    evals = [r for r in read_log(tmp_path / "m" / "log.jsonl") if r["type"] == "eval"]
    assert [sorted(e["by_dim"]) for e in evals] == [["16", "32", "8"]] * 2
    assert all(e["selected_on"] == "stsb@8" for e in evals)
    assert evals[0]["by_dim"]["32"]["stsb"] == pytest.approx(evals[0]["stsb"], abs=0.01)  # 32: the full size, renormalised
    best = max(evals, key=lambda e: e["by_dim"]["8"]["stsb"])
    meta = read_meta(tmp_path / "m" / "best")
    assert meta["step"] == best["step"] == result.best_dev["step"]
    assert meta["matryoshka_dims"] == [32, 16, 8] and meta["config"]["select_dim"] == 8


@pytest.mark.parametrize("num_sent", [2, 3])
def test_grad_cache_gives_the_full_batch_matryoshka_gradient(tiny_bert_dir: Path, num_sent: int) -> None:
    from tests.trainer.test_gradcache import SENTS, assert_same, build, grads
    from trainer.gradcache import grad_cache_backward

    def loss_fn(e: torch.Tensor) -> torch.Tensor:
        return simcse_loss(e, temp=0.05, hard_negative_weight=2.0, dims=[32, 8, 2], weights=[1.0, 0.5, 0.25])

    model, batch = build(tiny_bert_dir, 0.0, num_sent)
    loss = loss_fn(model.embed(batch).view(len(SENTS), num_sent, -1))  # the whole batch in one graph
    loss.backward()
    full = grads(model)
    gc = grad_cache_backward(model, batch, num_sent=num_sent, chunk=3, loss_fn=loss_fn,
                             backward=lambda t: t.backward(), autocast=nullcontext)
    assert float(gc) == pytest.approx(float(loss.detach()), rel=1e-9)
    assert_same(full, grads(model))
