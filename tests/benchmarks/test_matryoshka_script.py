"""benchmarks/matryoshka.py end to end on the tiny BERT: two runs, two exports, one result file, its page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.matryoshka import main
from benchmarks.report_tables import load_run, page


def test_script_trains_exports_scores_and_resumes(tiny_bert_dir: Path, data_dir: Path, tmp_path: Path,
                                                   capsys) -> None:
    out, result = tmp_path / "work", tmp_path / "matryoshka-test.json"
    args = ["--base", str(tiny_bert_dir), "--data-dir", str(data_dir), "--steps", "2", "--batch-size", "16",
            "--eval-steps", "2", "--matryoshka-dims", "32,16,8", "--matryoshka-weights", "1,1,2", "--dims", "32,8", "--outputs", "float32,int8",
            "--quick", "--out", str(out), "--json", str(result)]
    assert main(args) == 0
    data = json.loads(result.read_text())
    for name in ("plain", "matryoshka"):
        model = data["models"][name]
        assert sorted(model["sizes"]) == ["32/float32", "32/int8", "8/float32", "8/int8"]
        assert model["gate"]["fp32"]["passed"] is True
    assert data["models"]["matryoshka"]["trained_dims"] == [16, 8] and data["models"]["plain"]["trained_dims"] == []
    assert sorted(data["models"]["matryoshka"]["gate"]["fp32"]["by_dim"]) == ["16", "8"]
    assert "8/int8" in capsys.readouterr().out
    (out / "plain" / "result.json").unlink()  # a rerun redoes only what is missing: scoring, not training
    assert main(args) == 0
    assert "trainer" not in capsys.readouterr().out
    text = page(load_run(result), [])
    assert "| 8 | int8 | 8 |" in text and "STS-B Matryoshka" in text
    assert "over the sizes 32, 16, 8 with the weights 1, 1, 2" in text
    assert "--matryoshka-weights 1.0,1.0,2.0" in data["models"]["matryoshka"]["train_command"]


@pytest.mark.parametrize("weights, message", [("1,2", "one weight per size"), ("1,0,1", "positive number"),
                                              ("1,x,1", "comma-separated list of numbers")])
def test_bad_weights_are_refused_before_training(data_dir: Path, tmp_path: Path, capsys, weights: str,
                                                 message: str) -> None:
    with pytest.raises(SystemExit):
        main(["--data-dir", str(data_dir), "--matryoshka-dims", "32,16,8", "--matryoshka-weights", weights,
              "--out", str(tmp_path / "work"), "--json", str(tmp_path / "r.json")])
    assert message in capsys.readouterr().err
    assert not (tmp_path / "work").exists()
