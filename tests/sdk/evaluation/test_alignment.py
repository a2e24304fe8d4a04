"""Alignment and uniformity on hand-checkable embeddings, and on the real STS-B dev split."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from simcse_sdk.evaluation import alignment as alignment_module
from simcse_sdk.evaluation import alignment_uniformity
from simcse_sdk.evaluation.alignment import alignment, uniformity


def test_alignment_by_hand() -> None:
    # orthogonal unit vectors: ||x - y||² = 2; identical directions: 0 (the scale is normalised away)
    x = np.array([[1.0, 0.0], [3.0, 0.0]])
    y = np.array([[0.0, 2.0], [1.0, 0.0]])
    assert alignment(x, y) == pytest.approx((2.0 + 0.0) / 2)


def test_uniformity_by_hand() -> None:
    # three points: (1,0), (0,1), (-1,0); squared distances 2, 4, 2
    e = np.array([[1.0, 0.0], [0.0, 5.0], [-2.0, 0.0]])
    want = math.log((math.exp(-4) + math.exp(-8) + math.exp(-4)) / 3)
    assert uniformity(e) == pytest.approx(want)
    assert math.isnan(uniformity(e[:1]))


def test_uniformity_blocks_match_brute_force(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    e = rng.normal(size=(23, 5))
    u = e / np.linalg.norm(e, axis=1, keepdims=True)
    i, j = np.triu_indices(len(u), k=1)
    brute = math.log(np.mean(np.exp(-2 * np.sum((u[i] - u[j]) ** 2, axis=1))))
    monkeypatch.setattr(alignment_module, "BLOCK", 4)
    assert uniformity(e) == pytest.approx(brute, rel=1e-10)


@pytest.mark.real
def test_alignment_uniformity_on_stsb_dev(data_dir: Path, hash_encoder) -> None:
    au = alignment_uniformity(hash_encoder, data_dir)
    align, uniform = au
    assert (align, uniform) == (au.alignment, au.uniformity)
    assert 0 < align < 2 and uniform < 0
    assert au.split == "dev" and 0 < au.positive_pairs < 1500 and au.sentences > 2000
    assert au.to_dict()["positive_pairs"] == au.positive_pairs
