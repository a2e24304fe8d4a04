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
    from simcse_sdk.evaluation.data.senteval import load_stsb

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
    done = {n: m for n, m in enc.choice.measurements.items() if m.workload_s is not None}
    assert enc.variant == min(done, key=lambda n: done[n].workload_s)  # the fastest of those fully measured
    for n, m in enc.choice.measurements.items():  # every other one stopped early for a stated reason
        assert n in done or m.left_out, n
    assert enc.variant in enc.describe() and "measured now" in enc.describe()


def test_processes_that_measure_and_exit_at_once_end_cleanly(minilm_model_dir, tmp_path):
    # The losers of the measurement are freed on a thread; a process that exits while it runs must wait for it
    # (freeing sessions during interpreter shutdown crashed 2 starts in 6), and its first parallel infers must
    # not deadlock.
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from simcse_sdk import Encoder\n"
        "e = Encoder(sys.argv[1], device='cpu', threads=2, cache_dir=sys.argv[2])\n"
        "print(e.variant)\n"
    )
    for i in range(4):
        out = subprocess.run([sys.executable, "-c", code, str(minilm_model_dir), str(tmp_path / f"cache{i}")],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, (out.returncode, out.stderr[-2000:])
