"""variant='auto' chooses by measurement: the faster variant wins, the choice is cached per model and machine."""

from __future__ import annotations

import json
import os
import shutil
import time

import numpy as np
import pytest
from simcse_sdk import Encoder, autotune
from simcse_sdk.errors import DeviceError, VariantError
from simcse_sdk.runtime import Runtime


@pytest.fixture()
def model_dir(tmp_path, tiny_model_dir):
    """A private copy of the tiny export (fp32 + int8), so a test may change its files."""
    out = tmp_path / "model"
    shutil.copytree(tiny_model_dir, out)
    return out


def slow_down(monkeypatch, file_name: str, seconds: float = 0.004) -> None:
    """Make every onnxruntime run of ``file_name`` take ``seconds`` longer: a slower fake of that variant."""
    real = Runtime.run

    def run(self, input_ids, attention_mask):
        if self.model_path.name == file_name:
            time.sleep(seconds)
        return real(self, input_ids, attention_mask)

    monkeypatch.setattr(Runtime, "run", run)


def count_measurements(monkeypatch) -> list[str]:
    """Record each candidate measured (by the order of calls; the encode function is the candidate's)."""
    calls: list[str] = []
    real = autotune.Measurement.of

    def of(encode, budget_s=autotune.BUDGET_S):
        calls.append(encode.__self__.variant)
        return real(encode, budget_s)

    monkeypatch.setattr(autotune.Measurement, "of", staticmethod(of))
    return calls


@pytest.mark.parametrize("slow, fast", [("model.int8.onnx", "fp32"), ("model.onnx", "int8")])
def test_auto_picks_the_faster_variant(monkeypatch, model_dir, tmp_path, slow, fast):
    slow_down(monkeypatch, slow)
    enc = Encoder(model_dir, device="cpu", cache_dir=tmp_path / "cache")
    assert enc.variant == fast and enc.choice.reason == "measured"
    assert set(enc.choice.measurements) == {"fp32", "int8"}
    assert enc.choice.measurements[fast].workload_s < min(m.workload_s for m in enc.choice.measurements.values()) + 1e-12
    assert fast in enc.describe() and "measured now" in enc.describe() and "(measured)" in repr(enc)


def test_explicit_variant_always_wins(monkeypatch, model_dir, tmp_path):
    slow_down(monkeypatch, "model.int8.onnx")
    calls = count_measurements(monkeypatch)
    enc = Encoder(model_dir, device="cpu", variant="int8", cache_dir=tmp_path / "cache")
    assert enc.variant == "int8" and enc.choice.reason == "asked for" and calls == []
    assert not (tmp_path / "cache").exists()
    with pytest.raises(VariantError, match="runs on onnxruntime, not openvino"):
        Encoder(model_dir, device="cpu", variant="int8", runtime="openvino")


def test_second_start_uses_the_cache_and_writes_nothing_into_the_model_dir(monkeypatch, model_dir, tmp_path):
    before = sorted(p.name for p in model_dir.iterdir())
    slow_down(monkeypatch, "model.int8.onnx")
    calls = count_measurements(monkeypatch)
    first = Encoder(model_dir, device="cpu", cache_dir=tmp_path / "cache")
    assert sorted(calls) == ["fp32", "int8"]
    files = list((tmp_path / "cache" / "autotune").glob("*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["variant"] == "fp32"
    assert not list((tmp_path / "cache" / "autotune").glob(".*tmp"))  # written through a temporary file, renamed
    monkeypatch.undo()  # int8 is fast again, but the cached choice stands: nothing is measured
    calls = count_measurements(monkeypatch)
    second = Encoder(model_dir, device="cpu", cache_dir=tmp_path / "cache")
    assert calls == [] and second.variant == first.variant == "fp32" and second.choice.reason == "cached"
    assert "cached in" in second.describe()
    assert sorted(p.name for p in model_dir.iterdir()) == before


def test_cache_dir_from_the_environment(monkeypatch, model_dir, tmp_path):
    monkeypatch.setenv("SIMCSE_CACHE_DIR", str(tmp_path / "env-cache"))
    Encoder(model_dir, device="cpu")
    assert len(list((tmp_path / "env-cache" / "autotune").glob("*.json"))) == 1
    monkeypatch.delenv("SIMCSE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert autotune.default_cache_dir() == tmp_path / "xdg" / "simcse-sdk"


def test_changed_model_file_measures_again(monkeypatch, model_dir, tmp_path):
    cache = tmp_path / "cache"
    Encoder(model_dir, device="cpu", cache_dir=cache)
    calls = count_measurements(monkeypatch)
    Encoder(model_dir, device="cpu", cache_dir=cache)
    assert calls == []
    target = model_dir / "model.int8.onnx"  # replaced by a copy (a re-export would also change the manifest)
    shutil.copy(target, tmp_path / "copy.onnx")
    os.replace(tmp_path / "copy.onnx", target)
    Encoder(model_dir, device="cpu", cache_dir=cache)
    assert sorted(calls) == ["fp32", "int8"]
    assert len(list((cache / "autotune").glob("*.json"))) == 2


def test_new_library_version_measures_again(monkeypatch, model_dir, tmp_path):
    cache = tmp_path / "cache"
    Encoder(model_dir, device="cpu", cache_dir=cache)
    calls = count_measurements(monkeypatch)
    real = autotune.library_version
    monkeypatch.setattr(autotune, "library_version", lambda r: "99.0" if r == "onnxruntime" else real(r))
    Encoder(model_dir, device="cpu", cache_dir=cache)
    assert sorted(calls) == ["fp32", "int8"]


def test_unwritable_cache_still_gives_an_encoder(model_dir, tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    enc = Encoder(model_dir, device="cpu", cache_dir=blocker)
    assert enc.variant in ("fp32", "int8") and "could not cache" in caplog.text
    assert enc.encode(["still works"]).shape == (1, enc.dim)


def test_damaged_cache_file_is_measured_again(monkeypatch, model_dir, tmp_path):
    cache = tmp_path / "cache"
    Encoder(model_dir, device="cpu", cache_dir=cache)
    (path,) = (cache / "autotune").glob("*.json")
    path.write_text("{ not json")
    calls = count_measurements(monkeypatch)
    enc = Encoder(model_dir, device="cpu", cache_dir=cache)
    assert sorted(calls) == ["fp32", "int8"] and enc.choice.reason == "measured"
    assert json.loads(path.read_text())["variant"] == enc.variant


def test_openvino_runtime_without_the_package_names_the_extra(monkeypatch, model_dir):
    monkeypatch.setitem(__import__("sys").modules, "openvino", None)  # import openvino now fails
    with pytest.raises(DeviceError, match=r"simcse-sdk\[openvino\]"):
        Encoder(model_dir, device="cpu", runtime="openvino")
    with pytest.raises(DeviceError, match="Unknown runtime 'tensorrt'"):
        Encoder(model_dir, device="cpu", runtime="tensorrt")


def test_measured_choice_embeds_like_the_explicit_variant(model_dir, tmp_path):
    auto = Encoder(model_dir, device="cpu", cache_dir=tmp_path / "cache")
    explicit = Encoder(model_dir, device="cpu", variant=auto.variant)
    sentences = ["one sentence", "and another, a little longer than the first"]
    np.testing.assert_allclose(auto.encode(sentences), explicit.encode(sentences), rtol=1e-5, atol=1e-6)


def test_a_candidate_that_fails_here_is_left_out(monkeypatch, model_dir, tmp_path, caplog):
    real = Runtime.run

    def run(self, input_ids, attention_mask):
        if self.model_path.name == "model.int8.onnx":
            raise RuntimeError("no kernel for this CPU")
        return real(self, input_ids, attention_mask)

    monkeypatch.setattr(Runtime, "run", run)
    enc = Encoder(model_dir, device="cpu", cache_dir=tmp_path / "cache")
    assert enc.variant == "fp32" and set(enc.choice.measurements) == {"fp32"}
    assert "int8 does not run here" in caplog.text
