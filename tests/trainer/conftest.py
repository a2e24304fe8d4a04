"""Fixtures of the trainer tests: tiny data files, one torch thread, no network."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _quiet_and_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """One torch thread (2 shared cores: more threads only contend) and never the network."""
    import torch

    torch.set_num_threads(1)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


WORDS = "cat dog bird fish tree river stone cloud house road light music paper glass wind fire".split()


def sentence(i: int) -> str:
    """A deterministic, varied short sentence."""
    n = 3 + i % 6
    return " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(n)) + f" {i}"


@pytest.fixture
def tiny_txt(tmp_path: Path) -> Path:
    """48 sentences, one a line, plus two empty lines (skipped and counted)."""
    path = tmp_path / "sents.txt"
    lines = [sentence(i) for i in range(48)]
    lines.insert(10, "")
    lines.insert(20, "   ")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def tiny_csv(tmp_path: Path) -> Path:
    """32 (sent0, sent1, hard_neg) triplets with the paper's header."""
    path = tmp_path / "triplets.csv"
    rows = ["sent0,sent1,hard_neg"] + [
        f"{sentence(i)},{sentence(i + 100)},{sentence(i + 200)}" for i in range(32)
    ]
    path.write_text("\n".join(rows) + "\n")
    return path
