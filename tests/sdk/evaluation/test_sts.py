"""STS scoring: the all/mean/wmean aggregation, task names, errors, deduplication, results."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr
from simcse_sdk.errors import DataDirError, SimcseError
from simcse_sdk.evaluation import StsResult, TaskError, TaskScore, evaluate_dev, evaluate_sts
from simcse_sdk.evaluation.data.datadir import LAYOUT_HINT
from simcse_sdk.evaluation.errors import EncodeOutputError
from simcse_sdk.evaluation.sts import spearman100


def angle_encoder(sentences: list[str]) -> np.ndarray:
    """``"anchor"`` → (1, 0); ``"cos C"`` → the unit vector whose cosine with the anchor is C."""
    rows = []
    for s in sentences:
        if s == "anchor":
            rows.append([1.0, 0.0])
        else:
            c = float(s.split()[1])
            rows.append([c, math.sqrt(1 - c * c)])
    return np.array(rows)


SUBSET_A = [(0.9, "5"), (0.5, "4"), (0.1, "1"), (0.3, "2")]
SUBSET_B = [(0.2, "4.5"), (0.4, "1.0"), (0.6, "3.0"), (0.8, ""), (0.7, "2.0"), (0.05, "0.5"), (0.65, "2.0")]


def test_all_mean_wmean_aggregation(tmp_path: Path, write_sts) -> None:
    subsets = {
        name: [("anchor", f"cos {c}", g) for c, g in rows]
        for name, rows in (("a", SUBSET_A), ("b", SUBSET_B))
    }
    root = write_sts(tmp_path, "STS14-en-test", subsets)
    result = evaluate_sts(angle_encoder, root, tasks=["sts14"], progress=False, expected_pairs={})
    score = result.tasks["STS14"]

    scored = {
        name: [(c, float(g)) for c, g in rows if g] for name, rows in (("a", SUBSET_A), ("b", SUBSET_B))
    }
    per = {name: 100 * spearmanr(*zip(*rows, strict=True))[0] for name, rows in scored.items()}
    concatenated = [pair for rows in scored.values() for pair in rows]
    expected_all = 100 * spearmanr(*zip(*concatenated, strict=True))[0]
    n_a, n_b = len(scored["a"]), len(scored["b"])

    assert (n_a, n_b) == (4, 6) and score.pairs == 10
    assert score.subsets == {"a": (pytest.approx(per["a"]), 4), "b": (pytest.approx(per["b"]), 6)}
    assert score.spearman == pytest.approx(expected_all)
    assert score.mean == pytest.approx((per["a"] + per["b"]) / 2)
    assert score.wmean == pytest.approx((4 * per["a"] + 6 * per["b"]) / 10)
    # the example is built so that the three aggregations differ
    assert score.mean is not None and score.wmean is not None
    assert len({round(score.spearman, 6), round(score.mean, 6), round(score.wmean, 6)}) == 3
    assert result.avg == pytest.approx(score.spearman)


def test_spearman_average_ranks_for_ties() -> None:
    system, gold = [0.5, 0.5, 0.9, 0.1], [2.0, 3.0, 4.0, 1.0]
    # ranks (2.5, 2.5, 4, 1) vs (2, 3, 4, 1): Pearson of the ranks
    rs, rg = np.array([2.5, 2.5, 4, 1]), np.array([2.0, 3, 4, 1])
    want = 100 * np.corrcoef(rs, rg)[0, 1]
    assert spearman100(system, gold) == pytest.approx(want)
    assert spearman100(system, gold) == pytest.approx(100 * spearmanr(system, gold)[0])
    assert math.isnan(spearman100([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))


def test_unknown_task_lists_valid_names(tmp_path: Path, hash_encoder) -> None:
    with pytest.raises(TaskError) as err:
        evaluate_sts(hash_encoder, tmp_path, tasks=["STS12", "STS17"])
    msg = str(err.value)
    assert "'STS17'" in msg and "STS12, STS13, STS14, STS15, STS16, STS-B, SICK-R" in msg
    assert isinstance(err.value, ValueError) and isinstance(err.value, SimcseError)
    assert not hash_encoder.calls


def test_missing_task_folder(tmp_path: Path, hash_encoder) -> None:
    (tmp_path / "senteval/downstream/STS").mkdir(parents=True)
    with pytest.raises(DataDirError) as err:
        evaluate_sts(hash_encoder, tmp_path, tasks=["STS-B"])
    assert str(tmp_path / "senteval/downstream/STS/STSBenchmark") in str(err.value)
    assert LAYOUT_HINT in str(err.value)
    with pytest.raises(DataDirError, match="does not exist"):
        evaluate_sts(hash_encoder, tmp_path / "absent")


def test_each_unique_sentence_encoded_once(tmp_path: Path, write_sts, hash_encoder) -> None:
    rows = [("a cat", "a dog", "1"), ("a cat", "a  cat", "5"), ("a dog", "the dog", "3")]
    root = write_sts(
        tmp_path, "STS16-en-test", {"x": rows, "y": [("the dog", "a cat", "2"), ("a", "b", "0")]}
    )
    evaluate_sts(hash_encoder, root, tasks="STS16", progress=False, expected_pairs={})
    assert sorted(hash_encoder.encoded) == sorted({"a cat", "a dog", "the dog", "a", "b"})


def test_encode_output_is_checked(tmp_path: Path, write_sts) -> None:
    root = write_sts(tmp_path, "STS16-en-test", {"x": [("a", "b", "1"), ("c", "d", "2")]})
    with pytest.raises(EncodeOutputError, match="expected"):
        evaluate_sts(lambda s: np.zeros((1, 3)), root, tasks="STS16", progress=False, expected_pairs={})


def test_result_table_and_dict() -> None:
    names = ["STS12", "STS13", "STS14", "STS15", "STS16", "STS-B", "SICK-R"]
    tasks = {n: TaskScore(n, 70.0 + i, 100 + i, mean=60.0, wmean=61.0) for i, n in enumerate(names)}
    result = StsResult(tasks, wall_s=1.5, sentences=10)
    lines = result.table().splitlines()
    assert lines[0] == "| STS12 | STS13 | STS14 | STS15 | STS16 | STS-B | SICK-R | Avg. |"
    assert lines[2] == "| 70.00 | 71.00 | 72.00 | 73.00 | 74.00 | 75.00 | 76.00 | 73.00 |"
    assert result.avg == pytest.approx(73.0)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["tasks"]["STS12"]["all"] == 70.0 and data["tasks"]["STS12"]["wmean"] == 61.0
    assert data["avg"] == pytest.approx(73.0) and data["wall_s"] == 1.5
    assert "| STS-B | 75.00 | 60.00 | 61.00 | 105 |" in result.details()


@pytest.mark.real
def test_full_pipeline_on_real_data_with_fake_encoder(data_dir: Path, hash_encoder) -> None:
    result = evaluate_sts(hash_encoder, data_dir, progress=False)
    assert result.pairs == {
        "STS12": 3108, "STS13": 1500, "STS14": 3750, "STS15": 3000, "STS16": 1186, "STS-B": 1379, "SICK-R": 4927,
    }  # fmt: skip
    assert all(np.isfinite(v) and 0 < v < 100 for v in result.scores.values())  # word overlap correlates
    assert result.avg == pytest.approx(np.mean(list(result.scores.values())))
    assert set(result.tasks["STS12"].subsets) == {
        "MSRpar",
        "MSRvid",
        "SMTeuroparl",
        "surprise.OnWN",
        "surprise.SMTnews",
    }


@pytest.mark.real
def test_dev_mode_real_data(data_dir: Path, hash_encoder) -> None:
    first = evaluate_dev(hash_encoder, data_dir)
    assert 0 < first.stsb < 100 and 0 < first.sickr < 100
    assert json.loads(json.dumps(first.to_dict()))["stsb_dev"] == first.stsb
    assert len(hash_encoder.calls) >= 1
    again = evaluate_dev(hash_encoder, data_dir)
    assert again.stsb == first.stsb and again.sickr == first.sickr
