"""variant='auto' chooses by measurement: the faster variant wins, the choice is cached per model and machine."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time

import numpy as np
import pytest
from simcse_sdk import Encoder, autotune, choice_cache
from simcse_sdk import runtime as sdk_runtime
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
    """Record each candidate measured (every one that opens is probed first)."""
    calls: list[str] = []
    real = autotune.probe

    def probe(c, ids):
        calls.append(c.name)
        return real(c, ids)

    monkeypatch.setattr(autotune, "probe", probe)
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


# The race itself, on fake candidates whose speed is set by sleeping: what is measured, what stops early, what is freed.


class Fake:
    """A candidate that takes ``call_s`` per call plus ``per_sentence_s`` per sentence, and records what it ran."""

    def __init__(self, name, call_s, per_sentence_s, fail_open=False, size=1, fail_bulk=False, wrong=False,
                 min_cos=None):
        self.name, self.call_s, self.per_sentence_s, self.fail_open, self.size = (
            name, call_s, per_sentence_s, fail_open, size)
        self.fail_bulk, self.wrong, self.min_cos = fail_bulk, wrong, min_cos
        self.calls: list[int] = []  # sentences per call
        self.is_open = False
        self.closed = threading.Event()

    def encode(self, ids, batch_size):
        assert self.is_open, "measured before it was opened"
        self.calls.append(len(ids))
        if self.fail_bulk and len(ids) == autotune.BULK_SENTENCES:
            raise RuntimeError("this shape fails here")
        time.sleep(self.call_s + self.per_sentence_s * len(ids))
        emb = np.array([[len(i), 1.0, 2.0, 0.5] for i in ids], np.float32)  # (n, 4), the same for every right one
        return -emb if self.wrong else emb

    def open(self):
        if self.fail_open:
            raise RuntimeError("no kernel for this CPU")
        self.is_open = True

    def close(self):
        self.is_open = False
        self.closed.set()

    def candidate(self, fakes=(), open_counts=None):
        def opener():
            self.open()
            if open_counts is not None:
                open_counts.append(sum(f.is_open for f in fakes))

        return autotune.Candidate(self.name, "onnxruntime", self.encode, [opener], [], self.close, self.size, owner=self,
                                  min_cos=self.min_cos)


def race(fakes, reference=None, **kwargs):
    open_counts: list[int] = []  # candidates open after each opening
    tokenize = lambda texts: [np.arange(len(t.split()) + 2) for t in texts]  # noqa: E731
    candidates = [f.candidate(fakes, open_counts) for f in fakes]
    ref = next((c for c in candidates if c.name == reference), None) if isinstance(reference, str) else reference
    choice, winner = autotune.choose(candidates, tokenize, {"k": 1}, None, ref, **kwargs)
    return choice, winner.owner, max(open_counts)


def test_a_candidate_wrong_here_is_left_out_however_fast_and_sets_no_bar():
    # "wrong" has the fastest probe by far; were it the probe bar, "right" (over 2x slower) would be left out too
    wrong = Fake("wrong", 0.0001, 0.00001, wrong=True, min_cos=0.95)
    right = Fake("right", 0.0003, 0.0001, min_cos=0.95)
    ref = Fake("ref", 0.0003, 0.0002)
    choice, winner, _ = race([wrong, right, ref], reference="ref")
    assert winner.name == "right" and choice.measurements["right"].workload_s is not None
    assert choice.measurements["wrong"].left_out_kind == "accuracy"
    assert max(wrong.calls) < autotune.BULK_SENTENCES  # never timed on the workload
    assert choice.accuracy["right"].passed and choice.accuracy["right"].min_cos > 0.9999
    assert not choice.accuracy["wrong"].passed and "ref" not in choice.accuracy  # the reference is not checked


def test_a_reference_that_is_no_candidate_is_closed_after_use():
    ref = Fake("ref", 0.0001, 0.00001)
    choice, winner, _ = race([Fake("a", 0.0001, 0.00001, min_cos=0.95)], reference=ref.candidate())
    assert winner.name == "a" and choice.accuracy["a"].passed and ref.closed.is_set()


def test_no_candidate_accurate_here_is_an_error_naming_the_reference():
    ref = Fake("ref", 0, 0)
    wrong = [Fake(n, 0.0001, 0.00001, wrong=True, min_cos=0.95) for n in ("a", "b")]
    with pytest.raises(VariantError, match=r"no candidate is as accurate.*variant='fp32'"):
        race(wrong, reference=ref.candidate())


@pytest.mark.parametrize("reverse", [False, True])
def test_the_fastest_wins_whatever_the_order_and_slow_ones_stop_after_the_probe(reverse):
    fakes = [Fake("fast", 0.0003, 0.00003), Fake("close", 0.0004, 0.00004), Fake("slow", 0.0003, 0.0004)]
    choice, winner, _ = race(fakes[::-1] if reverse else fakes)
    assert winner.name == choice.variant == "fast" and choice.reason == "measured"
    slow = choice.measurements["slow"]
    assert "probe" in slow.left_out and slow.workload_s is None
    assert max(fakes[2].calls) == autotune.PROBE_SENTENCES  # never ran the bulk workload
    close = choice.measurements["close"]  # within 2x on the probe: it ran the workload, at least its bulk call
    assert close.sentences_per_s is not None and autotune.BULK_SENTENCES in fakes[1].calls
    assert "slow left out (probe" in choice.describe()


def test_latency_counts_as_much_as_throughput():
    # "bulky" moves 2x the sentences a second in bulk and passes the probe, but each single call costs 1.5 ms
    bulky, quick = Fake("bulky", 0.0015, 0.00001), Fake("quick", 0.0002, 0.00005)
    choice, winner, _ = race([bulky, quick])
    assert winner.name == "quick"
    b, q = choice.measurements["bulky"], choice.measurements["quick"]
    assert not b.left_out and b.sentences_per_s > q.sentences_per_s and b.workload_s > q.workload_s


def test_the_losers_are_freed_and_the_winner_keeps_its_sessions():
    fakes = [Fake("a", 0.0003, 0.00003), Fake("b", 0.0003, 0.0004), Fake("c", 0.0006, 0.0001)]
    _, winner, _ = race(fakes)
    for f in fakes:
        if f is not winner:
            assert f.closed.wait(5), f"{f.name} was not freed"
    assert winner.is_open and not winner.closed.is_set()


def test_at_most_load_bytes_of_candidates_are_open_at_once(monkeypatch):
    fakes = [Fake(f"v{i}", 0.0003, 0.00003 * (i + 1), size=100) for i in range(4)]
    _, _, most = race(fakes)
    assert most == 4  # all fit in LOAD_BYTES: opened together
    monkeypatch.setattr(autotune, "LOAD_BYTES", 150)  # one at a time, plus the best so far
    fakes = [Fake(f"v{i}", 0.0003, 0.00003 * (i + 1), size=100) for i in range(4)]
    _, winner, most = race(fakes)
    assert most <= 2 and winner.name == "v0"
    monkeypatch.setattr(autotune, "LOAD_BYTES", 1 << 30)
    monkeypatch.setattr(autotune.runtime, "available_memory", lambda: 4 * 250)  # a small container: a quarter is 250 bytes
    fakes = [Fake(f"v{i}", 0.0003, 0.00003 * (i + 1), size=100) for i in range(4)]
    _, winner, most = race(fakes)
    assert most <= 3 and winner.name == "v0"


def test_available_memory_reads_the_cgroup_limit(tmp_path):
    (tmp_path / "memory.max").write_text("1000000\n")
    (tmp_path / "memory.current").write_text("400000\n")
    assert sdk_runtime.available_memory(str(tmp_path)) <= 600000
    (tmp_path / "memory.max").write_text("max\n")
    assert sdk_runtime.available_memory(str(tmp_path)) > 600000
    (tmp_path / "memory").mkdir()  # cgroup v1
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text("2000000\n")
    (tmp_path / "memory" / "memory.usage_in_bytes").write_text("500000\n")
    assert sdk_runtime.available_memory(str(tmp_path)) <= 1500000


def test_a_candidate_that_cannot_open_is_left_out_with_a_warning(caplog):
    choice, winner, _ = race([Fake("broken", 0.0001, 0.00001, fail_open=True), Fake("ok", 0.0003, 0.00003)])
    assert winner.name == "ok" and "broken" not in choice.measurements
    assert "broken does not run here (RuntimeError: no kernel for this CPU)" in caplog.text
    with pytest.raises(RuntimeError, match="no kernel"):
        race([Fake("x", 0, 0, fail_open=True), Fake("y", 0, 0, fail_open=True)])


def test_a_workload_well_over_the_best_stops_after_its_first_bulk_call():
    f = Fake("slow", 0.0003, 0.0002)
    f.is_open = True
    bulk = [np.arange(10)] * autotune.BULK_SENTENCES
    m = autotune.Measurement(probe_per_s=1.0)
    autotune.run_workload(f.candidate(), bulk, [np.arange(5)] * 4, m, bound=0.001)
    assert m.workload_s is None and "bulk call alone" in m.left_out and m.sentences_per_s > 0
    assert f.calls.count(autotune.BULK_SENTENCES) == 2  # the warm-up and one timed call, no single-sentence timing


def test_the_losers_are_freed_on_a_thread_the_interpreter_waits_for(monkeypatch):
    # a daemon thread freeing sessions while the interpreter shuts down crashed processes that exit right away
    started = []
    real = threading.Thread

    def thread(*args, **kwargs):
        t = real(*args, **kwargs)
        started.append(t)
        return t

    monkeypatch.setattr(autotune.threading, "Thread", thread)
    race([Fake("a", 0.0003, 0.00003), Fake("b", 0.0003, 0.0004)])
    (freer,) = [t for t in started if t.name == "simcse-autotune-free"]
    assert not freer.daemon


def test_candidates_left_out_against_one_that_then_fails_are_brought_back(caplog):
    # "leader" has the fastest probe but fails on the workload's bulk call; "ok" was more than 2x slower on the
    # probe: it must still be measured and chosen, not lost with the leader
    leader, ok = Fake("leader", 0.0001, 0.00001, fail_bulk=True), Fake("ok", 0.0003, 0.0002)
    choice, winner, _ = race([leader, ok])
    assert winner.name == "ok" and choice.measurements["ok"].workload_s is not None
    assert "leader" not in choice.measurements and "leader does not run here" in caplog.text
