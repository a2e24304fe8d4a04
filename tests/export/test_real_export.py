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
    assert ops == {"EmbedLayerNormalization": 1, "Attention": 6, "LayerNormalization": 12, "BiasGelu": 6}


def test_fp32_gate(manifest):
    gate = manifest["variants"]["fp32"]["gate"]
    assert gate["probe_set"].startswith("STS-B dev") and gate["probes"] > 2500
    assert gate["min_cos"] >= 0.99999 and gate["passed"]
    assert 85.0 < gate["stsb_dev_torch"] < 89.0  # all-MiniLM-L6-v2, mean pooling, max length 256
    assert abs(gate["stsb_dev_delta"]) < 0.01


def test_int8_gate(manifest):
    int8 = manifest["variants"]["int8"]
    assert int8["quantization"]["name"] == "static-smooth" and int8["device"] == "cpu"
    assert int8["quantization"]["smoothed_nodes"] == 12  # the 6 QKV and 6 FFN-in MatMuls read a LayerNorm
    assert int8["gate"]["passed"]
    assert int8["gate"]["stsb_dev_delta"] >= -0.3  # measured -0.04
    assert int8["gate"]["mean_cos"] >= 0.994  # measured 0.9961 (dynamic per-channel: 0.9934)
    assert int8["fused_ops"]["QAttention"] == 6 and int8["fused_ops"]["MatMulIntegerToFloat"] == 18


def test_int8_costs_under_0_3_stsb_test_points_at_any_batch_size(minilm_model_dir, data_dir):
    from scipy.stats import spearmanr
    from simcse_sdk import Encoder
    from simcse_sdk.evaluation.data.senteval import load_stsb

    test = load_stsb(data_dir, "test")
    n = len(test.first)

    def score(emb):
        return 100 * spearmanr((emb[:n] * emb[n:]).sum(1), test.gold)[0]

    sents = list(test.first) + list(test.second)
    fp32 = score(Encoder(minilm_model_dir, device="cpu", variant="fp32").encode(sents))
    int8 = Encoder(minilm_model_dir, device="cpu", variant="int8")
    by_batch = {bs: score(int8.encode(sents, batch_size=bs)) for bs in (1, 64)}
    assert abs(by_batch[1] - by_batch[64]) < 1e-3, by_batch  # static scales: batching does not move results
    assert fp32 - by_batch[64] <= 0.3, (fp32, by_batch)  # measured 82.03 -> 82.02


def test_fp16_built_and_close(manifest, minilm_model_dir):
    fp16 = manifest["variants"]["fp16"]
    onnx.checker.check_model(str(minilm_model_dir / fp16["file"]))
    assert fp16["dtype"] == "float16" and fp16["gate"]["min_cos"] >= 0.999
    assert fp16["fused_ops"]["Attention"] == 6
