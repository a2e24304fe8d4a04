"""The SentEval file readers: pair and row counts on the real data, and parsing edge cases."""

from __future__ import annotations

from pathlib import Path

import pytest
from simcse_sdk.errors import DataDirError
from simcse_sdk.evaluation.data.senteval import (
    EXPECTED_PAIRS,
    load_pairs,
    load_sick,
    load_sts_task,
    load_stsb,
    read_lines,
)
from simcse_sdk.evaluation.data.transfer_data import EXPECTED_ROWS, load_transfer
from simcse_sdk.evaluation.errors import DataFormatError
from simcse_sdk.evaluation.tasks import STS_TASKS, TRANSFER_TASKS


@pytest.mark.real
@pytest.mark.parametrize("task", STS_TASKS)
def test_sts_test_pair_counts(data_dir: Path, task: str) -> None:
    want = {
        "STS12": 3108,
        "STS13": 1500,
        "STS14": 3750,
        "STS15": 3000,
        "STS16": 1186,
        "STS-B": 1379,
        "SICK-R": 4927,
    }
    subsets = load_pairs(data_dir, task, "test")
    assert sum(len(s) for s in subsets) == want[task] == EXPECTED_PAIRS[(task, "test")]
    for s in subsets:
        assert len(s.first) == len(s.second) == len(s.gold)
        assert all(s.first) and all(s.second)


@pytest.mark.real
def test_dev_and_train_pair_counts(data_dir: Path) -> None:
    assert len(load_stsb(data_dir, "dev")) == 1500
    assert len(load_stsb(data_dir, "train")) == 5749
    assert len(load_sick(data_dir, "dev")) == 500
    assert len(load_sick(data_dir, "train")) == 4500


@pytest.mark.real
def test_real_subsets(data_dir: Path) -> None:
    # STS13's SMT gold file has no input file: skipped; STS12's ALL gold file likewise.
    assert [s.name for s in load_sts_task(data_dir, "STS13")] == ["FNWN", "OnWN", "headlines"]
    assert len(load_sts_task(data_dir, "STS12")) == 5
    # STS15/16: the blank gold lines (unscored pairs) are skipped.
    assert {s.name: len(s) for s in load_sts_task(data_dir, "STS16")}["postediting"] == 244
    sick = load_sick(data_dir, "test")
    assert 1.0 <= sick.gold.min() and sick.gold.max() <= 5.0


@pytest.mark.real
@pytest.mark.parametrize("task", TRANSFER_TASKS)
def test_transfer_row_counts(data_dir: Path, task: str) -> None:
    data = load_transfer(data_dir, task)
    splits = {"all": data.train} if data.test is None else {"train": data.train, "test": data.test}
    if data.dev is not None:
        splits["dev"] = data.dev
    for split, rows in splits.items():
        assert len(rows) == EXPECTED_ROWS[(task, split)]
        assert set(rows.labels.tolist()) == set(range(data.n_classes))
    if task == "MRPC":
        assert data.train.second is not None and data.train.first[0].startswith("Amrozi accused")


def test_blank_gold_lines_are_skipped(tmp_path: Path, write_sts) -> None:
    root = write_sts(
        tmp_path, "STS15-en-test", {"x": [("a b", "a c", "1.5"), ("d", "e", ""), ("f  g ", "h", "4")]}
    )
    (subset,) = load_sts_task(root, "STS15", expected={})
    assert len(subset) == 2
    assert subset.first == ["a b", "f g"]  # whitespace normalised as SentEval's split/join
    assert subset.gold.tolist() == [1.5, 4.0]


def test_pair_count_mismatch_raises(tmp_path: Path, write_sts) -> None:
    root = write_sts(tmp_path, "STS12-en-test", {"x": [("a", "b", "1"), ("c", "d", "2")]})
    with pytest.raises(DataFormatError, match="found 2 scored pairs, expected 3108"):
        load_sts_task(root, "STS12")


def test_gold_without_input_is_skipped_but_input_without_gold_fails(tmp_path: Path, write_sts) -> None:
    root = write_sts(tmp_path, "STS13-en-test", {"x": [("a", "b", "1")]})
    folder = root / "senteval/downstream/STS/STS13-en-test"
    (folder / "STS.gs.SMT.txt").write_text("3\n")
    assert [s.name for s in load_sts_task(root, "STS13", expected={})] == ["x"]
    (folder / "STS.input.y.txt").write_text("a\tb\n")
    with pytest.raises(DataDirError, match="STS.gs.y.txt"):
        load_sts_task(root, "STS13", expected={})


def test_latin1_fallback_and_line_ends(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"caf\xe9 ok\r\nsecond\n")
    assert read_lines(path) == ["caf\u00e9 ok", "second"]
    path.write_bytes("\ufeffna\u00efve\nx\u2028y\n".encode())  # UTF-8 with BOM; U+2028 is not a line end here
    assert read_lines(path) == ["na\u00efve", "x\u2028y"]


def test_stsb_columns_and_extra_columns(tmp_path: Path) -> None:
    d = tmp_path / "senteval/downstream/STS/STSBenchmark"
    d.mkdir(parents=True)
    rows = [
        "main-captions\tMSRvid\t2012test\t0001\t5.000\ta man .\tthe man .",
        "main-news\theadlines\t2015\t0002\t1.5\tone\ttwo\textra-1\textra-2",
    ]
    (d / "sts-dev.csv").write_text("\n".join(rows) + "\n")
    pairs = load_stsb(tmp_path, "dev", expected={})
    assert pairs.first == ["a man .", "one"] and pairs.second == ["the man .", "two"]
    assert pairs.gold.tolist() == [5.0, 1.5]


def test_sick_columns_found_by_header(tmp_path: Path) -> None:
    d = tmp_path / "senteval/downstream/SICK"
    d.mkdir(parents=True)
    text = "pair_ID\trelatedness_score\tsentence_B\tsentence_A\n1\t3.5\tsecond\tfirst\n"
    (d / "SICK_trial.txt").write_text(text)
    pairs = load_sick(tmp_path, "dev", expected={})
    assert (pairs.first, pairs.second, pairs.gold.tolist()) == (["first"], ["second"], [3.5])
    (d / "SICK_trial.txt").write_text("pair_ID\tA\tB\n")
    with pytest.raises(DataFormatError, match="relatedness_score"):
        load_sick(tmp_path, "dev", expected={})


def test_missing_task_folder_names_path_and_layout(tmp_path: Path) -> None:
    (tmp_path / "senteval/downstream").mkdir(parents=True)
    with pytest.raises(DataDirError) as err:
        load_pairs(tmp_path, "STS14")
    msg = str(err.value)
    assert str(tmp_path / "senteval/downstream/STS/STS14-en-test") in msg
    assert "Expected layout" in msg
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataDirError, match="SentEval folder not found"):
        load_pairs(empty, "STS14")
