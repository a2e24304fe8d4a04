"""A few real steps on the packaged all-MiniLM-L6-v2 and the shared wiki prefix (the `real` marker)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from trainer.config import resolve
from trainer.runlog import read_log
from trainer.train import train


@pytest.mark.real
def test_unsup_smoke_on_minilm(minilm_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    cfg = resolve(
        "unsup",
        {
            "base": str(minilm_dir),
            "data": "wiki",
            "data_dir": str(data_dir),
            "out": str(tmp_path / "run"),
            "steps": 4,
            "batch_size": 8,
            "eval_steps": 0,
        },
    )
    result = train(cfg, progress=False)
    losses = [r["loss"] for r in read_log(tmp_path / "run" / "log.jsonl") if r["type"] == "step"]
    assert len(losses) == 4 and all(math.isfinite(x) for x in losses)
    assert result.steps == 4

    from transformers import AutoModel

    model = AutoModel.from_pretrained(tmp_path / "run" / "last")
    assert model.config.hidden_size == 384 and model.pooler is not None
