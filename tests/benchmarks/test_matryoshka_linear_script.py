"""benchmarks/matryoshka_linear.py on the tiny exported BERT: every view at every size, a result file, its page."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.matryoshka_linear import main, rotations, unit
from benchmarks.report_tables import load_run, page


def test_views_are_scored_at_each_size_and_rendered(tiny_model_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    result = tmp_path / "linear.json"
    assert main(["--model-dir", str(tiny_model_dir), "--data-dir", str(data_dir), "--dims", "16,8",
                 "--fit-sentences", "300", "--steps", "3", "--json", str(result)]) == 0
    views = json.loads(result.read_text())["linear_views"]
    assert views["fit_sentences"] == 300
    assert [r["dimensions"] for r in views["rows"]] == [16, 8]
    assert all(sorted(r["stsb"]) == ["cut", "energy", "fitted", "pca"] for r in views["rows"])
    text = page(load_run(result), [])
    assert "| size | cut | pca | energy | fitted | best view − cut |" in text and "| 8 |" in text


def test_rotations_are_orthogonal_and_keep_the_full_size() -> None:
    rng = np.random.default_rng(0)
    z = unit(rng.normal(size=(200, 12)).astype(np.float64))  # (n, dim)
    for r in rotations(z).values():
        np.testing.assert_allclose(r.T @ r, np.eye(12), atol=1e-9)
        np.testing.assert_allclose((z @ r) @ (z @ r).T, z @ z.T, atol=1e-9)  # cosines unchanged at full size
    energy = rotations(z)["energy"]
    kept = (np.linalg.norm((z @ energy)[:, :3], axis=1) ** 2).mean()
    assert kept >= (np.linalg.norm(z[:, :3], axis=1) ** 2).mean()  # the first 3 hold at least the cut's share


@pytest.mark.parametrize("args, message", [
    (["--dims", "64"], "list sizes up to 32"),
    (["--fit-sentences", "-1"], "--fit-sentences -1"),
])
def test_bad_arguments_say_what_to_pass(tiny_model_dir: Path, data_dir: Path, tmp_path: Path, capsys,
                                        args: list[str], message: str) -> None:
    with pytest.raises(SystemExit):
        main(["--model-dir", str(tiny_model_dir), "--data-dir", str(data_dir), "--json", str(tmp_path / "x.json"),
              *args])
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()


def test_a_data_dir_without_the_wikipedia_lines_is_named(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["--model-dir", str(tiny_model_dir), "--data-dir", str(tmp_path), "--json", str(tmp_path / "x.json")])
    assert str(tmp_path / "train" / "wiki1m_prefix.txt") in capsys.readouterr().err
