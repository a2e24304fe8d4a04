"""Fixtures of the evaluation tests: a fake bag-of-words encoder and a SentEval-layout writer."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import pytest

DIM = 64


@cache
def _word_vector(word: str) -> np.ndarray:
    return np.random.default_rng(zlib.crc32(word.encode("utf-8"))).normal(size=DIM)


class HashEncoder:
    """Deterministic bag-of-words embeddings (sum of per-word random vectors); counts what it encodes."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, sentences: list[str]) -> np.ndarray:
        self.calls.append(list(sentences))
        out = np.zeros((len(sentences), DIM), dtype=np.float32)
        for i, s in enumerate(sentences):
            for w in s.lower().split():
                out[i] += _word_vector(w)
            out[i] += 1e-3  # no zero rows for empty sentences
        return out

    @property
    def encoded(self) -> list[str]:
        return [s for call in self.calls for s in call]


@pytest.fixture
def hash_encoder() -> HashEncoder:
    return HashEncoder()


WriteSts = Callable[[Path, str, dict[str, list[tuple[str, str, str]]]], Path]


@pytest.fixture
def write_sts() -> WriteSts:
    """Write an STS year folder: ``write_sts(root, "STS12-en-test", {subset: [(s1, s2, gold), ...]})``.

    A gold of ``""`` writes a blank gold line (an unscored pair). Returns the data directory root.
    """

    def write(root: Path, folder: str, subsets: dict[str, list[tuple[str, str, str]]]) -> Path:
        d = root / "senteval" / "downstream" / "STS" / folder
        d.mkdir(parents=True, exist_ok=True)
        for name, rows in subsets.items():
            (d / f"STS.input.{name}.txt").write_text(
                "".join(f"{a}\t{b}\n" for a, b, _ in rows), encoding="utf-8"
            )
            (d / f"STS.gs.{name}.txt").write_text("".join(f"{g}\n" for _, _, g in rows), encoding="utf-8")
        return root

    return write
