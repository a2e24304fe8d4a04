"""The resolved config: paths that mean the same files on resume, settings given that the run (or its data) would
not use, and a base that pools otherwise than the recipe."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tests.trainer.conftest import sentence
from trainer.config import resolve
from trainer.train import train


def test_paths_are_saved_absolute_and_the_data_dir_from_the_environment_is_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # resumed from another directory, a relative base read another folder (another serving length); resumed in a
    # shell without SIMCSE_DATA_DIR, the saved data_dir was null and the data was not found
    (tmp_path / "base").mkdir()
    (tmp_path / "data").mkdir()
    (tmp_path / "mine.txt").write_text("a\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SIMCSE_DATA_DIR", "data")
    cfg = resolve("unsup", {"base": "base", "data": "mine.txt"})
    assert (cfg.base, cfg.data, cfg.data_dir) == (str(tmp_path / "base"), str(tmp_path / "mine.txt"),
                                                  str(tmp_path / "data"))
    hub = resolve("unsup", {"base": "org/some-model", "data": "wiki"})  # names stay names
    assert (hub.base, hub.data) == ("org/some-model", "wiki")


@pytest.mark.parametrize(("overrides", "flag"), [
    ({"hard_negative_weight": 100.0}, "--hard-negative-weight"),  # unsup: identical losses at 1 and 100
    ({"grad_cache_chunk": 8}, "--grad-cache-chunk"),
    ({"mlm_weight": 0.5}, "--mlm-weight"),
    ({"mlp_only_train": False, "pooler": "avg"}, "--mlp-only-train"),
    ({"mlp_init": "base", "pooler": "avg"}, "--mlp-init"),  # there is no MLP head to initialise
    ({"pooler": "avg", "matryoshka_dims": [32, 16], "select_dim": 16, "eval_steps": 0}, "--select-dim"),
])
def test_a_setting_the_run_does_not_use_is_named(overrides: dict, flag: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="trainer.config"):
        resolve("unsup", overrides)
    assert f"{flag} has no effect here" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="trainer.config"):
        resolve("unsup", {})  # the preset's own values are not the user's
    assert not caplog.records


def test_a_hard_negative_weight_on_pairs_is_named_once_the_columns_are_known(
        tiny_bert_dir: Path, tiny_csv: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # --sup on a sent0,sent1 CSV: the weight of the row's own hard negative was silently unused
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("sent0,sent1\n" + "\n".join(f"{sentence(i)},{sentence(i + 100)}" for i in range(16)) + "\n")
    common = {"base": str(tiny_bert_dir), "batch_size": 8, "steps": 1, "eval_steps": 0}
    with caplog.at_level("WARNING", logger="trainer.config"):
        cfg = resolve("sup", {**common, "data": str(pairs), "out": str(tmp_path / "a"), "hard_negative_weight": 5.0})
        assert not caplog.records  # the columns are not known yet
        train(cfg, progress=False)
    assert "--hard-negative-weight has no effect here: the data has no hard_neg column" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="trainer.config"):
        train(dataclasses.replace(cfg, data=str(tiny_csv), out=str(tmp_path / "b")), progress=False)  # triplets
        train(resolve("sup", {**common, "data": str(pairs), "out": str(tmp_path / "c")}), progress=False)  # preset's 1
    assert not caplog.records


def _st_folder(root: Path, pooling: dict) -> Path:
    (root / "1_Pooling").mkdir(parents=True)
    (root / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": 32, **pooling}))
    return root


@pytest.mark.parametrize("pooling", [
    {"pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True},  # sentence-transformers < 6
    {"pooling_mode": "mean"},  # sentence-transformers 6
])
def test_a_mean_pooling_base_under_a_cls_recipe_is_warned_about(
        pooling: dict, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    base = str(_st_folder(tmp_path / "st", pooling))
    with caplog.at_level("WARNING", logger="trainer.pooling"):
        resolve("unsup", {"base": base})
    assert "trained for mean pooling" in caplog.text and "--pooler avg" in caplog.text and "--unsup" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="trainer.pooling"):
        resolve("sup", {"base": base, "pooler": "cls"})  # the user's own choice
        resolve("sup", {"base": base, "pooler": "avg"})
        resolve("sup", {"base": str(_st_folder(tmp_path / "cls", {"pooling_mode": "cls"}))})
        resolve("sup", {"base": str(tmp_path)})  # no 1_Pooling/config.json
    assert not caplog.records
