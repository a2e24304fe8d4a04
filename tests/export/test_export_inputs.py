"""Checkpoints and flags the export must refuse or warn about before any work: tokenizers that do not fit the model,
lengths it cannot serve, and flags that would change nothing."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from export.__main__ import main as export_main
from export.__main__ import parse_args


@pytest.fixture
def no_graph(monkeypatch):
    """Fail the test if the export gets as far as building the graph."""
    import export.build

    def refuse(*args, **kwargs):
        raise AssertionError("the graph was exported before the input was checked")

    monkeypatch.setattr(export.build, "export_onnx", refuse)
    monkeypatch.setattr(export.build.EmbeddingModule, "load", refuse)


def test_a_tokenizer_of_special_tokens_only_is_refused(tiny_bert_dir, tmp_path, capsys, no_graph):
    # transformers 5 builds such a tokenizer for a base without tokenizer files, and the trainer saved it: every word
    # was [UNK] on both sides of the gate, so the export passed
    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_bert_dir, ckpt)
    spec = json.loads((ckpt / "tokenizer.json").read_text())
    spec["model"]["vocab"] = {t: i for t, i in spec["model"]["vocab"].items() if t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")}
    (ckpt / "tokenizer.json").write_text(json.dumps(spec))
    assert export_main(["--ckpt", str(ckpt), "--out", str(tmp_path / "o"), "--pooler", "avg"]) == 2
    err = capsys.readouterr().err
    assert f"'{ckpt}/tokenizer.json' holds only special tokens" in err and "every word would be [UNK]" in err
    assert "Copy the tokenizer files of the model it came from" in err and not (tmp_path / "o").exists()


def test_a_tokenizer_with_ids_beyond_the_embeddings_is_refused_before_any_work(tiny_roberta_dir, tiny_bert_dir,
                                                                                tmp_path, capsys, no_graph):
    ckpt = tmp_path / "ckpt"  # the RoBERTa embeds ~300 ids; BERT's tokenizer gives ids up to 30521 (an IndexError)
    shutil.copytree(tiny_roberta_dir, ckpt)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copy(tiny_bert_dir / name, ckpt / name)
    vocab = json.loads((ckpt / "config.json").read_text())["vocab_size"]
    assert export_main(["--ckpt", str(ckpt), "--out", str(tmp_path / "o"), "--pooler", "avg"]) == 2
    err = capsys.readouterr().err
    assert f"has token ids up to 30521 (30522 tokens), but the model embeds {vocab} (config.json vocab_size)" in err
    assert "this tokenizer is not the model's" in err and not (tmp_path / "o").exists()


def test_a_tokenizer_that_splits_otherwise_than_transformers_is_refused(tiny_bert_dir, tmp_path, capsys, no_graph):
    ckpt = tmp_path / "ckpt"  # its pre-tokenizer no longer splits on whitespace: AutoTokenizer rebuilds BERT's
    shutil.copytree(tiny_bert_dir, ckpt)
    spec = json.loads((ckpt / "tokenizer.json").read_text())
    spec["pre_tokenizer"] = {"type": "Punctuation", "behavior": "Isolated"}
    (ckpt / "tokenizer.json").write_text(json.dumps(spec))
    from transformers import AutoTokenizer

    if len(AutoTokenizer.from_pretrained(ckpt).backend_tokenizer.pre_tokenizer.pre_tokenize_str("a b")) == 1:
        pytest.skip("this transformers reads the pre-tokenizer from tokenizer.json: nothing disagrees")
    assert export_main(["--ckpt", str(ckpt), "--out", str(tmp_path / "o"), "--pooler", "avg"]) == 2
    err = capsys.readouterr().err
    assert "but transformers' AutoTokenizer (with tokenizer_config.json) as" in err and "save_pretrained" in err


def test_a_max_length_beyond_the_positions_warns_with_both_lengths(tiny_bert_dir, caplog):
    from export.graph import EmbeddingModule, fit_length
    from export.source import Source

    asked = Source.read(tiny_bert_dir, "avg", 1000)
    with caplog.at_level(logging.INFO, logger="export"):
        assert fit_length(asked, EmbeddingModule.load(asked)).max_seq_length == 128
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warned == ["--max-len 1000 asked, 128 used: the encoder's position embeddings allow 128 tokens"]


@pytest.mark.parametrize(("flags", "warns"), [
    (["--calibration", "s.txt"], "--calibration s.txt has no effect without --int8"),
    (["--calibration", "s.txt", "--int8", "--int8-recipe", "per-channel"],
     "--calibration s.txt has no effect with the dynamic --int8-recipe per-channel"),
    (["--int8-recipe", "per-channel"], "--int8-recipe per-channel has no effect without --int8"),
    (["--calibration", "s.txt", "--int8"], None),
    (["--calibration", "s.txt", "--int8", "--int8-recipe", "per-channel", "--openvino"], None),  # ov-int8 reads it
])
def test_calibration_and_recipe_flags_that_change_nothing_are_warned_about(flags, warns):
    from export.__main__ import no_effect

    lines = no_effect(parse_args(["--ckpt", "c", *flags]))
    assert [line[:len(warns)] for line in lines] == [warns] if warns else lines == []


def test_a_calibration_csv_with_another_header_names_the_flag_and_the_formats(tiny_bert_dir, tmp_path, capsys,
                                                                               no_graph):
    bad = tmp_path / "queries.csv"
    bad.write_text("text,label\nhello there,1\n")
    assert export_main(["--ckpt", str(tiny_bert_dir), "--out", str(tmp_path / "o"), "--pooler", "avg", "--int8",
                        "--calibration", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --calibration '{bad}': ") and "CSV header is 'text,label'" in err
    assert "one a line, or a .csv/.tsv with the header sent0,sent1" in err and not (tmp_path / "o").exists()


def test_an_older_sentence_transformers_folder_names_the_model_folder_and_flags(tmp_path: Path, capsys):
    (tmp_path / "st" / "0_Transformer").mkdir(parents=True)
    (tmp_path / "st" / "1_Pooling").mkdir()
    (tmp_path / "st" / "0_Transformer" / "config.json").write_text("{}")
    (tmp_path / "st" / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    (tmp_path / "st" / "modules.json").write_text(json.dumps([
        {"path": "0_Transformer", "type": "sentence_transformers.models.Transformer"},
        {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]))
    assert export_main(["--ckpt", str(tmp_path / "st"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "is an older sentence-transformers folder" in err
    assert f"Pass --ckpt '{tmp_path / 'st' / '0_Transformer'}' --pooler avg --normalize" in err
