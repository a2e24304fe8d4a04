"""variant='auto' on a real (tiny) model directory: the faster variant wins, accuracy is checked on this CPU, the
choice and the checks are cached per model and machine."""

from __future__ import annotations

import json
import os
import shutil
import time

import numpy as np
import pytest
from simcse_sdk import Encoder
from simcse_sdk.autotune import cache as choice_cache
from simcse_sdk.autotune import race
from simcse_sdk.errors import DeviceError, VariantError
from simcse_sdk.runtimes.onnxruntime import Runtime


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
    """Record each candidate measured (every one that opens is probed first)."""
    calls: list[str] = []
    real = race.probe

    def probe(c, ids):
        calls.append(c.name)
        return real(c, ids)

    monkeypatch.setattr(race, "probe", probe)
    return calls


@pytest.mark.parametrize("slow, fast", [("model.int8.onnx", "fp32"), ("model.onnx", "int8")])
def test_auto_picks_the_faster_variant(monkeypatch, model_dir, tmp_path, slow, fast):
    slow_down(monkeypatch, slow)
    enc = Encoder(model_dir, device="cpu", cache_dir=tmp_path / "cache")
    assert enc.variant == fast and enc.choice.reason == "measured"
    assert set(enc.choice.measurements) == {"fp32", "int8"}
    slow_one = ({"fp32", "int8"} - {fast}).pop()
    m_fast, m_slow = enc.choice.measurements[fast], enc.choice.measurements[slow_one]
    assert m_fast.workload_s is not None and m_fast.left_out == ""
    # 4 ms a batch slower: left out for speed (after the probe or part of the workload, as this CPU's timings
    # fall), or measured in full and slower
    assert (m_slow.left_out_kind == "slower" and m_slow.workload_s is None) or m_slow.workload_s > m_fast.workload_s
    assert set(enc.choice.accuracy) == {"int8"} and enc.choice.accuracy["int8"].passed  # checked against fp32 here
    assert enc.choice.seconds is not None and enc.choice.seconds > 0
    assert fast in enc.describe() and "measured now" in enc.describe() and "(measured)" in repr(enc)


def test_explicit_variant_always_wins(monkeypatch, model_dir, tmp_path):
    slow_down(monkeypatch, "model.int8.onnx")
    calls = count_measurements(monkeypatch)
    enc = Encoder(model_dir, device="cpu", variant="int8", cache_dir=tmp_path / "cache")
    assert enc.variant == "int8" and enc.choice.reason == "asked for" and calls == []
    assert not (tmp_path / "cache" / "autotune").exists()  # nothing timed; only its accuracy here is checked
    assert [f.parent.name for f in (tmp_path / "cache").rglob("*.json")] == ["accuracy"]
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
    assert choice_cache.default_cache_dir() == tmp_path / "xdg" / "simcse-sdk"


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
    real = choice_cache.library_version
    monkeypatch.setattr(choice_cache, "library_version", lambda r: "99.0" if r == "onnxruntime" else real(r))
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
    auto = Encoder(model_dir, device="cpu", threads=2, cache_dir=tmp_path / "cache")
    assert auto.choice.reason == "measured" and auto._sessions.has_bulk  # the winner keeps what it was measured on
    explicit = Encoder(model_dir, device="cpu", variant=auto.variant, threads=2)
    sentences = ["one sentence", "and another, a little longer than the first"]
    np.testing.assert_allclose(auto.encode(sentences), explicit.encode(sentences), rtol=1e-5, atol=1e-6)
    long = [" ".join(["a long text that needs the session on all threads"] * 8)]  # > 32 tokens: the main session
    np.testing.assert_allclose(auto.encode(long), explicit.encode(long), rtol=1e-5, atol=1e-6)
    many = sentences * 100  # several batches side by side
    np.testing.assert_allclose(auto.encode(many), explicit.encode(many), rtol=1e-5, atol=1e-6)


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


@pytest.mark.parametrize("removed, left", [("model.int8.onnx", "fp32"), ("model.onnx", "int8")])
def test_a_candidate_whose_file_is_missing_is_left_out_by_name(model_dir, tmp_path, caplog, removed, left):
    (model_dir / removed).unlink()  # a model directory copied in part
    enc = Encoder(model_dir, device="cpu", cache_dir=tmp_path / "cache")
    assert enc.variant == left and enc.choice.reason == "only candidate"
    gone = ({"fp32", "int8"} - {left}).pop()
    assert f"leaving out {gone!r}: its file {removed!r} is missing" in caplog.text
    enc.encode(["still embeds"])
    (model_dir / {"fp32": "model.onnx", "int8": "model.int8.onnx"}[left]).unlink()
    with pytest.raises(VariantError, match="No variant"):
        Encoder(model_dir, device="cpu", cache_dir=tmp_path / "cache")


def negate_int8(monkeypatch) -> None:
    """int8 computes something else on this CPU than at export (as 8-bit weights do on an AVX2-only CPU)."""
    real = Runtime.run

    def run(self, input_ids, attention_mask):
        out = real(self, input_ids, attention_mask)
        return -out if self.model_path.name == "model.int8.onnx" else out

    monkeypatch.setattr(Runtime, "run", run)


def test_auto_never_picks_a_variant_below_its_gate_on_this_cpu(monkeypatch, model_dir, tmp_path, caplog):
    negate_int8(monkeypatch)
    slow_down(monkeypatch, "model.onnx")  # int8 is the faster one: only its accuracy here leaves it out
    cache = tmp_path / "cache"
    enc = Encoder(model_dir, device="cpu", cache_dir=cache)
    assert enc.variant == "fp32"
    m, check = enc.choice.measurements["int8"], enc.choice.accuracy["int8"]
    assert m.left_out_kind == "accuracy" and m.workload_s is None and not check.passed
    assert check.min_cos < check.threshold == json.loads((model_dir / "manifest.json").read_text())[
        "variants"]["int8"]["gate"]["threshold_min_cos"]
    assert "int8 left out (accuracy here" in enc.describe() and "BELOW the export gate's threshold" in enc.describe()
    assert "leaving out int8, less accurate here" in caplog.text
    calls = count_measurements(monkeypatch)
    again = Encoder(model_dir, device="cpu", cache_dir=cache)  # cached with the choice, shown again
    assert calls == [] and again.choice.reason == "cached" and not again.choice.accuracy["int8"].passed
    assert "BELOW" in again.describe()


def test_an_explicit_variant_below_its_gate_here_runs_with_a_warning(monkeypatch, model_dir, tmp_path, caplog):
    negate_int8(monkeypatch)
    cache = tmp_path / "cache"
    enc = Encoder(model_dir, device="cpu", variant="int8", cache_dir=cache)
    assert enc.variant == "int8" and not enc.choice.accuracy["int8"].passed
    assert "less accurate on this machine than its export gate required" in caplog.text
    assert "variant='fp32'" in caplog.text and "BELOW" in enc.describe()
    opened = []
    real_init = Runtime.__init__

    def init(self, model_path, *args, **kwargs):
        opened.append(os.path.basename(model_path))
        real_init(self, model_path, *args, **kwargs)

    monkeypatch.setattr(Runtime, "__init__", init)
    again = Encoder(model_dir, device="cpu", variant="int8", cache_dir=cache)  # checked once per model and machine
    assert "model.onnx" not in opened and not again.choice.accuracy["int8"].passed
