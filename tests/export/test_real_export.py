"""The export gate on the real all-MiniLM-L6-v2, probed with the STS-B dev sentences."""

import json

import onnx
import pytest

pytestmark = pytest.mark.real


@pytest.fixture(scope="module")
def manifest(minilm_model_dir):
    return json.loads((minilm_model_dir / "manifest.json").read_text())


def test_fused_graph(manifest):
    ops = manifest["variants"]["fp32"]["fused_ops"]
    assert ops == {"EmbedLayerNormalization": 1, "Attention": 6, "SkipLayerNormalization": 12, "BiasGelu": 6}


def test_fp32_gate(manifest):
    gate = manifest["variants"]["fp32"]["gate"]
    assert gate["probe_set"].startswith("STS-B dev") and gate["probes"] > 2500
    assert gate["min_cos"] >= 0.99999 and gate["passed"]
    assert 85.0 < gate["stsb_dev_torch"] < 89.0  # all-MiniLM-L6-v2, mean pooling, max length 256
    assert abs(gate["stsb_dev_delta"]) < 0.01


def test_int8_gate(manifest):
    int8 = manifest["variants"]["int8"]
    assert int8["quantization"]["per_channel"] and int8["device"] == "cpu"
    assert int8["gate"]["passed"]
    assert int8["gate"]["stsb_dev_delta"] >= -0.5
    assert int8["gate"]["mean_cos"] >= 0.99
    assert int8["fused_ops"].get("MatMulInteger", 0) + int8["fused_ops"].get("QAttention", 0) > 0


def test_fp16_built_and_close(manifest, minilm_model_dir):
    fp16 = manifest["variants"]["fp16"]
    onnx.checker.check_model(str(minilm_model_dir / fp16["file"]))
    assert fp16["dtype"] == "float16" and fp16["gate"]["min_cos"] >= 0.999
    assert fp16["fused_ops"]["Attention"] == 6
