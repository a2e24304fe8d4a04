"""The resolved config: paths that mean the same files on resume, and settings given that the run would not use."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainer.config import resolve


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
])
def test_a_setting_the_run_does_not_use_is_named(overrides: dict, flag: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="trainer.config"):
        resolve("unsup", overrides)
    assert f"{flag} has no effect here" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="trainer.config"):
        resolve("unsup", {})  # the preset's own values are not the user's
    assert not caplog.records
