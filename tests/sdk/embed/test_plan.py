"""Reading the inputs: formats, shard boundaries, ids, bad rows and bad files. No model needed."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from simcse_sdk.embed.config import EmbedConfig
from simcse_sdk.embed.errors import CorpusFileNotFoundError, CorpusInputError, EmbedConfigError
from simcse_sdk.embed.io.inputs import resolve_inputs
from simcse_sdk.embed.plan import plan_shards, read_shard
from simcse_sdk.errors import SimcseError


def read_all(paths: list[Path | str], config: EmbedConfig) -> tuple[list[str], list[str], list[dict]]:
    ids, texts, bad = [], [], []
    shards = plan_shards(resolve_inputs(paths, config.format), config)
    assert [s.index for s in shards] == list(range(len(shards)))
    for spec in shards:
        assert 1 <= spec.rows <= config.shard_rows
        rows = read_shard(spec, config)
        ids += rows.ids
        texts += rows.texts
        bad += rows.bad
    return ids, texts, bad


@pytest.mark.parametrize("shard_rows", [1, 2, 3, 100])
def test_text_file_lines_become_rows_with_file_line_ids(tmp_path: Path, shard_rows: int) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes("first\r\nsecond é\n\nfourth\nfifth".encode())  # CRLF, UTF-8, a blank line, no final newline
    ids, texts, bad = read_all([path], EmbedConfig(shard_rows=shard_rows))
    assert ids == [f"{path}:{i}" for i in range(1, 6)]
    assert texts == ["first", "second é", "", "fourth", "fifth"]
    assert bad == [{"id": f"{path}:3", "file": str(path), "line": 3, "reason": "empty text", "embedded": True}]


def test_a_bad_row_says_whether_it_is_in_the_output(tmp_path: Path) -> None:
    # _bad_rows.jsonl tells a user which ids hold the empty-text vector and which are missing from the output
    path = tmp_path / "a.jsonl"
    path.write_text('{"text": "one"}\n{"text": ""}\n[1, 2]\n', encoding="utf-8")
    for mode, embedded in (("embed", True), ("skip", False)):
        ids, _texts, bad = read_all([path], EmbedConfig(bad_rows=mode))
        assert [(b["line"], b["embedded"]) for b in bad] == [(2, embedded), (3, embedded)]
        assert ids == [f"{path}:1"] + ([f"{path}:2", f"{path}:3"] if embedded else [])


def test_skip_mode_leaves_bad_rows_out_but_lists_them(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("one\n \ntwo\n", encoding="utf-8")
    ids, texts, bad = read_all([path], EmbedConfig(shard_rows=2, bad_rows="skip"))
    assert texts == ["one", "two"] and ids == [f"{path}:1", f"{path}:3"]
    assert [b["line"] for b in bad] == [2]


def test_jsonl_text_and_id_columns_and_bad_records(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    rows = [{"id": "x1", "text": "hello"}, {"id": "x2", "text": None}, {"id": 7, "text": 3}, "not json",
            {"id": "x4"}, {"id": "x5", "text": "bye"}]
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    ids, texts, bad = read_all([path], EmbedConfig(shard_rows=4, id_column="id"))
    assert ids == ["x1", "x2", "7", "x4", "x5"]  # line 4 has no id: listed, never written under a made-up one
    assert texts == ["hello", "", "", "", "bye"]
    assert [(b["id"], b["line"], b["reason"]) for b in bad] == [
        ("x2", 2, "missing or null"), ("7", 3, "int value, not text"), (None, 4, "not JSON (Expecting value)"),
        ("x4", 5, "missing or null")]


def test_a_row_without_a_usable_id_is_listed_and_never_given_a_made_up_one(tmp_path: Path,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    # 'file:line' ids beside the file's own could collide with them (row 5's own id was 'a.jsonl:5')
    path = tmp_path / "a.jsonl"
    rows = [{"id": "x1", "text": "a"}, {"text": "b"}, {"id": None, "text": "c"}, {"id": "", "text": "d"},
            {"id": f"{path}:5", "text": "e"}, {"id": 2.0, "text": "f"}, {"id": {"a": 1}, "text": "g"},
            {"id": True, "text": "h"}, {"id": "a\ud800", "text": "i"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    ids, texts, bad = read_all([path], EmbedConfig(id_column="id"))
    assert list(zip(ids, texts, strict=True)) == [("x1", "a"), (f"{path}:5", "e"), ("2", "f")]  # 2.0: pandas' int
    assert [(b["id"], b["line"], b["reason"]) for b in bad] == [
        (None, 2, "missing or null id in column 'id'"), (None, 3, "missing or null id in column 'id'"),
        (None, 4, "empty id in column 'id'"), (None, 7, "id is dict in column 'id'"),
        (None, 8, "id is bool in column 'id'"),
        (None, 9, "id with a lone surrogate '\\ud800' in column 'id'")]  # Parquet failed on it mid-job
    text = tmp_path / "b.txt"
    text.write_text("one\n", encoding="utf-8")
    with caplog.at_level("WARNING"):  # a text file in the job keeps file:line ids, and says so
        ids, _, _ = read_all([path, text], EmbedConfig(id_column="id"))
    assert ids[-1] == f"{text}:1" and "b.txt is a text file (one text a line, no fields): its rows get file:line" \
        in caplog.text


def test_an_unclosed_quote_is_an_error_naming_the_line_not_a_record_that_swallows_the_file(tmp_path: Path) -> None:
    path = tmp_path / "a.tsv"
    path.write_text('id\ttext\n1\t"Why, he said.\n2\tnext one\n3\tlast one\n', encoding="utf-8")
    with pytest.raises(CorpusInputError, match=r"the record that starts on line 2 is not valid CSV .* pass "
                       "--quoting none"):  # was one row holding the rest of the file
        read_all([path], EmbedConfig())
    ids, texts, bad = read_all([path], EmbedConfig(quoting="none", id_column="id"))
    assert (ids, texts, bad) == (["1", "2", "3"], ['"Why, he said.', "next one", "last one"], [])
    closed_later = tmp_path / "b.csv"  # a stray quote closed by another one, a field further on
    closed_later.write_text('id,text\n1,"say\n2,this" more\n3,ok\n', encoding="utf-8")
    with pytest.raises(CorpusInputError, match="starts on line 2"):
        read_all([closed_later], EmbedConfig())


def test_a_record_with_more_fields_than_the_header_is_a_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("id,text\n1,Hello, world and more\n2,fine\n", encoding="utf-8")  # an unquoted comma
    ids, texts, bad = read_all([path], EmbedConfig(id_column="id"))
    assert (ids, texts) == (["2"], ["fine"])  # row 1 was embedded as "Hello"
    assert [(b["line"], b["reason"]) for b in bad] == [(2, "record has 3 fields, the header 2")]


def test_a_lone_surrogate_is_a_bad_row_not_a_failure_mid_job(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"id": "a", "text": "ok"}\n{"id": "b", "text": "bad \\ud800 text"}\n', encoding="utf-8")
    ids, texts, bad = read_all([path], EmbedConfig(id_column="id"))
    assert (ids, texts) == (["a", "b"], ["ok", ""])
    assert bad[0]["reason"] == "lone surrogate '\\ud800' at character 4 (not valid Unicode)"


def test_the_output_folder_inside_an_input_folder_is_not_read_as_input(tmp_path: Path) -> None:
    (tmp_path / "corpus" / "emb").mkdir(parents=True)
    (tmp_path / "corpus" / "a.txt").write_text("one\n", encoding="utf-8")
    pq.write_table(pa.table({"id": ["x"], "text": ["shard"]}), tmp_path / "corpus" / "emb" / "part-000000.parquet")
    files = resolve_inputs([tmp_path / "corpus"], exclude=tmp_path / "corpus" / "emb")
    assert [Path(f.path).name for f in files] == ["a.txt"]  # the rerun read its own shard and failed
    with pytest.raises(CorpusInputError, match="is inside the output folder"):
        resolve_inputs([tmp_path / "corpus" / "emb" / "part-000000.parquet"], exclude=tmp_path / "corpus" / "emb")


def test_csv_with_quoted_newlines_keeps_physical_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text('id,sentence\n1,"multi\nline, quoted"\n2,plain\n3,\n4,"last"\n', encoding="utf-8")
    ids, texts, bad = read_all([path], EmbedConfig(shard_rows=1, text_column="sentence"))
    assert texts == ["multi\nline, quoted", "plain", "", "last"]
    assert ids == [f"{path}:{n}" for n in (2, 4, 5, 6)]
    assert [b["line"] for b in bad] == [5]
    ids, _, _ = read_all([path], EmbedConfig(shard_rows=3, text_column="sentence", id_column="id"))
    assert ids == ["1", "2", "3", "4"]
    tsv = tmp_path / "b.tsv"
    tsv.write_text('"sen\ntence"\tid\nhello\t7\n', encoding="utf-8")  # the header itself spans two lines
    ids, texts, _ = read_all([tsv], EmbedConfig(text_column="sen\ntence"))
    assert (ids, texts) == ([f"{tsv}:3"], ["hello"])


def test_parquet_row_ranges_across_row_groups(tmp_path: Path) -> None:
    path = tmp_path / "a.parquet"
    texts = [f"sentence {i}" for i in range(25)]
    texts[11] = None
    pq.write_table(pa.table({"text": texts, "key": [f"k{i}" for i in range(25)]}), path, row_group_size=7)
    ids, got, bad = read_all([path], EmbedConfig(shard_rows=4, id_column="key"))
    assert ids == [f"k{i}" for i in range(25)]
    assert got == [t or "" for t in texts]
    assert [(b["id"], b["line"]) for b in bad] == [("k11", 12)]
    ids, _, _ = read_all([path], EmbedConfig(shard_rows=10))
    assert ids[:2] == [f"{path}:1", f"{path}:2"]


def test_globs_and_folders_in_a_stable_order_without_repeats(tmp_path: Path) -> None:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    for name in ("d/b.txt", "d/a.txt", "d/sub/c.jsonl", "d/_skip.txt", "d/notes.md"):
        (tmp_path / name).write_text('{"text": "t"}\n' if name.endswith("jsonl") else "t\n", encoding="utf-8")
    files = resolve_inputs([tmp_path / "d", str(tmp_path / "d" / "*.txt")])
    # the folder skips "_"-prefixed and unknown files; the explicit glob adds _skip.txt; a.txt, b.txt come once
    assert [Path(f.path).relative_to(tmp_path).as_posix() for f in files] == [
        "d/a.txt", "d/b.txt", "d/sub/c.jsonl", "d/_skip.txt"]
    assert [f.format for f in files] == ["text", "text", "jsonl", "text"]


def test_missing_file_and_empty_glob_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(CorpusFileNotFoundError, match="no-such.txt.*does not exist"):
        resolve_inputs([tmp_path / "no-such.txt"])
    with pytest.raises(FileNotFoundError, match=r"\*.jsonl.*matches no file"):
        resolve_inputs([str(tmp_path / "*.jsonl")])


def test_empty_file_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(CorpusInputError, match=r"empty.txt.*is empty.*remove it"):
        resolve_inputs([tmp_path / "empty.txt"])
    (tmp_path / "header.csv").write_text("text\n", encoding="utf-8")
    with pytest.raises(CorpusInputError, match="header.csv.*holds no records"):
        plan_shards(resolve_inputs([tmp_path / "header.csv"]), EmbedConfig())


def test_csv_without_the_column_names_file_columns_and_flag(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("id,sentence\n1,hello\n", encoding="utf-8")
    with pytest.raises(CorpusInputError, match=r"a.csv.*no column 'text'.*'id', 'sentence'.*--text-column") as e:
        plan_shards(resolve_inputs([path]), EmbedConfig())
    assert isinstance(e.value, SimcseError) and isinstance(e.value, ValueError)
    with pytest.raises(CorpusInputError, match="no column 'key'"):
        plan_shards(resolve_inputs([path]), EmbedConfig(text_column="sentence", id_column="key"))


def test_undecodable_bytes_name_file_line_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("good line\ncaf\xe9 au lait\n".encode("latin-1"))
    with pytest.raises(CorpusInputError, match=r"latin1.txt' line 2 is not UTF-8 \(byte 0xe9.*iconv"):
        plan_shards(resolve_inputs([path]), EmbedConfig())


def test_a_utf16_file_is_told_to_be_re_encoded_from_utf16(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes("first line\nsecond line\n".encode("utf-16"))  # with its byte-order mark, as Windows writes it
    with pytest.raises(CorpusInputError, match=r"UTF-16 byte-order mark\): re-encode the file as UTF-8 \(e\.g\. "
                                               r"`iconv -f utf-16 -t utf-8 IN > OUT`\)\.$"):
        plan_shards(resolve_inputs([path]), EmbedConfig())


def test_unknown_extension_and_wrong_format(tmp_path: Path) -> None:
    path = tmp_path / "corpus.dat"
    path.write_text("hello\n", encoding="utf-8")
    with pytest.raises(CorpusInputError, match="corpus.dat.*--format"):
        resolve_inputs([path])
    assert resolve_inputs([path], "text")[0].format == "text"
    with pytest.raises(CorpusInputError, match="corpus.dat' line 1 is not JSON"):
        plan_shards(resolve_inputs([path], "jsonl"), EmbedConfig())
    pq_path = tmp_path / "n.parquet"
    pq.write_table(pa.table({"text": [1, 2]}), pq_path)
    with pytest.raises(CorpusInputError, match="column 'text' is int64, not text"):
        plan_shards(resolve_inputs([pq_path]), EmbedConfig())


@pytest.mark.parametrize("mode", ["embed", "skip"])
def test_a_wrong_width_record_with_file_line_ids_is_listed_and_never_written(tmp_path: Path, mode: str) -> None:
    # Without --id-column the id (file:line) is known, and the record was written as the empty-text vector
    path = tmp_path / "w.csv"
    path.write_text("text,other\nhello world,x\nunquoted, comma here,y\nfine,z\n", encoding="utf-8")
    ids, texts, bad = read_all([path], EmbedConfig(bad_rows=mode))
    assert (ids, texts) == ([f"{path}:2", f"{path}:4"], ["hello world", "fine"])
    assert bad == [{"id": f"{path}:3", "file": str(path), "line": 3, "reason": "record has 3 fields, the header 2",
                    "embedded": False}]


def test_a_headerless_tsv_reads_every_line_with_numbered_columns(tmp_path: Path) -> None:
    # STS-B's files have no header row: its first line was taken as the column names and lost
    path = tmp_path / "sts.tsv"
    path.write_text("genre\tMSRvid\t0000\t5.000\tA man is dancing.\n"
                    "genre\tMSRvid\t0002\t4.750\tA child rides a horse.\n"
                    "genre\tnews\t0003\t1.0\tA cat sleeps.\tsource one\tsource two\n"
                    "genre\tMSRvid\t0004\t2.5\t\n", encoding="utf-8")
    config = EmbedConfig(format="tsv", quoting="none", header=False, text_column="4").validated()
    ids, texts, bad = read_all([path], config)
    assert texts == ["A man is dancing.", "A child rides a horse.", ""]  # line 1 is a record
    assert ids == [f"{path}:1", f"{path}:2", f"{path}:4"]
    assert [(b["id"], b["line"], b["reason"]) for b in bad] == [
        (f"{path}:3", 3, "record has 7 fields, the first record 5"), (f"{path}:4", 4, "empty text")]
    ids, _, bad = read_all([path], EmbedConfig(format="tsv", quoting="none", header=False, text_column="4",
                                               id_column=2).validated())  # an int column number is taken too
    assert ids == ["0000", "0002", "0004"] and bad[0]["id"] is None
    with pytest.raises(CorpusInputError, match=r"sts.tsv' has no column 7 \(its first record has 5 fields, columns "
                       r"0 to 4\): pass --text-column/--id-column \(text_column=/id_column=\) a column number"):
        plan_shards(resolve_inputs([path], "tsv"), EmbedConfig(header=False, quoting="none", text_column="7"))


def test_no_header_needs_column_numbers_and_a_csv_input(tmp_path: Path) -> None:
    with pytest.raises(EmbedConfigError, match=r"text_column='text', but without a header row \(--no-header "
                       r"\(header=False\)\) the columns have no names: pass --text-column N"):
        EmbedConfig(header=False).validated()
    with pytest.raises(EmbedConfigError, match="id_column='id'.*--id-column N"):
        EmbedConfig(header=False, text_column="1", id_column="id").validated()
    text = tmp_path / "a.txt"
    text.write_text("one\n", encoding="utf-8")
    with pytest.raises(CorpusInputError, match=r"--no-header \(header=False\) applies to CSV/TSV files, and no input"):
        plan_shards(resolve_inputs([text]), EmbedConfig(header=False, text_column="0").validated())


def test_a_header_row_that_looks_like_data_is_named_in_a_warning(tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "sts.tsv"
    path.write_text("genre\tMSRvid\t0000\t5.000\tA man is dancing.\ngenre\tMSRvid\t0002\t4.750\tA child.\n",
                    encoding="utf-8")
    with caplog.at_level("WARNING"):
        plan_shards(resolve_inputs([path]), EmbedConfig(text_column="A man is dancing.", quoting="none"))
    assert "its first line, read as the header row (the column names, not embedded), has fields that look like " \
           "data ('0000', '5.000'): if the file has no header row, pass --no-header" in caplog.text
    caplog.clear()
    named = tmp_path / "named.csv"
    named.write_text("id,text\n1,hello\n", encoding="utf-8")
    with caplog.at_level("WARNING"):
        plan_shards(resolve_inputs([named]), EmbedConfig())
    assert "look like data" not in caplog.text


def test_output_folders_of_other_jobs_inside_an_input_folder_are_not_read(tmp_path: Path,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    corpus = tmp_path / "corpus2"
    (corpus / "emb").mkdir(parents=True)
    (corpus / "notes").mkdir()
    (corpus / "a.txt").write_text("one\n", encoding="utf-8")
    pq.write_table(pa.table({"id": ["x"], "embedding": [[0.5]]}), corpus / "emb" / "part-000000.parquet")
    (corpus / "emb" / "_manifest.json").write_text(json.dumps({"format": "simcse-embeddings", "status": "complete"}))
    (corpus / "notes" / "_manifest.json").write_text(json.dumps({"format": "another-tool"}))  # not ours: read
    (corpus / "notes" / "b.txt").write_text("two\n", encoding="utf-8")
    with caplog.at_level("INFO"):
        files = resolve_inputs([corpus], exclude=corpus / "emb2")  # the first job's shards were read as input
    assert [Path(f.path).relative_to(corpus).as_posix() for f in files] == ["a.txt", "notes/b.txt"]
    assert f"not reading {corpus / 'emb'} as input: it is a simcse-embed output folder" in caplog.text
    assert [Path(f.path).name for f in resolve_inputs([str(corpus / "**" / "*.parquet"), corpus / "a.txt"])] \
        == ["a.txt"]
    with pytest.raises(CorpusFileNotFoundError, match=r"Every input file is in an output folder \('.*emb'.*shards "
                       r"are not a corpus"):
        resolve_inputs([corpus / "emb"])
