"""The export stage on tiny random models: poolers, architectures, the gate, and bad input."""

import json
import shutil

import numpy as np
import onnx
import pytest
from simcse_sdk import Encoder
from simcse_sdk.errors import VariantError

from export.__main__ import main as export_main
from export.build import ExportOptions, build
from export.gate import Thresholds
from export.source import Source, SourceError
from trainer.pooling import POOLERS

LOOSE = Thresholds(min_cos={"fp32": 0.99999, "int8": 0.0, "fp16": 0.999}, max_sts_drop={})


@pytest.mark.parametrize("pooler", POOLERS)
def test_every_pooler_matches_torch(tiny_bert_dir, tmp_path, pooler):
    outcome = build(ExportOptions(ckpt=str(tiny_bert_dir), out=str(tmp_path / "m"), pooler=pooler, thresholds=LOOSE))
    fp32 = outcome.results["fp32"]
    assert fp32.passed and fp32.min_cos >= 0.99999, fp32
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["pooling"] == pooler and manifest["source"]["pooler_from"] == "flag"


def test_fused_ops_and_manifest(tiny_model_dir):
    manifest = json.loads((tiny_model_dir / "manifest.json").read_text())
    ops = manifest["variants"]["fp32"]["fused_ops"]
    # CPU graphs carry Add + LayerNormalization, not onnxruntime's slow fused SkipLayerNormalization CPU kernel
    assert ops["Attention"] == 2 and ops["LayerNormalization"] == 4 and ops["EmbedLayerNormalization"] == 1
    assert "SkipLayerNormalization" not in ops
    assert manifest["format_version"] == 1 and manifest["embedding_dim"] == 32
    int8 = manifest["variants"]["int8"]
    assert int8["quantization"]["name"] == "static-smooth" and int8["quantization"]["calibration_sentences"] == 64
    assert int8["fused_ops"]["QAttention"] == 2 and int8["fused_ops"]["MatMulIntegerToFloat"] == 6
    assert {"torch", "onnxruntime", "transformers"} <= set(manifest["versions"])
    assert "int8_flags" in manifest["export_cpu"]
    assert (tiny_model_dir / "report.md").read_text().startswith("# Export report")


def test_fp16_is_built_structurally_valid(tiny_bert_dir, tmp_path):
    out = tmp_path / "m"
    outcome = build(ExportOptions(ckpt=str(tiny_bert_dir), out=str(out), fp16=True, pooler="avg", thresholds=LOOSE))
    assert "fp16" in outcome.published
    model = onnx.load(str(out / "model.fp16.onnx"))
    onnx.checker.check_model(model)
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # float32 I/O kept
    inits = {i.data_type for i in model.graph.initializer}
    assert onnx.TensorProto.FLOAT16 in inits


def test_roberta_family(tiny_roberta_dir, tmp_path, calibration_file):
    outcome = build(ExportOptions(ckpt=str(tiny_roberta_dir), out=str(tmp_path / "m"), pooler="avg", thresholds=LOOSE,
                                  int8=True, calibration=str(calibration_file)))
    assert outcome.results["fp32"].min_cos >= 0.99999
    assert "int8" in outcome.published  # static int8 with smoothing on a RoBERTa graph
    quant = json.loads((tmp_path / "m" / "manifest.json").read_text())["variants"]["int8"]["quantization"]
    assert quant["name"] == "static-smooth" and quant["smoothed_nodes"] > 0
    enc = Encoder(tmp_path / "m", device="cpu", variant="fp32")
    assert enc.manifest.pad_token_id == 1
    a = enc.encode(["hello there", "a much longer sentence than the first one"], batch_size=2)
    b = np.stack([enc.encode([s])[0] for s in ["hello there", "a much longer sentence than the first one"]])
    np.testing.assert_allclose(a, b, atol=1e-5)  # RoBERTa padding (id 1) handled


def test_pooler_read_from_simcse_json(tiny_bert_dir, tmp_path):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_bert_dir, ckpt)
    (ckpt / "simcse.json").write_text(json.dumps({"pooler": "cls_before_pooler", "max_seq_length": 24, "normalize": False}))
    src = Source.read(ckpt)
    assert (src.pooler, src.pooler_from, src.max_seq_length) == ("cls_before_pooler", "simcse.json", 24)


def test_sentence_transformers_folder(minilm_dir):
    src = Source.read(minilm_dir)
    assert (src.pooler, src.pooler_from, src.normalize, src.max_seq_length) == ("avg", "1_Pooling/config.json", True, 256)


def test_no_pooler_info_asks_for_flag(tiny_bert_dir):
    with pytest.raises(SourceError, match="--pooler"):
        Source.read(tiny_bert_dir)


def test_missing_checkpoint(tmp_path, capsys):
    assert export_main(["--ckpt", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_not_a_model(tmp_path, capsys):
    (tmp_path / "ckpt").mkdir()
    assert export_main(["--ckpt", str(tmp_path / "ckpt"), "--out", str(tmp_path / "o")]) == 2
    assert "not a model checkpoint: no config.json" in capsys.readouterr().err


def test_decoder_is_refused(tiny_bert_dir, tmp_path, capsys):
    """A causal model (found by measuring: its first token does not see the rest) is not an encoder."""
    from transformers import GPT2Config, GPT2Model

    ckpt = tmp_path / "ckpt"
    GPT2Model(GPT2Config(vocab_size=30522, n_embd=32, n_layer=2, n_head=4, n_positions=64)).save_pretrained(ckpt)
    shutil.copy(tiny_bert_dir / "tokenizer.json", ckpt / "tokenizer.json")
    assert export_main(["--ckpt", str(ckpt), "--out", str(tmp_path / "o"), "--pooler", "avg"]) == 2
    err = capsys.readouterr().err
    assert "'gpt2'" in err and "attends causally" in err and "decoder-only embedding models" in err
    assert not (tmp_path / "o").exists()


def test_model_transformers_cannot_load(tiny_bert_dir, tmp_path, capsys):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_bert_dir, ckpt)
    cfg = json.loads((ckpt / "config.json").read_text())
    cfg["model_type"] = "no-such-arch"
    (ckpt / "config.json").write_text(json.dumps(cfg))
    assert export_main(["--ckpt", str(ckpt), "--out", str(tmp_path / "o"), "--pooler", "avg"]) == 2
    err = capsys.readouterr().err
    assert "'no-such-arch'" in err and "Upgrade transformers" in err


def test_existing_output_needs_force(tiny_bert_dir, tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert export_main(["--ckpt", str(tiny_bert_dir), "--out", str(out), "--pooler", "avg"]) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "mine"


def test_interrupted_export_leaves_nothing(tiny_bert_dir, tmp_path, monkeypatch):
    import export.build as build_mod

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(build_mod, "_gate_all", boom)
    with pytest.raises(KeyboardInterrupt):
        build(ExportOptions(ckpt=str(tiny_bert_dir), out=str(tmp_path / "o"), pooler="avg"))
    assert list(tmp_path.iterdir()) == []


def test_force_keeps_old_directory_until_new_one_is_complete(tiny_bert_dir, tmp_path, monkeypatch):
    import export.build as build_mod

    out = tmp_path / "o"
    build(ExportOptions(ckpt=str(tiny_bert_dir), out=str(out), pooler="avg", thresholds=LOOSE))
    before = (out / "manifest.json").read_text()
    monkeypatch.setattr(build_mod, "_gate_all", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("fail")))
    with pytest.raises(RuntimeError):
        build(ExportOptions(ckpt=str(tiny_bert_dir), out=str(out), pooler="avg", force=True))
    assert (out / "manifest.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]


def test_force_refuses_a_folder_that_is_not_an_earlier_export(tiny_bert_dir, tmp_path, capsys):
    out = tmp_path / "userdir"
    out.mkdir()
    (out / "notes.txt").write_text("mine")  # was deleted without a word
    (out / "manifest.json").write_text('{"name": "another tool\'s manifest"}')
    assert export_main(["--ckpt", str(tiny_bert_dir), "--out", str(out), "--pooler", "avg", "--force"]) == 2
    err = capsys.readouterr().err
    assert "not an earlier export" in err and "'manifest.json' and 1 other(s)" in err
    assert "Choose another --out, or delete it by hand" in err
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "notes.txt"]
    assert (out / "notes.txt").read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["userdir"]
    assert export_main(["--ckpt", str(tiny_bert_dir), "--out", str(out), "--pooler", "avg"]) == 2
    assert "not an earlier export" in capsys.readouterr().err  # not sent to a --force that would be refused too
    (tmp_path / "a-file").write_text("mine")
    assert export_main(["--ckpt", str(tiny_bert_dir), "--out", str(tmp_path / "a-file"), "--pooler", "avg",
                        "--force"]) == 2
    assert "is a file" in capsys.readouterr().err and (tmp_path / "a-file").read_text() == "mine"


def test_force_replaces_an_empty_folder_and_an_earlier_export(tiny_bert_dir, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    build(ExportOptions(ckpt=str(tiny_bert_dir), out=str(out), pooler="avg", thresholds=LOOSE, force=True))
    (out / "report.md").write_text("old")
    build(ExportOptions(ckpt=str(tiny_bert_dir), out=str(out), pooler="avg", thresholds=LOOSE, force=True))
    assert (out / "report.md").read_text() != "old" and sorted(p.name for p in tmp_path.iterdir()) == ["o"]


def test_a_file_written_into_out_during_the_export_is_not_replaced(tmp_path):
    from export.output import publish

    built, out = tmp_path / ".o.building", tmp_path / "o"
    built.mkdir()
    (built / "manifest.json").write_text('{"format_version": 1, "variants": {}}')
    out.mkdir()  # empty when the export started, checked again at the rename
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="'notes.txt'"):
        publish(built, out)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_failed_variant_is_refused_with_numbers(tiny_bert_dir, tmp_path, capsys):
    out = tmp_path / "o"
    code = export_main(["--ckpt", str(tiny_bert_dir), "--out", str(out), "--pooler", "avg", "--int8", "--min-cos-int8", "1.0",
                        "--int8-recipe", "per-channel"])
    assert code == 1
    captured = capsys.readouterr()
    assert "int8" in captured.out and "FAILED: min cosine" in captured.out and "short by" in captured.out
    assert "gate failed for int8 (not published)" in captured.err
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["variants"]) == ["fp32"] and not (out / "model.int8.onnx").exists()
    assert "REFUSED" in (out / "report.md").read_text()
    assert manifest["refused"]["int8"][0].startswith("min cosine")
    with pytest.raises(VariantError, match=r"The export made it and its accuracy gate refused it \(min cosine .* < 1\.0"):
        Encoder(out, device="cpu", variant="int8")  # it said "re-export with --int8", which was done


def test_keep_failed_publishes_but_auto_skips_it(tiny_bert_dir, tmp_path):
    out = tmp_path / "o"
    args = ["--ckpt", str(tiny_bert_dir), "--out", str(out), "--pooler", "avg", "--int8", "--min-cos-int8", "1.0",
            "--int8-recipe", "per-channel"]
    assert export_main(args + ["--keep-failed"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["variants"]["int8"]["gate"]["passed"] is False
    assert Encoder(out, device="cpu").variant == "fp32"  # auto never picks a failed variant


@pytest.mark.parametrize("recipe", ["static-smooth", "static"])
def test_static_int8_is_batch_independent(tiny_bert_dir, tmp_path, calibration_file, recipe):
    out = tmp_path / "o"
    outcome = build(ExportOptions(ckpt=str(tiny_bert_dir), out=str(out), pooler="avg", int8=True,
                                  int8_recipe=recipe, calibration=str(calibration_file), thresholds=LOOSE))
    assert "int8" in outcome.published
    quant = json.loads((out / "manifest.json").read_text())["variants"]["int8"]["quantization"]
    assert quant["static"] is True and quant["calibration_sentences"] == 64
    assert (quant["smoothed_nodes"] > 0) == (recipe == "static-smooth")
    enc = Encoder(out, device="cpu", variant="int8")
    sents = ["a short one", "a somewhat longer sentence about the weather today", "x"] * 3
    together = enc.encode(sents, batch_size=9)
    alone = np.stack([enc.encode([s])[0] for s in sents])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_dynamic_int8_needs_no_calibration(tiny_bert_dir, tmp_path):
    outcome = build(ExportOptions(ckpt=str(tiny_bert_dir), out=str(tmp_path / "o"), pooler="avg", int8=True,
                                  int8_recipe="per-channel", thresholds=LOOSE))
    assert "int8" in outcome.published


def test_static_int8_with_a_missing_calibration_file_says_what_to_pass(tiny_bert_dir, tmp_path, capsys):
    args = ["--ckpt", str(tiny_bert_dir), "--out", str(tmp_path / "o"), "--pooler", "avg", "--int8",
            "--calibration", str(tmp_path / "missing.txt")]
    assert export_main(args) == 2
    err = capsys.readouterr().err
    assert "missing.txt" in err and "--calibration" in err and "--int8-recipe per-channel" in err
    assert not (tmp_path / "o").exists()


def test_default_int8_without_any_sentences_says_what_to_pass(tiny_bert_dir, tmp_path):
    with pytest.raises(ValueError, match=r"static-smooth.*--calibration FILE.*--data-dir.*per-channel"):
        build(ExportOptions(ckpt=str(tiny_bert_dir), out=str(tmp_path / "o"), pooler="avg", int8=True, thresholds=LOOSE))
    assert not (tmp_path / "o").exists()


def _trained_checkpoint(tiny_bert_dir, tmp_path, data_file, sha256):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_bert_dir, ckpt)
    meta = {"pooler": "avg", "normalize": False, "max_seq_length": 32, "data": {"path": str(data_file), "sha256": sha256}}
    (ckpt / "simcse.json").write_text(json.dumps(meta))
    return ckpt


def test_static_int8_calibrates_on_the_checkpoints_training_file(tiny_bert_dir, tmp_path):
    from simcse_sdk.model.manifest import sha256_file

    nli = tmp_path / "nli.csv"  # SimCSE's supervised format: the premises (sent0) are used
    nli.write_text("sent0,sent1,hard_neg\n" + "".join(f"premise {i},entailed {i},contradiction {i}\n" for i in range(40)))
    ckpt = _trained_checkpoint(tiny_bert_dir, tmp_path, nli, sha256_file(nli))
    build(ExportOptions(ckpt=str(ckpt), out=str(tmp_path / "o"), int8=True, thresholds=LOOSE))
    quant = json.loads((tmp_path / "o" / "manifest.json").read_text())["variants"]["int8"]["quantization"]
    assert quant["calibration_file"] == str(nli.resolve()) and quant["calibration_sentences"] == 40


def test_a_changed_training_file_is_not_used_for_calibration(tiny_bert_dir, tmp_path):
    wiki = tmp_path / "wiki.txt"
    wiki.write_text("one sentence\nanother sentence\n")
    ckpt = _trained_checkpoint(tiny_bert_dir, tmp_path, wiki, "0" * 64)  # recorded hash differs from the file's
    with pytest.raises(ValueError, match="calibrates activation scales"):
        build(ExportOptions(ckpt=str(ckpt), out=str(tmp_path / "o"), int8=True, thresholds=LOOSE))


def test_sdk_and_trainer_agree_on_pooler_names():
    from simcse_sdk.model.manifest import POOLERS as SDK_POOLERS  # the SDK cannot import the torch-side list

    assert SDK_POOLERS == POOLERS


def test_an_out_under_a_file_and_gate_values_out_of_range_are_named(tiny_bert_dir, tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / "x"
    assert export_main(["--ckpt", str(tiny_bert_dir), "--out", str(out), "--pooler", "avg"]) == 2
    err = capsys.readouterr().err
    assert f"--out '{out}': cannot make its folder" in err and "a file stands where it" in err
    for flag, value, why in (("--min-cos-int8", "2", "a cosine is between -1 and 1"),
                             ("--max-drop", "-0.1", "an STS-B drop in points is >= 0")):
        with pytest.raises(SystemExit):
            export_main(["--ckpt", str(tiny_bert_dir), flag, value])
        assert why in capsys.readouterr().err


def test_a_max_length_of_zero_or_without_room_for_text_is_refused_before_any_work(tiny_bert_dir, tmp_path, capsys):
    with pytest.raises(SystemExit):  # 0 was read as "no override" and the export went on at the default length
        export_main(["--ckpt", str(tiny_bert_dir), "--max-len", "0"])
    assert "argument --max-len: expected a whole number >= 1, got 0" in capsys.readouterr().err
    out = tmp_path / "o"
    assert export_main(["--ckpt", str(tiny_bert_dir), "--out", str(out), "--pooler", "avg", "--max-len", "2"]) == 2
    assert "--max-len 2: max length 2 leaves no room for text" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".o.building-*"))


def test_a_matryoshka_size_beyond_the_model_is_refused_before_the_graph_is_built(tiny_bert_dir, tmp_path, capsys,
                                                                                 monkeypatch):
    import export.build

    def no_graph(*args, **kwargs):
        raise AssertionError("the graph was exported before the sizes were checked")

    monkeypatch.setattr(export.build, "export_onnx", no_graph)
    out = tmp_path / "o"
    assert export_main(["--ckpt", str(tiny_bert_dir), "--out", str(out), "--pooler", "avg",
                        "--matryoshka-dims", "999"]) == 2
    assert "--matryoshka-dims [999]: sizes must be descending, from 32 (this model's size)" in capsys.readouterr().err
    assert not out.exists()


def test_matryoshka_sizes_other_than_the_trained_ones_are_refused_before_the_graph_is_built(
        tiny_bert_dir, tmp_path, capsys, monkeypatch):
    import export.build

    def no_graph(*args, **kwargs):
        raise AssertionError("the graph was exported before the sizes were checked")

    monkeypatch.setattr(export.build, "export_onnx", no_graph)
    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_bert_dir, ckpt)
    (ckpt / "simcse.json").write_text(json.dumps({"pooler": "avg", "matryoshka_dims": [32, 16, 8]}))
    out = tmp_path / "o"
    assert export_main(["--ckpt", str(ckpt), "--out", str(out), "--matryoshka-dims", "24,4"]) == 2
    err = capsys.readouterr().err
    assert "--matryoshka-dims [24, 4] names [24, 4], which this checkpoint was not trained for" in err
    assert "matryoshka_dims [32, 16, 8]" in err
    assert "drop --matryoshka-dims" in err and not out.exists()


def test_sigterm_during_an_export_removes_the_half_built_folder(tiny_bert_dir, tmp_path):
    from tests.processes import module_env, sigterm_once

    out = tmp_path / "model"
    code, err = sigterm_once(["export", "--ckpt", str(tiny_bert_dir), "--out", str(out), "--pooler", "avg", "--fp16"],
                             ready=lambda: bool(list(tmp_path.glob(".model.building-*"))),
                             env=module_env(SIMCSE_DATA_DIR=str(tmp_path / "no-data")))
    assert code == 130 and f"interrupted: nothing was written to {out}" in err, err[-2000:]
    assert not out.exists() and not list(tmp_path.glob(".model.building-*"))


def test_a_stop_whose_raise_was_dropped_still_publishes_nothing(tmp_path, monkeypatch):
    # CPython drops an exception raised in a weakref callback: a SIGTERM there was lost and the export published
    import threading

    from export import stopping
    from export.output import publish

    monkeypatch.setattr(stopping, "_requested", threading.Event())
    tmp, out = tmp_path / ".model.building-x", tmp_path / "model"
    tmp.mkdir()
    (tmp / "manifest.json").write_text("{}")
    try:
        stopping.on_signal(15, None)
    except stopping.Terminated:
        pass  # dropped, as in a weakref callback
    with pytest.raises(stopping.Terminated):
        publish(tmp, out)
    assert not out.exists() and (tmp / "manifest.json").exists()
