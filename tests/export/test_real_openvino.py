"""OpenVINO variants of the real all-MiniLM-L6-v2 agree with onnxruntime fp32 (min cosine, STS-B test)."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.real
pytest.importorskip("openvino", reason="the openvino extra: pip install -e '.[openvino]'")

# min cosine to onnxruntime fp32 on the STS-B test sentences, STS-B test points allowed below it.
LIMITS = {"ov-fp32": (0.99999, 0.01), "ov-bf16": (0.999, 0.1), "ov-int8": (0.95, 0.3)}


@pytest.fixture(scope="module")
def stsb(data_dir):
    from simcse_sdk.evaluation.senteval import load_stsb

    return load_stsb(data_dir, "test")


def _score(emb, test):
    from scipy.stats import spearmanr

    n = len(test.first)
    return 100 * spearmanr((emb[:n] * emb[n:]).sum(1), test.gold)[0]


def test_openvino_variants_match_onnxruntime_fp32(minilm_model_dir, stsb):
    from simcse_sdk import Encoder

    sentences = list(stsb.first) + list(stsb.second)
    ref = Encoder(minilm_model_dir, device="cpu", variant="fp32").encode(sentences)
    fp32 = _score(ref, stsb)
    names = [n for n in LIMITS if n in Encoder(minilm_model_dir, device="cpu", variant="fp32").manifest.variants]
    assert "ov-fp32" in names and "ov-int8" in names
    for name in names:
        emb = Encoder(minilm_model_dir, device="cpu", variant=name).encode(sentences)
        cos = (emb * ref).sum(1) / np.linalg.norm(emb, axis=1) / np.linalg.norm(ref, axis=1)
        min_cos, max_drop = LIMITS[name]
        assert cos.min() >= min_cos, (name, cos.min())
        assert fp32 - _score(emb, stsb) <= max_drop, (name, fp32, _score(emb, stsb))


def test_auto_runs_a_measured_choice(minilm_model_dir, tmp_path):
    from simcse_sdk import Encoder

    enc = Encoder(minilm_model_dir, device="cpu", cache_dir=tmp_path)
    assert enc.choice.reason == "measured" and len(enc.choice.measurements) >= 4  # fp32, int8, ov-fp32, ov-int8...
    best = min(enc.choice.measurements, key=lambda n: enc.choice.measurements[n].workload_s)
    assert enc.variant == best
