"""Scoring a model before training with the trainer's own encode function."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trainer.errors import ConfigError
from trainer.evaluate import main, memoized, score_model


def test_memoized_encodes_each_sentence_once() -> None:
    seen: list[str] = []

    def encode(sentences: list[str]) -> np.ndarray:
        seen.extend(sentences)
        return np.array([[len(s), 1.0] for s in sentences], dtype=np.float32)

    enc = memoized(encode)
    out = enc(["ab", "c", "ab"])
    assert out.shape == (3, 2) and out[0, 0] == 2 and out[1, 0] == 1
    enc(["c", "def"])
    assert seen == ["ab", "c", "def"]


def test_plain_model_needs_a_pooler(tiny_bert_dir: Path) -> None:
    with pytest.raises(ConfigError, match="--pooler"):
        score_model(str(tiny_bert_dir))


def test_cli_prints_dev_and_test(tiny_bert_dir: Path, data_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "scores.json"
    args = [
        "--base",
        str(tiny_bert_dir),
        "--pooler",
        "avg",
        "--max-len",
        "16",
        "--data-dir",
        str(data_dir),
        "--json",
        str(out),
        "--batch-size",
        "256",
    ]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "STS-B dev" in text and "STS-B" in text.split("test:")[1]
    assert out.is_file()
