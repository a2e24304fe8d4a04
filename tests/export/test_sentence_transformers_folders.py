"""sentence-transformers folders: exported as sentence-transformers itself encodes them, or refused with the reason.

Each folder is saved by the installed sentence-transformers around the tiny random BERT, and each export is held
to ``SentenceTransformer(folder).encode`` of the same texts: the gate compares the graph with the export's own
torch module, which shares any misreading of the folder, so only sentence-transformers itself can catch one.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from simcse_sdk import Encoder

from export.__main__ import main as export_main
from export.source import Source

LONG = " ".join(["the quick brown fox jumps over the lazy dog"] * 20)  # far past every max length here
TEXTS = ["hello there", "A Man Is Playing A Guitar On The Street", "HELLO THERE", LONG, ""]


def save_st(tiny_bert_dir: Path, out: Path, *, pooling: str, max_seq_length: int, cased: bool = False,
            dense: bool = False, include_prompt: bool = True,
            prompts: dict[str, str] | None = None) -> Path:
    """``SentenceTransformer(modules=...).save(out)`` around the tiny BERT (optionally with a cased vocabulary)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Dense, Normalize, Pooling, Transformer

    base = out.parent / f"{out.name}-base"
    shutil.copytree(tiny_bert_dir, base)
    if cased:  # the real uncased vocabulary, but a tokenizer that no longer lowercases by itself
        spec = json.loads((base / "tokenizer.json").read_text())
        spec["normalizer"]["lowercase"] = False
        (base / "tokenizer.json").write_text(json.dumps(spec))
        cfg = json.loads((base / "tokenizer_config.json").read_text())
        (base / "tokenizer_config.json").write_text(json.dumps({**cfg, "do_lower_case": False}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sentence_transformers.models is deprecated in 6, and still what 5 has
        modules = [Transformer(str(base), max_seq_length=max_seq_length),
                   Pooling(32, pooling_mode=pooling, include_prompt=include_prompt)]
        if dense:
            modules.append(Dense(32, 16))
        SentenceTransformer(modules=[*modules, Normalize()], prompts=prompts or {}, device="cpu").save(str(out))
    return out


def st_encode(folder: Path, texts: list[str], **kw: str) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = SentenceTransformer(str(folder), device="cpu")
        return np.stack([model.encode([t], convert_to_numpy=True, **kw)[0] for t in texts])  # one at a time: no padding


def assert_same_vectors(folder: Path, model_dir: Path, **kw: str) -> None:
    ours, theirs = Encoder(model_dir, variant="fp32").encode(TEXTS, **kw), st_encode(folder, TEXTS, **kw)
    cos = (ours * theirs).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
    assert cos.min() > 0.99999, dict(zip(TEXTS, cos.round(4), strict=True))


def test_a_folder_saved_by_sentence_transformers_6_exports_as_it_encodes(tiny_bert_dir, tmp_path):
    # Its 1_Pooling/config.json says "pooling_mode": "cls" (refused as unsupported before), and its length lives
    # only in tokenizer_config.json (the export took 128 positions and kept 104 tokens more than it).
    folder = save_st(tiny_bert_dir, tmp_path / "st", pooling="cls", max_seq_length=24)
    src = Source.read(folder)
    assert (src.pooler, src.normalize, src.max_seq_length) == ("cls_before_pooler", True, 24)
    assert export_main(["--ckpt", str(folder), "--out", str(tmp_path / "m")]) == 0
    assert_same_vectors(folder, tmp_path / "m")


def test_do_lower_case_is_built_into_the_exported_tokenizer(tiny_bert_dir, tmp_path):
    # sentence-transformers 6 writes the Lowercase normaliser into tokenizer.json itself; earlier releases saved a
    # cased tokenizer and "do_lower_case": true in sentence_bert_config.json, which they (and 6) apply on loading
    folder = save_st(tiny_bert_dir, tmp_path / "st", pooling="mean", max_seq_length=32, cased=True)
    config = json.loads((folder / "sentence_bert_config.json").read_text())
    (folder / "sentence_bert_config.json").write_text(json.dumps({**config, "max_seq_length": 32, "do_lower_case": True}))
    assert Source.read(folder).lowercase
    assert export_main(["--ckpt", str(folder), "--out", str(tmp_path / "m")]) == 0
    assert_same_vectors(folder, tmp_path / "m")  # "A Man Is ..." was at cosine 0.94 without it


def test_do_lower_case_of_tokenizer_config_is_followed_as_transformers_follows_it(tiny_bert_dir, tmp_path):
    # tokenizer_config.json says do_lower_case true over a tokenizer.json that does not lowercase: transformers
    # (and so sentence-transformers and the trainer) lowercases and strips accents; the export copied the file as it
    # was, and its gate passed (both sides read that file): cosine -0.05 to sentence-transformers on cased text
    folder = save_st(tiny_bert_dir, tmp_path / "st", pooling="mean", max_seq_length=32, cased=True)
    cfg = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**cfg, "do_lower_case": True}))
    assert not Source.read(folder).lowercase  # sentence_bert_config.json does not ask for it
    assert export_main(["--ckpt", str(folder), "--out", str(tmp_path / "m")]) == 0
    assert_same_vectors(folder, tmp_path / "m")


def test_a_dense_module_is_refused_even_with_a_pooler_flag(tiny_bert_dir, tmp_path, capsys):
    folder = save_st(tiny_bert_dir, tmp_path / "st", pooling="mean", max_seq_length=32, dense=True)
    for extra in ([], ["--pooler", "avg"]):  # it was dropped without a word: 32 values where 16 were asked
        assert export_main(["--ckpt", str(folder), "--out", str(tmp_path / "m"), *extra]) == 2
        err = capsys.readouterr().err
        assert "modules.json' lists sentence_transformers" in err and "Dense" in err and "Transformer, Pooling, Normalize" in err
    assert not (tmp_path / "m").exists()


def test_prompts_left_out_of_the_mean_are_refused(tiny_bert_dir, tmp_path, capsys):
    folder = save_st(tiny_bert_dir, tmp_path / "st", pooling="mean", max_seq_length=32, include_prompt=False,
                     prompts={"query": "query: ", "passage": "passage: "})
    assert export_main(["--ckpt", str(folder), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "include_prompt: false" in err and "['passage', 'query']" in err
    assert not (tmp_path / "m").exists()
    bare = save_st(tiny_bert_dir, tmp_path / "bare", pooling="mean", max_seq_length=32, include_prompt=False)
    assert export_main(["--ckpt", str(bare), "--out", str(tmp_path / "b")]) == 0  # no prompt: nothing to leave out
    assert_same_vectors(bare, tmp_path / "b")


@pytest.mark.parametrize("pooling", ["max", "mean_sqrt_len_tokens"])
def test_a_pooling_the_graph_does_not_compute_is_refused_unless_the_flag_says_otherwise(tiny_bert_dir, tmp_path,
                                                                                        capsys, pooling):
    folder = save_st(tiny_bert_dir, tmp_path / "st", pooling=pooling, max_seq_length=32)
    assert export_main(["--ckpt", str(folder), "--out", str(tmp_path / "m")]) == 2
    assert f"asks for pooling {pooling}; the export computes mean or CLS pooling alone" in capsys.readouterr().err
    src = Source.read(folder, pooler="avg")  # "Pass --pooler to override" now overrides
    assert (src.pooler, src.pooler_from) == ("avg", "flag")


def test_a_tokenizer_that_truncates_on_the_left_keeps_the_end_of_a_long_text(tiny_bert_dir, tmp_path):
    folder = save_st(tiny_bert_dir, tmp_path / "st", pooling="mean", max_seq_length=16)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "truncation_side": "left"}))
    assert export_main(["--ckpt", str(folder), "--out", str(tmp_path / "m")]) == 0
    enc = Encoder(tmp_path / "m", variant="fp32")
    assert enc.tokenizer.truncation_side == "left"
    ids = enc.tokenizer.encode([LONG + " final words"])[0]
    assert len(ids) == 16 and ids[0] == 101 and ids[-1] == 102  # [CLS] ... the text's end ... [SEP]
    assert enc.tokenizer.encode(["final words"])[0][1:-1].tolist() == ids[-3:-1].tolist()
    assert_same_vectors(folder, tmp_path / "m")  # long texts were at cosine 0.94-0.99: the SDK cut the end


def test_an_old_pooling_config_with_no_mode_set_means_mean_as_in_sentence_transformers(tiny_bert_dir, tmp_path):
    folder = save_st(tiny_bert_dir, tmp_path / "st", pooling="mean", max_seq_length=32)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 32, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": False}))
    assert Source.read(folder).pooler == "avg"  # it was refused as "pooling none"
    (folder / "sentence_bert_config.json").rename(folder / "sentence_roberta_config.json")  # another name it reads
    (folder / "sentence_roberta_config.json").write_text(json.dumps({"max_seq_length": 20, "do_lower_case": True}))
    src = Source.read(folder)
    assert (src.max_seq_length, src.lowercase) == (20, True)


def test_the_exported_tokenizer_file_truncates_at_the_served_length(tiny_bert_dir, tmp_path):
    # a trained checkpoint's tokenizer.json kept the training cut (32): any reader of the exported file but the SDK
    # got 32 tokens of a model served at 128
    from tokenizers import Tokenizer

    ckpt = tmp_path / "ckpt"
    shutil.copytree(tiny_bert_dir, ckpt)
    tok = Tokenizer.from_file(str(ckpt / "tokenizer.json"))
    tok.enable_truncation(8)
    tok.save(str(ckpt / "tokenizer.json"))
    assert export_main(["--ckpt", str(ckpt), "--out", str(tmp_path / "m"), "--pooler", "avg"]) == 0
    served = json.loads((tmp_path / "m" / "manifest.json").read_text())["max_seq_length"]
    exported = Tokenizer.from_file(str(tmp_path / "m" / "tokenizer.json"))
    assert served > 8 and exported.truncation["max_length"] == served
