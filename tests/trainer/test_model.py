"""The model wrapper's views: one dropout mask per sentence by default, one for all views with same_mask."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from trainer.__main__ import main
from trainer.checkpoint import read_meta
from trainer.data import tokenize
from trainer.model import load_base

SENTENCES = ["a cat sits on the mat", "the market fell sharply today", "rain is coming", "two dogs run"]


def model_and_batch(base: Path, num_sent: int, same: bool = True):
    model, tok = load_base(str(base), pooler="cls", dropout=0.1)
    model.train()
    if same:  # unsupervised: each sentence twice
        examples = [(s,) * num_sent for s in SENTENCES]
    else:  # supervised-like: distinct sentences in each view
        examples = [tuple(SENTENCES[(i + j) % 4] + f" {j}" for j in range(num_sent)) for i in range(4)]
    return model, tokenize(tok, examples, max_len=16)


def test_same_mask_makes_the_two_views_of_a_sentence_identical(tiny_bert_dir: Path) -> None:
    model, batch = model_and_batch(tiny_bert_dir, 2)
    torch.manual_seed(0)
    shared = model.embed_views(batch, 2, same_mask=True)  # (4, 2, hidden)
    torch.manual_seed(0)
    own = model.embed_views(batch, 2)
    assert shared.shape == own.shape == (4, 2, 32)
    assert torch.equal(shared[:, 0], shared[:, 1])  # one mask: the positive pair is the same vector
    assert (own[:, 0] - own[:, 1]).abs().max() > 1e-3  # a mask each: dropout makes the pair differ
    shared.sum().backward()  # both views are in the graph
    assert model.encoder.embeddings.word_embeddings.weight.grad.abs().sum() > 0


def test_same_mask_shares_one_mask_across_views_of_different_sentences(tiny_bert_dir: Path) -> None:
    model, batch = model_and_batch(tiny_bert_dir, 3, same=False)
    torch.manual_seed(7)
    views = model.embed_views(batch, 3, same_mask=True)  # (4, 3, hidden)
    for j in range(3):  # each view is what that view alone gives from the same RNG state
        torch.manual_seed(7)
        alone = model.embed({k: v[j::3] for k, v in batch.items()})
        assert torch.equal(views[:, j], alone)


def test_views_agree_in_eval_mode(tiny_bert_dir: Path) -> None:
    model, batch = model_and_batch(tiny_bert_dir, 2, same=False)
    model.eval()
    with torch.no_grad():
        a = model.embed_views(batch, 2, same_mask=True)
        b = model.embed_views(batch, 2)
    assert torch.allclose(a, b, atol=1e-6)


def test_cli_flags_reach_the_run_config(tiny_bert_dir: Path, tiny_txt: Path, tiny_csv: Path, tmp_path: Path) -> None:
    common = ["--base", str(tiny_bert_dir), "--batch-size", "8", "--steps", "1", "--eval-steps", "0", "--no-progress"]
    assert main(["--unsup", str(tiny_txt), "--same-dropout-mask", "--dropout", "0.1", "--out", str(tmp_path / "u"),
                 *common]) == 0
    assert read_meta(tmp_path / "u" / "last")["config"]["same_dropout_mask"] is True
    assert main(["--sup", str(tiny_csv), "--no-hard-negatives", "--out", str(tmp_path / "s"), *common]) == 0
    assert read_meta(tmp_path / "s" / "last")["config"]["hard_negatives"] is False


@pytest.mark.parametrize(("flags", "message"), [
    (["--unsup", "X", "--same-dropout-mask", "--grad-cache"], "--same-dropout-mask does not combine with --grad-cache"),
    (["--unsup", "X", "--no-hard-negatives"], "--no-hard-negatives applies to --sup only"),
])
def test_contradictory_flags_are_refused_with_the_fix(flags: list[str], message: str, capsys) -> None:
    assert main([*flags, "--base", "nowhere"]) == 2
    assert message in capsys.readouterr().err
