"""The local job on the tiny model: what a refused or repeated command leaves, engine-only settings, damaged shards,
CSV records of the wrong width, repeated ids on a rerun."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from simcse_sdk.embed import EmbedConfig, EmbedConfigError, OutputDirError, embed_corpus
from simcse_sdk.embed import __main__ as cli
from simcse_sdk.embed.errors import CorpusInputError, ShardError
from simcse_sdk.embed.io.shards import duplicate_ids


@pytest.fixture()
def with_ids(tmp_path: Path) -> Path:
    """A JSONL corpus of 120 rows with ids: x1 three times, one bad row (empty text)."""
    rows = [("x1", "a cat"), ("x2", ""), ("x1", "a dog"), ("x1", "rain")] + [(f"r{i}", f"row {i}") for i in range(116)]
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in rows), encoding="utf-8")
    return path


def _files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_a_refused_overwrite_leaves_the_finished_job_as_it_was(tmp_path: Path, tiny_model_dir: Path, with_ids: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "done"
    base = [str(tiny_model_dir), str(with_ids), "--out", str(out), "--id-column", "id", "--shard-rows", "50",
            "--no-progress", "-q"]
    assert cli.main(base) == 0
    before = _files(out)
    assert {"_manifest.json", "_bad_rows.jsonl", "part-000002.parquet"} <= set(before)
    for bad in (["--variant", "nope"], ["--dimensions", "1000"], ["--dimensions", "12", "--output", "ubinary"],
                ["--prompt-name", "query"]):
        assert cli.main([*base, "--overwrite", *bad]) == 1, bad
        assert capsys.readouterr().err.startswith("error: ")
        assert _files(out) == before, f"--overwrite {' '.join(bad)} was refused but changed the folder"
    assert cli.main([str(tmp_path / "no-such-model"), *base[1:], "--overwrite"]) == 1
    assert _files(out) == before
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputDirError, match="holds 'notes.txt'"):
        embed_corpus(tiny_model_dir, [with_ids], out, EmbedConfig(id_column="id", shard_rows=50, overwrite=True,
                                                                  progress=False))
    assert _files(out) == dict(before, **{"notes.txt": b"mine"})


def test_settings_of_the_other_engine_are_refused_not_ignored(tmp_path: Path, tiny_model_dir: Path, with_ids: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    EmbedConfig().validated()
    EmbedConfig(engine="ray").validated()  # the defaults suit both engines
    for ray_only in ({"ray_address": "ray://nowhere:10001"}, {"actors": 4}, {"cpus_per_actor": 2.0},
                     {"gpus_per_actor": 1.0}):
        with pytest.raises(EmbedConfigError, match=f"{next(iter(ray_only))}=.*only apply to the Ray engine.*--engine ray"):
            EmbedConfig(**ray_only).validated()  # type: ignore[arg-type]
    with pytest.raises(EmbedConfigError, match="threads=2 only applies to the local engine.*--cpus-per-actor"):
        EmbedConfig(engine="ray", threads=2).validated()
    with pytest.raises(EmbedConfigError, match="device='cuda' only applies to the local engine.*--gpus-per-actor 1"):
        EmbedConfig(engine="ray", device="cuda").validated()

    out = tmp_path / "out"
    cmd = [str(tiny_model_dir), str(with_ids), "--out", str(out), "--no-progress", "-q"]
    assert cli.main([*cmd, "--gpus-per-actor", "1", "--actors", "4", "--address", "ray://nowhere:10001"]) == 1
    err = capsys.readouterr().err
    assert "ray_address='ray://nowhere:10001', actors=4, gpus_per_actor=1.0 only apply to the Ray engine" in err
    assert cli.main([*cmd, "--engine", "ray", "--threads", "2"]) == 1  # refused before Ray is started
    assert "--cpus-per-actor" in capsys.readouterr().err
    assert not out.exists()
    assert cli.main([*cmd, "--threads", "2", "--device", "cpu"]) == 0  # the local engine's own settings


def test_a_damaged_shard_is_named_and_rebuilt_by_the_rerun(tmp_path: Path, tiny_model_dir: Path, with_ids: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "out"
    config = EmbedConfig(id_column="id", shard_rows=50, variant="fp32", progress=False)
    embed_corpus(tiny_model_dir, [with_ids], out, config)
    first = by_id_without_repeats(out)
    shard = out / "part-000001.parquet"
    shard.write_bytes(shard.read_bytes()[:500])  # a copy cut short: "Parquet magic bytes not found"
    with pytest.raises(ShardError, match=f"{shard} cannot be read .*Delete it and rerun.*--overwrite"):
        duplicate_ids([shard])
    with caplog.at_level(logging.WARNING):
        summary = embed_corpus(tiny_model_dir, [with_ids], out, config)
    assert f"{shard} is not a readable Parquet shard" in caplog.text and "rebuilds it" in caplog.text
    assert (summary.rows, summary.shards_skipped, summary.rows_embedded, summary.bad_rows) == (120, 2, 50, 1)
    again = by_id_without_repeats(out)
    assert sorted(again) == sorted(first)
    np.testing.assert_array_equal(np.stack([again[k] for k in first]), np.stack(list(first.values())))


def by_id_without_repeats(out: Path) -> dict[str, np.ndarray]:
    """id -> embedding of the rows whose id is unique (the fixture's corpus repeats x1)."""
    import pyarrow.parquet as pq

    table = pq.read_table(out)
    ids = table.column("id").to_pylist()
    emb = np.asarray(table.column("embedding").combine_chunks().flatten()).reshape(len(ids), -1)  # (rows, dim)
    return {i: e for i, e in zip(ids, emb, strict=True) if ids.count(i) == 1}


def test_a_csv_record_of_the_wrong_width_is_listed_without_an_id_and_never_written(tmp_path: Path,
                                                                                   tiny_model_dir: Path,
                                                                                   by_id) -> None:
    # No field of such a record can be trusted as its id: an unquoted comma shifts the fields after it, and an
    # unquoted line break makes a record of a text's tail (its first field text). A blank line is a bad row too.
    a = tmp_path / "a.csv"
    a.write_text("id,text\nx1,hello\nx3,too,many\ncontinued here\nx5,bye\n\n", encoding="utf-8")
    b = tmp_path / "b.tsv"
    b.write_text("text\tid\nfine\ty1\nshifted\tby a tab\ty2\n", encoding="utf-8")
    for mode in ("embed", "skip"):
        out = tmp_path / mode
        s = embed_corpus(tiny_model_dir, [a, b], out, EmbedConfig(id_column="id", bad_rows=mode, progress=False))
        assert s.rows == 3 and sorted(by_id(out)) == ["x1", "x5", "y1"]
        listed = [json.loads(line) for line in (out / "_bad_rows.jsonl").read_text().splitlines()]
        assert [(r["id"], Path(r["file"]).name, r["line"]) for r in listed] == [
            (None, "a.csv", 3), (None, "a.csv", 4), (None, "a.csv", 6), (None, "b.tsv", 3)]
        assert s.bad_rows == 4


def test_a_rerun_with_nothing_left_counts_repeated_ids_as_the_first_run(tmp_path: Path, tiny_model_dir: Path,
                                                                        with_ids: Path,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    config = EmbedConfig(id_column="id", shard_rows=50, progress=False)
    first = embed_corpus(tiny_model_dir, [with_ids], tmp_path / "out", config)
    caplog.clear()
    again = embed_corpus(tiny_model_dir, [with_ids], tmp_path / "out", config)
    assert (again.rows_embedded, again.shards_skipped) == (0, 3)
    assert first.duplicate_ids == again.duplicate_ids == 2 and again.text().endswith("; 2 repeated ids")
    assert "2 rows repeat an id of another row ('x1')" in caplog.text


def test_a_wrong_width_record_with_file_line_ids_is_listed_and_never_written(tmp_path: Path, tiny_model_dir: Path,
                                                                            by_id) -> None:
    # The tester's repro: w.csv:3 was stored as encode([""]) and listed in _bad_rows.jsonl too
    path = tmp_path / "w.csv"
    path.write_text("text,other\nhello world,x\nunquoted, comma here,y\nfine,z\n", encoding="utf-8")
    for mode in ("embed", "skip"):
        out = tmp_path / mode
        assert cli.main([str(tiny_model_dir), str(path), "--out", str(out), "--bad-rows", mode, "-q"]) == 0
        assert sorted(by_id(out)) == [f"{path}:2", f"{path}:4"]
        listed = [json.loads(line) for line in (out / "_bad_rows.jsonl").read_text().splitlines()]
        assert listed == [{"id": f"{path}:3", "file": str(path), "line": 3,
                           "reason": "record has 3 fields, the header 2", "embedded": False}]
        assert json.loads((out / "_manifest.json").read_text())["rows"] == 2


def test_errors_of_the_python_api_name_the_python_spelling_too(tmp_path: Path, tiny_model_dir: Path,
                                                               with_ids: Path) -> None:
    out = tmp_path / "out"
    embed_corpus(tiny_model_dir, [with_ids], out, EmbedConfig(id_column="id", progress=False))
    with pytest.raises(OutputDirError, match=r"Pass --overwrite \(EmbedConfig\(overwrite=True\)\) to delete them.*"
                       r"another --out \(out_dir\)"):
        embed_corpus(tiny_model_dir, [with_ids], out, EmbedConfig(id_column="id", shard_rows=7, progress=False))
    with pytest.raises(CorpusInputError, match=r"no column 'key'.*--text-column/--id-column "
                       r"\(text_column=/id_column=\)"):
        embed_corpus(tiny_model_dir, [with_ids], tmp_path / "b", EmbedConfig(id_column="key", progress=False))
    tsv = tmp_path / "a.tsv"
    tsv.write_text('text\n"unclosed\n', encoding="utf-8")
    with pytest.raises(CorpusInputError, match=r"pass --quoting none \(quoting='none'\)"):
        embed_corpus(tiny_model_dir, [tsv], tmp_path / "c", EmbedConfig(progress=False))
