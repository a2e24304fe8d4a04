"""The command line: argument checks, tables on stdout, the JSON file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from simcse_sdk.evaluation import __main__ as cli
from simcse_sdk.evaluation.tasks import resolve_groups


def test_needs_exactly_one_model(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in ([], ["model", "--sentence-transformers", "st"]):
        with pytest.raises(SystemExit) as err:
            cli.main(argv)
        assert err.value.code == 2
    assert "exactly one of MODEL_DIR" in capsys.readouterr().err


def test_unknown_group_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as err:
        cli.main(["model", "--tasks", "sts,glue"])
    assert err.value.code == 2
    assert "valid groups: sts, dev, transfer, align, all" in capsys.readouterr().err


def test_a_batch_size_below_one_is_a_usage_error_before_the_model_loads(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as err:  # was an SDK error naming batch_size=0, after loading the model
        cli.main(["model", "--batch-size", "0"])
    assert err.value.code == 2
    assert "argument --batch-size: expected a whole number >= 1, got 0" in capsys.readouterr().err


def test_groups() -> None:
    assert resolve_groups("all") == ["sts", "dev", "transfer", "align"]
    assert resolve_groups("align, sts") == ["sts", "align"]


def test_missing_model_dir_is_an_sdk_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main([str(tmp_path / "no-model"), "--tasks", "dev", "--data-dir", str(tmp_path)])
    assert code == 1
    assert capsys.readouterr().err.startswith("error: ")


def test_a_json_path_that_cannot_be_written_is_refused_before_the_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def no_run(*args: Any) -> None:
        raise AssertionError("the run started before --json was checked")

    monkeypatch.setattr(cli, "run", no_run)
    (tmp_path / "afile").write_text("x")
    for bad, why in ((tmp_path / "afile" / "out.json", "a file stands where its folder"), (tmp_path, "it is a folder")):
        with pytest.raises(SystemExit) as err:
            cli.main(["some-model", "--tasks", "dev", "--json", str(bad)])
        assert err.value.code == 2
        assert f"--json {bad}: cannot write there ({why}" in capsys.readouterr().err


def test_variant_names_beyond_the_onnx_ones_reach_the_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}

    def fake_load(args: Any) -> tuple[Any, dict[str, Any]]:
        seen["variant"] = args.variant
        raise cli.SimcseError("stop here")

    monkeypatch.setattr(cli, "load_encode", fake_load)
    assert cli.main(["some-model", "--tasks", "dev", "--variant", "ov-int8"]) == 1
    assert seen == {"variant": "ov-int8"}


def test_write_json_is_atomic(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "r.json"
    cli.write_json(out, {"a": 1.5})
    cli.write_json(out, {"a": 2})
    assert json.loads(out.read_text()) == {"a": 2}
    assert [p.name for p in out.parent.iterdir()] == ["r.json"]
    assert out.stat().st_mode & 0o777 == 0o644  # readable by others, as every other output (mkstemp's is 0600)


@pytest.mark.real
def test_dev_and_align_with_a_fake_encoder(
    data_dir: Path,
    tmp_path: Path,
    hash_encoder,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def fake_load(args: Any) -> tuple[Any, dict[str, Any]]:
        return hash_encoder, {"model_dir": args.model_dir}

    monkeypatch.setattr(cli, "load_encode", fake_load)
    out = tmp_path / "eval.json"
    code = cli.main(["some-model", "--tasks", "align,dev", "--data-dir", str(data_dir), "--json", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| STS-B dev | SICK-R dev | Avg. |" in printed and "Alignment" in printed
    payload = json.loads(out.read_text())
    assert payload["tasks"] == ["dev", "align"]
    assert set(payload) == {"model", "tasks", "dev", "align", "date", "command", "machine"}
    assert payload["dev"]["stsb_dev"] > 0 and payload["align"]["uniformity"] < 0
    # dev and align share STS-B dev's sentences: none is encoded twice
    assert len(hash_encoder.encoded) == len(set(hash_encoder.encoded))
