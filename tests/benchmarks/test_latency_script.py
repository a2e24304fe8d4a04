"""The benchmark's arithmetic and its refusal to compare numbers from another machine."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from benchmarks.floor import flops, peak_gemm

ROOT = Path(__file__).resolve().parents[2]


def test_flops_per_token_of_minilm_at_length_32():
    # L·(8H² + 4H·F + 4S·H) with L=6, H=384, F=1536, S=32: about 21.5 MFLOP a token.
    per_token = flops(np.array([32]), layers=6, hidden=384, ffn=1536) / 32
    assert abs(per_token - 21.53e6) < 0.01e6


def test_peak_gemm_is_positive_and_finite():
    rate = peak_gemm(threads=1, int8=False, m=64, k=64, n=64, seconds=0.05)
    assert np.isfinite(rate) and rate > 0


def test_refuses_baseline_from_another_machine(tmp_path):
    fake = tmp_path / "old.json"
    fake.write_text(json.dumps({"machine": {"fingerprint": "Some Other CPU|avx2|64|cpu"}, "results": []}))
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "latency.py"), "--baseline", str(fake)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert "refusing to compare" in proc.stderr and "Some Other CPU" in proc.stderr


def test_st_onnx_system_without_its_environment_says_how_to_build_it(tmp_path):
    import argparse

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import latency

    args = argparse.Namespace(st_onnx_python=str(tmp_path / "no-env" / "bin" / "python"))
    result = latency.run_system("st-onnx-int8", args)
    assert result["system"] == "st-onnx-int8"
    assert "benchmarks/st_onnx_env.sh" in result["error"] and "no-env" in result["error"]
