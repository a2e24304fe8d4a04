"""The local job end to end on the tiny model: output = Encoder.encode by id, resume, manifest, CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from simcse_sdk import Encoder
from simcse_sdk.embed import EmbedConfig, EmbedConfigError, OutputDirError, OutputPathError, embed_corpus
from simcse_sdk.embed import __main__ as cli
from simcse_sdk.model.manifest import Manifest, sha256_file


@pytest.fixture()
def corpus(tmp_path: Path) -> tuple[Path, list[str]]:
    texts = [f"sentence number {i} about {['cats', 'dogs', 'the weather', 'a long walk home'][i % 4]}"
             for i in range(230)]
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    return path, texts


def test_output_equals_encode_by_id_and_manifest_describes_it(tmp_path: Path, tiny_model_dir: Path, corpus, by_id) -> None:
    path, texts = corpus
    out = tmp_path / "out"
    summary = embed_corpus(tiny_model_dir, [path], out, EmbedConfig(shard_rows=50, variant="fp32", progress=False))
    assert (summary.rows, summary.shards, summary.shards_skipped, summary.bad_rows) == (230, 5, 0, 0)
    got = by_id(out)
    want = Encoder(tiny_model_dir, variant="fp32").encode(texts)
    assert sorted(got) == sorted(f"{path}:{i + 1}" for i in range(230))
    np.testing.assert_allclose(np.stack([got[f"{path}:{i + 1}"] for i in range(230)]), want, atol=1e-5)

    m = json.loads((out / "_manifest.json").read_text())
    model = Manifest.load(tiny_model_dir)
    assert m["status"] == "complete" and m["rows"] == 230 and m["shards"] == 5
    assert m["model"]["variant"] == "fp32" and m["model"]["dim"] == model.embedding_dim
    assert m["model"]["normalized"] is model.normalized
    assert m["model"]["files"] == {"model.onnx": model.variants["fp32"].sha256,
                                   "tokenizer.json": sha256_file(tiny_model_dir / "tokenizer.json"),
                                   "manifest.json": sha256_file(tiny_model_dir / "manifest.json")}
    assert m["inputs"] == [{"path": str(path), "format": "text", "bytes": path.stat().st_size,
                            "mtime_ns": path.stat().st_mtime_ns, "rows": 230}]
    assert m["config"]["shard_rows"] == 50
    assert sorted(p.name for p in out.iterdir()) == ["_manifest.json"] + [f"part-{i:06d}.parquet" for i in range(5)]


def test_rerun_skips_complete_shards_and_redoes_missing_ones(tmp_path: Path, tiny_model_dir: Path, corpus, by_id) -> None:
    path, _ = corpus
    out = tmp_path / "out"
    cfg = EmbedConfig(shard_rows=50, progress=False)
    embed_corpus(tiny_model_dir, [path], out, cfg)
    first = by_id(out)
    (out / "part-000002.parquet").unlink()
    (out / ".part-000002.parquet.123.abcd.tmp").write_bytes(b"half a shard")  # what a kill leaves
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("part-*.parquet")}
    summary = embed_corpus(tiny_model_dir, [path], out, cfg)
    assert (summary.shards_skipped, summary.rows_embedded, summary.rows) == (4, 50, 230)
    after = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("part-*.parquet")}
    assert {k: after[k] for k in before} == before, "a complete shard was rewritten"
    assert not list(out.glob(".*.tmp"))
    again = by_id(out)
    assert sorted(again) == sorted(first)
    np.testing.assert_array_equal(np.stack([again[k] for k in first]), np.stack(list(first.values())))


def test_the_same_files_named_from_another_folder_are_told_apart_from_changed_ones(
        tmp_path: Path, tiny_model_dir: Path, corpus, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rerun from another folder was refused as if the inputs had changed ('added, removed, or changed in size or
    modification time'); the refusal stands (row ids carry the path as given), its reason is now the true one."""
    path, _ = corpus
    out = tmp_path / "out"
    monkeypatch.chdir(path.parent)
    embed_corpus(tiny_model_dir, [path.name], out, EmbedConfig(shard_rows=50, progress=False))
    monkeypatch.chdir(path.parent.parent)
    moved = f"{path.parent.name}/{path.name}"
    with pytest.raises(OutputDirError, match=rf"input paths \({path.name} is now {moved}: the same files, named from "
                                             r"another folder.*run the job from the first run's folder"):
        embed_corpus(tiny_model_dir, [moved], out, EmbedConfig(shard_rows=50, progress=False))


def test_changed_input_or_settings_refuse_to_mix_jobs(tmp_path: Path, tiny_model_dir: Path, corpus, by_id) -> None:
    path, _ = corpus
    out = tmp_path / "out"
    embed_corpus(tiny_model_dir, [path], out, EmbedConfig(shard_rows=50, progress=False))
    with pytest.raises(OutputDirError, match=r"settings \(shard_rows: 50 -> 60\).*--overwrite"):
        embed_corpus(tiny_model_dir, [path], out, EmbedConfig(shard_rows=60, progress=False))
    with path.open("a", encoding="utf-8") as f:
        f.write("one more line\n")
    with pytest.raises(OutputDirError, match=rf"inputs \({path}.*changed in size or modification time"):
        embed_corpus(tiny_model_dir, [path], out, EmbedConfig(shard_rows=50, progress=False))
    summary = embed_corpus(tiny_model_dir, [path], out, EmbedConfig(shard_rows=60, overwrite=True, progress=False))
    assert (summary.rows, summary.shards, summary.shards_skipped) == (231, 4, 0)
    assert len(by_id(out)) == 231 and not (out / "part-000004.parquet").exists()


def test_foreign_part_files_are_not_taken_for_ours(tmp_path: Path, tiny_model_dir: Path, corpus) -> None:
    out = tmp_path / "out"
    out.mkdir()
    pq.write_table(pa.table({"x": [1]}), out / "part-000000.parquet")
    with pytest.raises(OutputDirError, match="no _manifest.json"):
        embed_corpus(tiny_model_dir, [corpus[0]], out, EmbedConfig(progress=False))


def test_other_files_in_the_output_folder_are_refused_before_any_work(tmp_path: Path, tiny_model_dir: Path,
                                                                      corpus) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")  # pyarrow.parquet.read_table(out) would try to read it
    with pytest.raises(OutputDirError, match="holds 'notes.txt', which is not this job's.*read_table"):
        embed_corpus(tiny_model_dir, [corpus[0]], out, EmbedConfig(progress=False))
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_an_output_path_that_cannot_be_a_folder_is_named_and_nothing_is_left(
        tmp_path: Path, tiny_model_dir: Path, corpus, capsys: pytest.CaptureFixture[str]) -> None:
    a_file = tmp_path / "afile"
    a_file.write_text("x")
    for out in (a_file, a_file / "sub"):
        with pytest.raises(OutputPathError, match=f"Cannot write the output folder '{out}': a file stands"):
            embed_corpus(tiny_model_dir, [corpus[0]], out, EmbedConfig(progress=False))
        assert cli.main([str(tiny_model_dir), str(corpus[0]), "--out", str(out), "-q"]) == 1
        assert capsys.readouterr().err.startswith("error: Cannot write the output folder")
    assert a_file.read_text() == "x"
    with pytest.raises(EmbedConfigError, match="out_dir must be a folder path.*got NoneType"):
        embed_corpus(tiny_model_dir, [corpus[0]], None, EmbedConfig(progress=False))  # type: ignore[arg-type]


def test_ctrl_c_says_what_is_kept_and_how_to_go_on_without_a_traceback(
        tmp_path: Path, tiny_model_dir: Path, corpus, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from simcse_sdk.embed import job

    def interrupted(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    monkeypatch.setattr(job, "embed_corpus", interrupted)
    out = tmp_path / "out"
    assert cli.main([str(tiny_model_dir), str(corpus[0]), "--out", str(out), "-q"]) == 130  # 128 + SIGINT, as a shell
    assert capsys.readouterr().err == (f"interrupted: the shards finished so far are kept in {out}; run the same "
                                       "command again to go on from where it stopped.\n")


def test_a_refused_job_leaves_no_new_empty_folder(tmp_path: Path, tiny_model_dir: Path, corpus) -> None:
    out = tmp_path / "new" / "out"
    assert cli.main([str(tiny_model_dir), str(corpus[0]), "--out", str(out), "--variant", "fp64", "-q"]) == 1
    assert not out.exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    assert cli.main([str(tiny_model_dir), str(corpus[0]), "--out", str(kept), "--variant", "fp64", "-q"]) == 1
    assert kept.is_dir()  # the user's own folder stays


def test_one_input_path_given_as_a_string(tmp_path: Path, tiny_model_dir: Path, corpus, by_id) -> None:
    path, texts = corpus
    s = embed_corpus(tiny_model_dir, str(path), tmp_path / "out", EmbedConfig(progress=False))
    assert s.rows == len(texts) and len(by_id(tmp_path / "out")) == len(texts)


def test_bad_rows_embedded_as_empty_text_or_skipped_and_listed(tmp_path: Path, tiny_model_dir: Path, by_id) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"id": "a", "text": "hello"}\n{"id": "b", "text": ""}\n{"id": "c", "text": 5}\n'
                    '{"id": "d", "text": "bye"}\n', encoding="utf-8")
    enc = Encoder(tiny_model_dir, variant="fp32")
    out = tmp_path / "embed"
    s = embed_corpus(tiny_model_dir, [path], out, EmbedConfig(id_column="id", variant="fp32", progress=False))
    got = by_id(out)
    assert (s.rows, s.bad_rows) == (4, 2) and sorted(got) == ["a", "b", "c", "d"]
    np.testing.assert_allclose(got["c"], enc.encode([""])[0], atol=1e-5)
    listed = [json.loads(line) for line in (out / "_bad_rows.jsonl").read_text().splitlines()]
    assert [(r["id"], r["line"], r["reason"]) for r in listed] == [
        ("b", 2, "empty text"), ("c", 3, "int value, not text")]

    out = tmp_path / "skip"
    s = embed_corpus(tiny_model_dir, [path], out, EmbedConfig(id_column="id", bad_rows="skip", progress=False))
    assert (s.rows, s.bad_rows) == (2, 2) and sorted(by_id(out)) == ["a", "d"]
    assert len((out / "_bad_rows.jsonl").read_text().splitlines()) == 2
    assert json.loads((out / "_manifest.json").read_text())["bad_rows"] == 2


def test_normalize_gives_unit_rows(tmp_path: Path, tiny_model_dir: Path, corpus, by_id) -> None:
    out = tmp_path / "out"
    embed_corpus(tiny_model_dir, [corpus[0]], out, EmbedConfig(normalize=True, progress=False))
    emb = np.stack(list(by_id(out).values()))
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert json.loads((out / "_manifest.json").read_text())["model"]["normalized"] is True


def test_cli_summary_and_errors(tmp_path: Path, tiny_model_dir: Path, corpus, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert cli.main([str(tiny_model_dir), str(corpus[0]), "--out", str(out), "--shard-rows", "100",
                     "--no-progress", "--json", "-q"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["rows"], summary["shards"], summary["bad_rows"]) == (230, 3, 0)
    assert cli.main([str(tiny_model_dir), str(tmp_path / "missing.txt"), "--out", str(out), "-q"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: Input file") and "missing.txt" in err
    for flag, value in (("--shard-rows", "0"), ("--batch-size", "-1"), ("--threads", "0"), ("--dimensions", "x")):
        with pytest.raises(SystemExit):  # named by its flag, before any work
            cli.main([str(tiny_model_dir), str(corpus[0]), "--out", str(out), flag, value, "-q"])
        assert f"argument {flag}: expected a whole number >= 1, got " in capsys.readouterr().err
    assert os.path.exists(out / "_manifest.json")
    assert cli.main([str(tiny_model_dir), str(corpus[0]), "--out", str(out), "--shard-rows", "100",
                     "--no-progress", "--json", "-q"]) == 0
    assert json.loads(capsys.readouterr().out)["shards_skipped"] == 3  # the default is to resume
    assert cli.main([str(tiny_model_dir), str(corpus[0]), "--out", str(out), "--shard-rows", "100",
                     "--no-progress", "--json", "-q", "--overwrite"]) == 0
    assert json.loads(capsys.readouterr().out)["shards_skipped"] == 0


def test_embedding_modules_do_not_import_torch() -> None:
    import subprocess
    import sys

    code = ("import sys, simcse_sdk.embed.job, simcse_sdk.embed.__main__, simcse_sdk.ray, simcse_sdk.spark\n"
            "from simcse_sdk.embed import embed_corpus\n"
            "print(','.join(m for m in ('torch', 'transformers') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_repeated_ids_are_counted_and_named(tmp_path: Path, tiny_model_dir: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n"
                            for i, t in [("x1", "a"), ("x2", "b"), ("x1", "c"), ("x1", "d")]), encoding="utf-8")
    s = embed_corpus(tiny_model_dir, [path], tmp_path / "out", EmbedConfig(id_column="id", progress=False))
    assert (s.rows, s.duplicate_ids) == (4, 2) and s.text().endswith("; 2 repeated ids")
    assert "2 rows repeat an id of another row ('x1'): a store keyed on 'id' keeps one vector of each" in caplog.text


def test_cli_reads_unquoted_tsv_with_quoting_none(tmp_path: Path, tiny_model_dir: Path, by_id) -> None:
    path = tmp_path / "a.tsv"
    path.write_text('id\ttext\n1\t"Why, he said.\n2\tnext one\n', encoding="utf-8")
    out = tmp_path / "out"
    assert cli.main([str(tiny_model_dir), str(path), "--out", str(out), "--id-column", "id", "-q", "--no-progress"]) == 1
    assert cli.main([str(tiny_model_dir), str(path), "--out", str(out), "--id-column", "id", "--quoting", "none",
                     "-q", "--no-progress", "--variant", "fp32"]) == 0
    got = by_id(out)
    np.testing.assert_allclose(got["1"], Encoder(tiny_model_dir, variant="fp32").encode(['"Why, he said.'])[0],
                               atol=1e-5)


def test_a_rerun_with_the_output_inside_the_input_folder_resumes(tmp_path: Path, tiny_model_dir: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("one\ntwo\n", encoding="utf-8")
    config = EmbedConfig(variant="fp32", progress=False)
    assert embed_corpus(tiny_model_dir, [corpus], corpus / "emb", config).rows == 2
    again = embed_corpus(tiny_model_dir, [corpus], corpus / "emb", config)  # read its own shard: "no column 'text'"
    assert (again.rows, again.shards_skipped) == (2, 1)


def test_a_size_asked_for_is_recorded_as_unit_rows_and_old_jobs_are_not_resumed_into_a_mix(
        tmp_path: Path, tiny_model_dir: Path, corpus) -> None:
    out = tmp_path / "out"
    full = Encoder(tiny_model_dir, variant="fp32").dim
    embed_corpus(tiny_model_dir, [corpus[0]], out, EmbedConfig(variant="fp32", dimensions=full, progress=False))
    saved = json.loads((out / "_manifest.json").read_text())
    table = pq.read_table(out)
    emb = np.asarray(table.column("embedding").combine_chunks().flatten()).reshape(len(table), -1)
    assert saved["model"]["normalized"] is True and np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    saved["identity"].pop("row_rules")  # as a job of the version before the row rules changed saved it
    (out / "_manifest.json").write_text(json.dumps(saved))
    with pytest.raises(OutputDirError, match="started by another simcse-sdk version, which read rows by other rules"):
        embed_corpus(tiny_model_dir, [corpus[0]], out, EmbedConfig(variant="fp32", dimensions=full, progress=False))


def test_cli_embeds_a_headerless_tsv_by_column_number(tmp_path: Path, tiny_model_dir: Path, by_id) -> None:
    # STS-B has no header row: reading it with one lost line 1 and took a sentence for a column name
    path = tmp_path / "sts-dev.csv"
    lines = [["main-captions", "MSRvid", "2012test", f"{i:04d}", "5.000", a, b] for i, (a, b) in enumerate(
        [("A man with a hard hat is dancing.", "A man wearing a hard hat is dancing."),
         ("A young child is riding a horse.", "A child is riding a horse."),
         ('A "quoted" man is feeding a mouse to a snake.', "The man is feeding a mouse to the snake.")])]
    path.write_text("".join("\t".join(r) + "\n" for r in lines), encoding="utf-8")
    out = tmp_path / "sts"
    assert cli.main([str(tiny_model_dir), str(path), "--format", "tsv", "--quoting", "none", "--no-header",
                     "--text-column", "5", "--id-column", "3", "--out", str(out), "--variant", "fp32", "-q"]) == 0
    got = by_id(out)
    assert sorted(got) == ["0000", "0001", "0002"]
    want = Encoder(tiny_model_dir, variant="fp32").encode([r[5] for r in lines])
    np.testing.assert_allclose(np.stack([got[f"{i:04d}"] for i in range(3)]), want, atol=1e-5)
    saved = json.loads((out / "_manifest.json").read_text())
    assert (saved["config"]["header"], saved["config"]["text_column"], saved["config"]["id_column"]) == (False, "5", "3")
    assert saved["identity"]["settings"]["header"] is False and saved["rows"] == 3
    assert cli.main([str(tiny_model_dir), str(path), "--format", "tsv", "--quoting", "none", "--text-column", "5",
                     "--id-column", "3", "--out", str(out), "--variant", "fp32", "-q"]) == 1  # not the same job


def test_quiet_turns_the_progress_bar_off(tmp_path: Path, tiny_model_dir: Path, corpus,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([str(tiny_model_dir), str(corpus[0]), "--out", str(tmp_path / "out"), "-q"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out.startswith("230 rows in 1 shard")  # the bar wrote to stderr


def test_a_second_job_with_its_out_inside_an_input_folder_skips_the_first_jobs_shards(
        tmp_path: Path, tiny_model_dir: Path, by_id, caplog: pytest.LogCaptureFixture) -> None:
    corpus = tmp_path / "corpus2"
    corpus.mkdir()
    (corpus / "a.txt").write_text("one\ntwo\n", encoding="utf-8")
    assert embed_corpus(tiny_model_dir, [corpus], corpus / "emb", EmbedConfig(progress=False)).rows == 2
    with caplog.at_level("INFO"):  # read the first job's shards as input: "no column 'text'"
        second = embed_corpus(tiny_model_dir, [corpus], corpus / "emb2", EmbedConfig(progress=False))
    assert second.rows == 2 and sorted(by_id(corpus / "emb2")) == [f"{corpus / 'a.txt'}:1", f"{corpus / 'a.txt'}:2"]
    assert f"not reading {corpus / 'emb'} as input: it is a simcse-embed output folder" in caplog.text
    assert json.loads((corpus / "emb2" / "_manifest.json").read_text())["inputs"][0]["path"] == str(corpus / "a.txt")
