"""What a checkpoint serves: its max length (kept from the start, read from a checkpoint base), its tokenizer's
truncation, its sentence-transformers files, and dev scores measured at that length."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from trainer.checkpoint import read_meta
from trainer.config import TrainConfig, resolve
from trainer.data import tokenize
from trainer.model import load_base
from trainer.runlog import read_log
from trainer.train import train


def run_cfg(base: Path, data: Path, out: Path, **over) -> TrainConfig:
    values = {"base": str(base), "data": str(data), "out": str(out), "batch_size": 8, "steps": 4, "eval_steps": 0,
              "save_steps": 2, **over}
    return resolve("unsup", values)


@pytest.fixture
def base_256(tmp_path: Path, tiny_bert_dir: Path) -> Path:
    """The tiny BERT as a sentence-transformers folder that serves 24 tokens (its sentence_bert_config.json)."""
    base = tmp_path / "base"
    shutil.copytree(tiny_bert_dir, base)
    (base / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 24}))
    return base


def test_the_served_length_is_read_once_and_kept_when_the_base_is_gone(base_256: Path, tiny_txt: Path,
                                                                       tmp_path: Path) -> None:
    out = tmp_path / "run"

    def kill(step: int, model: object) -> None:
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(run_cfg(base_256, tiny_txt, out), progress=False, on_step=kill)
    assert read_meta(out / "last")["max_seq_length"] == 24
    shutil.rmtree(base_256)  # re-read from the base at each save, it became the positions' 128
    train(TrainConfig(out=str(out)), resume=True, progress=False)
    assert read_meta(out / "last")["max_seq_length"] == 24
    # continuing from the checkpoint: its simcse.json's length (it has no other file saying 24), not 128
    again = train(run_cfg(out / "last", tiny_txt, tmp_path / "again", steps=2), progress=False)
    assert read_meta(again.run_dir / "last")["max_seq_length"] == 24


def test_the_saved_tokenizer_truncates_at_the_served_length_not_the_training_cut(base_256: Path, tiny_txt: Path,
                                                                                 tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    result = train(run_cfg(base_256, tiny_txt, tmp_path / "run", max_len=8), progress=False)
    tok = Tokenizer.from_file(str(result.run_dir / "last" / "tokenizer.json"))
    assert tok.truncation is not None and tok.truncation["max_length"] == 24  # was 8, --max-len
    assert len(tok.encode(" ".join(["word"] * 100)).ids) == 24
    from transformers import AutoTokenizer

    # tokenizer_config.json said 512, the base's: transformers cut there
    assert AutoTokenizer.from_pretrained(result.run_dir / "last").model_max_length == 24


@pytest.mark.parametrize("over", [
    {"pooler": "cls", "mlp_only_train": True},  # served: cls_before_pooler
    {"pooler": "cls", "mlp_only_train": False},  # served: cls, the MLP head (a Dense with tanh)
    {"pooler": "avg"},
])
def test_sentence_transformers_pools_a_checkpoint_as_the_trainer(base_256: Path, tiny_txt: Path, tmp_path: Path,
                                                                 over: dict) -> None:
    st = pytest.importorskip("sentence_transformers", reason="sentence-transformers is not installed")
    cfg = run_cfg(base_256, tiny_txt, tmp_path / "run", **over)
    ckpt = train(cfg, progress=False).run_dir / "last"
    sentences = ["a cat sat on the mat", "two dogs are running through a field of tall grass today", "hello"]
    model, tok = load_base(str(ckpt), pooler=cfg.inference_pooler, mlp_init="base")
    model.eval()
    with torch.no_grad():
        ours = model.embed(tokenize(tok, [(s,) for s in sentences], 24)).numpy()
    theirs = st.SentenceTransformer(str(ckpt), device="cpu").encode(sentences, convert_to_numpy=True)
    cos = (ours * theirs).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
    assert cos.min() > 0.9999, (cfg.inference_pooler, cos)
    assert st.SentenceTransformer(str(ckpt), device="cpu").max_seq_length == 24  # was 512
    modules = json.loads((ckpt / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[1] for m in modules] == (
        ["Transformer", "Pooling", "Dense"] if cfg.inference_pooler == "cls" else ["Transformer", "Pooling"])


def test_dev_scores_are_measured_at_the_served_length_and_a_nan_is_never_best(
        base_256: Path, tiny_txt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    import trainer.keeper
    import trainer.train

    scores = iter([math.nan, 50.0, 40.0, 60.0])

    def fake_dev(encode, cfg):
        return {"stsb": next(scores), "sickr": 0.0, "alignment": 0.0, "uniformity": 0.0, "wall_s": 0.0}

    captured: dict[str, int] = {}
    real_make_encode = trainer.train.make_encode

    def spy(*args, **kwargs):
        captured["max_len"] = kwargs["max_len"]
        return real_make_encode(*args, **kwargs)

    monkeypatch.setattr(trainer.keeper, "dev_scores_by_size", fake_dev)
    monkeypatch.setattr(trainer.train, "check_eval_available", lambda d: None)
    monkeypatch.setattr(trainer.train, "make_encode", spy)
    with caplog.at_level("WARNING"):
        result = train(run_cfg(base_256, tiny_txt, tmp_path / "run", max_len=8, eval_steps=1), progress=False)
    assert captured["max_len"] == 24  # the served length, not --max-len 8
    assert "the STS-B dev evaluation gave nan" in caplog.text
    evals = [r for r in read_log(result.run_dir / "log.jsonl") if r["type"] == "eval"]
    assert [e["stsb"] for e in evals] == [None, 50.0, 40.0, 60.0]  # NaN as null: strict JSON
    assert [e["best"] for e in evals] == [False, True, False, True]  # a NaN first score froze best/ at step 1
    for line in (result.run_dir / "log.jsonl").read_text().splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} in log.jsonl"))
    dev = read_meta(result.run_dir / "best")["dev"]
    assert dev["stsb"] == 60.0 and dev["max_len"] == 24 and evals[0]["max_len"] == 24
