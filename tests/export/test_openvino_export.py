"""OpenVINO variants: exported as IR with sha256s, gated, and run by the Encoder under the same contract."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

pytest.importorskip("openvino", reason="the openvino extra: pip install -e '.[openvino]'")

from simcse_sdk import Encoder  # noqa: E402
from simcse_sdk.errors import IntegrityError  # noqa: E402
from simcse_sdk.model.manifest import sha256_file  # noqa: E402

from export import openvino as ov_export  # noqa: E402

SENTENCES = ["A man plays a guitar.", "", "ok", "The quick brown fox jumps over the lazy dog. " * 60,
             "Someone is playing music outdoors on a sunny afternoon."] * 7


@pytest.fixture(scope="module")
def ov_model_dir(tmp_path_factory, tiny_bert_dir, calibration_file):
    from export.build import ExportOptions, build
    from export.gate import Thresholds

    out = tmp_path_factory.mktemp("tiny_ov_export") / "model"
    loose = Thresholds(min_cos={"fp32": 0.99999, "ov-fp32": 0.99999, "ov-bf16": 0.99, "int8": 0.0, "ov-int8": 0.0},
                       max_sts_drop={})  # random weights: int8 is noise
    outcome = build(ExportOptions(ckpt=str(tiny_bert_dir), out=str(out), int8=True, openvino=True, pooler="avg",
                                  thresholds=loose, calibration=str(calibration_file)))
    assert outcome.out == out and not outcome.refused, outcome
    return out


def test_manifest_lists_openvino_variants_with_their_files(ov_model_dir):
    manifest = json.loads((ov_model_dir / "manifest.json").read_text())["variants"]
    expected = {"ov-fp32", "ov-int8"} | ({"ov-bf16"} if ov_export.has_bf16() else set())
    assert expected <= set(manifest)
    for name in expected:
        v = manifest[name]
        assert v["runtime"] == "openvino" and v["device"] == "cpu" and v["file"].endswith(".xml")
        assert v["sha256"] == sha256_file(ov_model_dir / v["file"])
        ((weights, digest),) = v["extra_files"].items()
        assert weights.endswith(".bin") and digest == sha256_file(ov_model_dir / weights)
        assert v["gate"]["passed"] and v["gate"]["checked_on"] == "cpu"
    assert manifest["ov-fp32"]["runtime_options"] == {"precision": "f32"}
    assert manifest["ov-int8"]["quantization"]["calibration_sentences"] == 64
    assert manifest["fp32"]["runtime"] == "onnxruntime"


def test_the_report_fills_every_row_and_recipe_line(ov_model_dir):
    report = (ov_model_dir / "report.md").read_text()
    rows = [line for line in report.splitlines() if line.startswith("| ov-")]
    assert rows and all("MatMul×" in row and "inference precision" in row for row in rows), rows
    assert "FakeQuantize×" in next(row for row in rows if row.startswith("| ov-int8"))
    recipe = next(line for line in report.splitlines() if line.startswith("- ov-int8 recipe"))
    assert "post-training quantisation" in recipe and "7-bit weights" in recipe and "sentences.txt" in recipe
    assert "None" not in report and "?" not in report.replace("?)", "")


def test_ov_fp32_matches_onnxruntime_fp32_in_input_order(ov_model_dir):
    ref = Encoder(ov_model_dir, device="cpu", variant="fp32").encode(SENTENCES, batch_size=4)
    enc = Encoder(ov_model_dir, device="cpu", variant="ov-fp32")
    assert enc.choice.runtime == "openvino" and "OpenVINO" in enc.describe()
    for bs in (1, 4, 64):  # serial single batches, parallel small batches (streams), one batch
        emb = enc.encode(SENTENCES, batch_size=bs)
        cos = (emb * ref).sum(1) / np.linalg.norm(emb, axis=1) / np.linalg.norm(ref, axis=1)
        assert cos.min() > 0.99999, (bs, cos.min())


def test_openvino_encode_is_thread_safe(ov_model_dir):
    enc = Encoder(ov_model_dir, device="cpu", variant="ov-fp32", threads=2)
    expected = enc.encode(SENTENCES, batch_size=4)
    results, errors = [None] * 6, []

    def work(i):
        try:
            results[i] = enc.encode(SENTENCES[i:] + SENTENCES[:i], batch_size=4)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i, got in enumerate(results):
        np.testing.assert_allclose(got, np.roll(expected, -i, axis=0), atol=1e-5)


def test_changed_weights_file_is_refused(ov_model_dir, tmp_path):
    import shutil

    copy = tmp_path / "m"
    shutil.copytree(ov_model_dir, copy)
    with open(copy / "model.ov.bin", "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02\x03")
    with pytest.raises(IntegrityError, match="model.ov.bin"):
        Encoder(copy, device="cpu", variant="ov-fp32")
    Encoder(copy, device="cpu", variant="fp32")  # the other variants are untouched


def test_refused_variant_keeps_files_that_a_kept_variant_shares(tmp_path):
    from simcse_sdk.model.manifest import Variant

    for name in ("a.xml", "a.bin", "b.xml", "b.bin"):
        (tmp_path / name).write_text(name)
    shared = Variant("a.xml", "0" * 64, "float32", extra_files={"a.bin": "0" * 64})
    other = Variant("b.xml", "0" * 64, "int8", extra_files={"b.bin": "0" * 64})
    ov_export.remove_files(tmp_path, shared, {"still-there": shared})
    ov_export.remove_files(tmp_path, other, {"still-there": shared})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "a.xml"]


def test_running_an_openvino_variant_does_not_load_torch(ov_model_dir):
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from simcse_sdk import Encoder\n"
        f"e = Encoder({str(ov_model_dir)!r}, device='cpu', variant='ov-fp32')\n"
        "assert e.encode(['hello world']).shape == (1, e.dim)\n"
        "print(sorted(m for m in ('torch', 'transformers', 'sklearn', 'nncf') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_first_infer_of_a_process_runs_under_the_lock(ov_model_dir, monkeypatch):
    # OpenVINO 2026.4 deadlocked when a process's first two infers ran at once on two threads (both in the
    # bindings' one-time numpy set-up), as the Encoder's parallel batches and variant="auto"'s probe do.
    from simcse_sdk.runtimes import openvino as openvino_runtime

    class Recording:
        def __init__(self):
            self.entered = 0

        def __enter__(self):
            self.entered += 1

        def __exit__(self, *exc):
            return False

    lock = Recording()
    monkeypatch.setattr(openvino_runtime, "_FIRST_CALL", lock)
    monkeypatch.setattr(openvino_runtime, "_first_call_done", False)
    enc = Encoder(ov_model_dir, device="cpu", variant="ov-fp32")
    enc.encode(["one"])
    enc.encode(["two", "three"] * 40)
    assert lock.entered == 1 and openvino_runtime._first_call_done
