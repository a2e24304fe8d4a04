"""Unsupervised and supervised SimCSE on every encoder architecture, then export and encode.

A few steps on tiny random models (tests/tiny_encoders.py): the loss is finite, the weights move,
the checkpoint loads with plain ``transformers.AutoModel`` (plus ``mlp_head.safetensors`` for an
encoder without a pooler layer trained with ``cls``), and its export embeds as the trained model does.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from export.build import ExportOptions, build
from export.gate import Thresholds
from tests.tiny_encoders import ARCHS
from trainer.checkpoint import read_meta
from trainer.config import resolve
from trainer.encoder import HEAD_FILE, has_pooler
from trainer.model import load_base, make_encode
from trainer.runlog import read_log
from trainer.train import train

SENTENCES = ["a short one", "a somewhat longer sentence about the cat and the dog", "x"]


def run(base: Path, data: Path, out: Path, preset: str) -> Path:
    """Three steps of ``preset`` (the paper's pooler setup: unsup cls -> cls_before_pooler, sup cls); ``last/``."""
    cfg = resolve(preset, {"base": str(base), "data": str(data), "out": str(out), "batch_size": 8, "steps": 3,
                           "eval_steps": 0, "save_steps": 0, "dropout": 0.1, "lr": 1e-3})
    result = train(cfg, progress=False)
    losses = [r["loss"] for r in read_log(out / "log.jsonl") if r["type"] == "step"]
    assert result.steps == 3 and len(losses) == 3 and all(math.isfinite(x) for x in losses)
    return out / "last"


@pytest.mark.parametrize("preset", ["unsup", "sup"])
@pytest.mark.parametrize("arch", list(ARCHS))
def test_train_export_encode(arch, preset, tiny_encoder, tiny_txt, tiny_csv, tmp_path, arch_table):
    from safetensors.torch import load_file
    from simcse_sdk import Encoder
    from transformers import AutoModel

    base = tiny_encoder(arch)
    last = run(base, tiny_txt if preset == "unsup" else tiny_csv, tmp_path / "run", preset)
    meta = read_meta(last)
    assert meta["pooler"] == {"unsup": "cls_before_pooler", "sup": "cls"}[preset]

    trained = AutoModel.from_pretrained(last)  # plain transformers loads the checkpoint
    before = load_file(base / "model.safetensors")
    after = {k: v for k, v in load_file(last / "model.safetensors").items() if k in before}
    assert after and any(not torch.equal(before[k], after[k]) for k in after)  # training moved the weights
    assert (last / HEAD_FILE).is_file() == (not has_pooler(trained))  # the cls head lives beside the encoder

    model, tok = load_base(str(last), pooler=meta["pooler"], mlp_init="base")
    ref = make_encode(model, tok, pooler=meta["pooler"], max_len=meta["max_seq_length"])(SENTENCES)
    out = tmp_path / "onnx"
    outcome = build(ExportOptions(ckpt=str(last), out=str(out), thresholds=Thresholds(min_cos={"fp32": 0.99999},
                                                                                      max_sts_drop={})))
    assert outcome.published == ["fp32"], outcome
    emb = Encoder(out, device="cpu", variant="fp32").encode(SENTENCES, batch_size=3)  # padded batch
    cos = (emb * ref).sum(1) / (np.linalg.norm(emb, axis=1) * np.linalg.norm(ref, axis=1))
    assert cos.min() >= 0.99999, cos

    done = set(arch_table.rows.get(arch, {}).get("trains", "").removesuffix(" ok").split(" + ")) - {""}
    arch_table.record(arch, "trains", " + ".join(sorted(done | {preset}, reverse=True)) + " ok")


def test_unsup_warns_when_the_encoder_has_no_dropout(tiny_encoder, caplog):
    """ModernBERT's config ships with every dropout at 0: unsup SimCSE's positives would be identical."""
    from trainer.model import check_for_run

    model, _ = load_base(str(tiny_encoder("modernbert")), pooler="cls")
    with caplog.at_level("WARNING", logger="trainer.model"):
        check_for_run(model, resolve("sup", {}).objective, 32)
        assert not caplog.records
        check_for_run(model, resolve("unsup", {}).objective, 32)
    assert "--dropout 0.1" in caplog.text
    model, _ = load_base(str(tiny_encoder("modernbert")), pooler="cls", dropout=0.1)
    caplog.clear()
    check_for_run(model, resolve("unsup", {}).objective, 32)
    assert not caplog.records


def test_a_max_len_beyond_the_positions_is_refused_before_the_first_step(tiny_encoder):
    """It failed at the first long sentence (RoBERTa: 'index 130 is out of bounds'), hours into a run, unsaved."""
    from trainer.errors import ConfigError
    from trainer.model import check_for_run

    model, _ = load_base(str(tiny_encoder("roberta")), pooler="avg")
    limit = model.encoder.config.max_position_embeddings - model.encoder.config.pad_token_id - 1  # positions after pad
    check_for_run(model, "unsup", limit)
    with pytest.raises(ConfigError, match=f"--max-len {limit + 2} is more than the {limit} positions of this base "
                       f"model .*: pass --max-len {limit} or less"):
        check_for_run(model, "unsup", limit + 2)

