"""Finding, reading and checking training data; batch order; MLM masking."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from trainer.data import BatchOrder, load_training_data, mask_tokens, resolve_data_file, tokenize
from trainer.errors import DataError


def test_names_resolve_in_the_data_dir(data_dir: Path) -> None:
    assert resolve_data_file("wiki", data_dir).name == "wiki1m_prefix.txt"
    assert resolve_data_file("nli", data_dir).name == "nli_snli_devtest_triplets.csv"
    assert resolve_data_file("train/wiki1m_prefix.txt", data_dir).is_file()  # relative to the data dir


def test_first_existing_name_wins(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "wiki1m_prefix.txt").write_text("a\n")
    (tmp_path / "train" / "wiki1m_for_simcse.txt").write_text("a\n")
    assert resolve_data_file("wiki", tmp_path).name == "wiki1m_for_simcse.txt"


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        resolve_data_file(str(tmp_path / "nope.txt"), tmp_path)
    (tmp_path / "train").mkdir()
    with pytest.raises(DataError, match="wiki1m_for_simcse.txt"):
        resolve_data_file("wiki", tmp_path)


def test_empty_lines_are_skipped_and_counted(tiny_txt: Path) -> None:
    data = load_training_data(tiny_txt, "unsup", batch_size=8)
    assert len(data.examples) == 48 and data.skipped == 2
    assert data.num_sent == 2 and data.examples[0][0] == data.examples[0][1]
    assert len(data.sha256) == 64


def test_csv_triplets(tiny_csv: Path) -> None:
    data = load_training_data(tiny_csv, "sup", batch_size=8)
    assert len(data.examples) == 32 and data.num_sent == 3


def test_no_hard_negatives_drops_the_column(tiny_csv: Path) -> None:
    full = load_training_data(tiny_csv, "sup", batch_size=8)
    pairs = load_training_data(tiny_csv, "sup", batch_size=8, hard_negatives=False)
    assert pairs.num_sent == 2 and full.num_sent == 3
    assert pairs.examples == [ex[:2] for ex in full.examples]  # same rows, same order: only hard_neg is gone
    assert pairs.sha256 == full.sha256  # the file read is the same


def test_real_nli_file_reads(data_dir: Path) -> None:
    data = load_training_data(data_dir / "train" / "nli_snli_devtest_triplets.csv", "sup", batch_size=64)
    assert len(data.examples) + data.skipped == 5883


def test_wrong_csv_header_names_the_expected_columns(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("premise,hypothesis,negative\na,b,c\n")
    with pytest.raises(DataError, match="sent0,sent1,hard_neg"):
        load_training_data(path, "sup", batch_size=1)


def test_csv_rows_with_an_empty_field_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("sent0,sent1,hard_neg\na,b,c\nd,,f\n\ng,h,i\n")
    data = load_training_data(path, "sup", batch_size=2)
    assert data.examples == [("a", "b", "c"), ("g", "h", "i")] and data.skipped == 2


def test_batch_larger_than_data(tiny_txt: Path) -> None:
    with pytest.raises(DataError, match="larger than the data"):
        load_training_data(tiny_txt, "unsup", batch_size=49)


def test_format_must_match_objective(tiny_txt: Path, tiny_csv: Path) -> None:
    with pytest.raises(DataError, match="CSV"):
        load_training_data(tiny_txt, "sup", batch_size=2)
    with pytest.raises(DataError, match="one sentence a line"):
        load_training_data(tiny_csv, "unsup", batch_size=2)


def test_batch_order_is_a_seeded_permutation_per_epoch() -> None:
    order = BatchOrder(n=10, batch_size=3, seed=1)
    assert order.steps_per_epoch == 3  # the last partial batch is dropped
    epoch0 = [i for s in range(3) for i in order.indices(s)]
    assert len(set(epoch0)) == 9
    epoch1 = [i for s in range(3, 6) for i in order.indices(s)]
    assert epoch0 != epoch1
    again = BatchOrder(n=10, batch_size=3, seed=1)
    assert again.indices(4) == order.indices(4)  # random access by step: what resume relies on


def test_tokenize_is_example_major(tiny_bert_dir: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_bert_dir)
    batch = tokenize(tok, [("a cat", "a dog", "no"), ("the tree", "a river", "x")], max_len=8)
    assert batch["input_ids"].shape[0] == 6
    assert tok.decode(batch["input_ids"][1], skip_special_tokens=True) == "a dog"
    long = tokenize(tok, [("word " * 50,)], max_len=8)
    assert long["input_ids"].shape == (1, 8)


def test_mask_tokens(tiny_bert_dir: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_bert_dir)
    ids = tokenize(tok, [("the quick brown fox jumps over the lazy dog " * 3,)] * 8, max_len=32)["input_ids"]
    masked, labels = mask_tokens(ids, tok, 0.15, torch.Generator().manual_seed(0))
    picked = labels != -100
    assert 0 < picked.float().mean() < 0.4
    assert not picked[:, 0].any() and not picked[:, -1].any()  # [CLS] / [SEP] never masked
    assert (labels[picked] == ids[picked]).all()
    assert (masked[~picked] == ids[~picked]).all()
    assert (masked[picked] == tok.mask_token_id).float().mean() > 0.5


def test_bytes_that_are_not_utf8_are_named_by_line_not_trained_as_replacement_characters(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("a first sentence\nun caf\xe9 noir\n".encode("latin-1"))  # trained as 'caf\ufffd' before
    with pytest.raises(DataError, match=r"latin1.txt line 2 is not UTF-8 \(byte 0xe9\): re-encode the file"):
        load_training_data(path, "unsup", batch_size=2)


def test_a_csv_with_a_byte_order_mark_reads_its_header(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"  # Excel's "CSV UTF-8": the header read as '\ufeffsent0' was refused
    path.write_bytes("\ufeffsent0,sent1\nA man plays.,Someone plays.\nA dog runs.,An animal runs.\n".encode())
    data = load_training_data(path, "sup", batch_size=2)
    assert data.examples == [("A man plays.", "Someone plays."), ("A dog runs.", "An animal runs.")]


def test_without_hard_negatives_a_row_with_an_empty_hard_negative_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "trip.csv"
    path.write_text("sent0,sent1,hard_neg\na,b,c\nd,e,\ng,,i\n")  # d,e was dropped for its unused empty hard_neg
    pairs = load_training_data(path, "sup", batch_size=2, hard_negatives=False)
    assert pairs.examples == [("a", "b"), ("d", "e")] and pairs.skipped == 1  # g,,i: its sent1 is empty
    assert load_training_data(path, "sup", batch_size=1).examples == [("a", "b", "c")]  # with them, all 3 needed


def test_the_skip_warning_names_each_reason_with_its_count_and_first_line(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "pairs.csv"
    path.write_text('sent0,sent1\na,b\nx,y,extra\nc,\n"multi\nline",d\n\ne,f,g\nh,\n')
    with caplog.at_level("WARNING", logger="trainer.data"):
        data = load_training_data(path, "sup", batch_size=1)
    assert data.examples == [("a", "b"), ("multi\nline", "d")] and data.skipped == 5
    assert ("skipped 5 row(s): 2 row(s) with the wrong number of fields (the header has 2) (first: line 3), "
            "2 row(s) with an empty field (first: line 4), 1 empty line(s) (first: line 7)") in caplog.text


def test_examples_that_repeat_an_earlier_one_are_kept_and_warned_about(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "dups.csv"
    path.write_text("sent0,sent1,hard_neg\na,b,c\nd,e,f\na,b,c\nd,e,x\na,b,c\n")
    with caplog.at_level("WARNING", logger="trainer.data"):
        data = load_training_data(path, "sup", batch_size=2)
    assert len(data.examples) == 5 and data.repeated == 2  # nothing dropped: the data is the paper's recipe's
    assert "2 example(s) repeat an earlier one (first: line 4, as line 2)" in caplog.text
    assert "in-batch negative (a false negative)" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="trainer.data"):  # as pairs, d,e,x repeats d,e,f too
        assert load_training_data(path, "sup", batch_size=2, hard_negatives=False).repeated == 3
    assert "3 example(s) repeat an earlier one (first: line 4, as line 2)" in caplog.text
    text = tmp_path / "s.txt"
    text.write_text("one\ntwo\n\none\n")
    with caplog.at_level("WARNING", logger="trainer.data"):
        assert load_training_data(text, "unsup", batch_size=2).repeated == 1
    assert "1 example(s) repeat an earlier one (first: line 4, as line 1)" in caplog.text


def test_distinct_examples_give_no_repeat_warning(tiny_csv: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="trainer.data"):
        assert load_training_data(tiny_csv, "sup", batch_size=8).repeated == 0
    assert not caplog.records


def test_an_unbalanced_quote_that_swallows_rows_is_refused_with_its_lines(tmp_path: Path) -> None:
    rows = [f"a{i},b{i},c{i}" for i in range(40)]
    rows[10] = '"Hello there, she said,A woman greets someone.,A man sleeps.'  # opens a quote ...
    rows[30] = 'He ordered a 12" pizza,A man orders food.,A man fasts.'  # ... that this one closes: 21 rows as one
    path = tmp_path / "quote.csv"
    path.write_text("sent0,sent1,hard_neg\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"quote on line 12 and closes on line 32.*Escape a quote inside a field as "
                                        r'""'):
        load_training_data(path, "sup", batch_size=2)
    path.write_text('sent0,sent1\n"two\nline\nbreaks",b\nc,d\n')  # a few line breaks in a field stay allowed
    assert load_training_data(path, "sup", batch_size=2).examples == [("two\nline\nbreaks", "b"), ("c", "d")]


@pytest.mark.parametrize(("name", "text", "message"), [
    ("u.jsonl", '{"text": "a"}\n{"text": "b"}\n', r"is JSON lines, but --unsup reads plain text.*jq -r \.text"),
    ("u.txt", '{"text": "a"}\n{"text": "b"}\n', r"line 1 is a JSON object.*one sentence a line"),
    ("u.txt", "text,label\nsentence 0,1\nsentence 1,0\n", r"line 1 \('text,label'\) is a CSV header"),
    ("u.csv", "text\nHello\nWorld\n", r"is a CSV file, but --unsup reads plain text, one sentence a line \(\.txt\)"),
    ("u.parquet", "x\ny\n", r"is a Parquet file, but --unsup reads plain text"),
])
def test_unsup_refuses_a_file_in_another_format(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name  # each was trained on as sentences, JSON syntax and header included
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        load_training_data(path, "unsup", batch_size=2)


def test_a_sentence_with_commas_is_not_taken_for_a_csv_header(tmp_path: Path) -> None:
    path = tmp_path / "s.txt"
    path.write_text("Hello, world.\nOne, two, three.\nred,green\n")
    assert len(load_training_data(path, "unsup", batch_size=2).examples) == 3


@pytest.mark.parametrize(("objective", "name", "data", "message"), [
    ("unsup", "u.txt.gz", None, r"gzip-compressed, which the trainer does not read: gunzip it"),
    ("sup", "s.csv.gz", None, r"gzip-compressed, which the trainer does not read: gunzip it"),
    ("unsup", "u.txt", "a sentence\nanother\n".encode("utf-16"), r"is UTF-16, not UTF-8.*iconv -f utf-16"),
    ("sup", "s.tsv", b"sent0,sent1,hard_neg\na,b,c\n", r"separated by commas, but the file is read as tab-separated "
                                                        r"\(\.tsv\) for its name: rename it to s\.csv"),
    ("sup", "s.csv", b"sent0,sent1,hard_neg\na,b,\nc,d,\n", r"every row's hard_neg is empty: pass "
                                                             r"--no-hard-negatives"),
])
def test_format_errors_name_the_fix(tmp_path: Path, objective: str, name: str, data: bytes | None,
                                    message: str) -> None:
    import gzip

    path = tmp_path / name
    path.write_bytes(data if data is not None else gzip.compress(b"sent0,sent1\na,b\nc,d\n"))
    with pytest.raises(DataError, match=message):
        load_training_data(path, objective, batch_size=1)
