"""int8 computes the same on every x86 CPU kind: checked on this CPU and on an AVX2-only one emulated by qemu-user.

onnxruntime's u8 x s8 kernel on CPUs without VNNI adds pairs of products into a saturating int16; the export's
7-bit weights keep every pair sum in range (export/quantize.py). qemu-x86_64 -cpu Haswell runs the real AVX2
kernel (QEMU translates AVX2, not AVX-512), so these tests see what an AMD Zen 3 or an older Intel computes.
CI installs qemu-user (.ci/run); without it they are skipped, saying so.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from export.build import ExportOptions, build

REPO = Path(__file__).resolve().parents[2]
QEMU = shutil.which("qemu-x86_64")
pytestmark = pytest.mark.skipif(QEMU is None or platform.machine() != "x86_64",
                                reason="needs qemu-x86_64 on x86_64 (apt-get install qemu-user) to emulate an AVX2 CPU")

# One MatMulIntegerToFloat: 8 rows of u8 255 against int8 weights all equal to LEVEL; prints y[0, 0] and K*255*LEVEL,
# a line for each LEVEL given (one emulated start for all: a start under qemu costs seconds).
KERNEL = """
import sys, numpy as np, onnxruntime as ort
from onnx import helper, numpy_helper, TensorProto
for level, k in [(int(a), 64) for a in sys.argv[1:]]:
  inits = [numpy_helper.from_array(np.full((k, 16), level, np.int8), "w"), numpy_helper.from_array(np.array(1, np.float32), "sa"),
           numpy_helper.from_array(np.ones(16, np.float32), "sw"), numpy_helper.from_array(np.array(0, np.uint8), "za"),
           numpy_helper.from_array(np.zeros(16, np.int8), "zw")]
  node = helper.make_node("MatMulIntegerToFloat", ["a", "w", "sa", "sw", "za", "zw"], ["y"], domain="com.microsoft")
  graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("a", TensorProto.UINT8, [None, k])],
                            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 16])], inits)
  model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
  s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
  print(float(s.run(None, {"a": np.full((8, k), 255, np.uint8)})[0][0, 0]), k * 255 * level)
"""


def run_emulated(*args: str) -> str:
    done = subprocess.run([QEMU, "-cpu", "Haswell", sys.executable, *args], capture_output=True, text=True,
                          timeout=600, cwd=REPO)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def kernel(*levels: int) -> list[tuple[float, int]]:
    """(the emulated CPU's y[0, 0], the exact sum) for weights of each level."""
    return [(float(got), int(exact)) for got, exact in
            (line.split() for line in run_emulated("-c", KERNEL, *map(str, levels)).splitlines())]


def test_the_emulated_avx2_kernel_saturates_8_bit_weights_and_not_7_bit_ones():
    (got, exact), (got7, exact7) = kernel(127, 63)
    assert got < exact  # 8-bit weights: pairs of 255 x 127 saturate at 32767 (this is what the emulation shows)
    assert got == 32 * 32767  # 64 products: 32 saturated pairs
    assert got7 == exact7  # 7-bit weights, the export's: exact


def test_the_exported_int8_embeds_the_same_on_an_avx2_cpu(tmp_path, tiny_bert_dir, calibration_file):
    out = tmp_path / "m"
    outcome = build(ExportOptions(ckpt=str(tiny_bert_dir), out=str(out), int8=True, pooler="avg",
                                  calibration=str(calibration_file)))
    assert "int8" in outcome.published, outcome
    sys.path.insert(0, str(REPO / "benchmarks"))
    from int8_cpu_kinds import embed

    sentences = ["a short one", "the quick brown fox jumps over the lazy dog " * 6, "x", "sentence number 3"]
    (tmp_path / "s.json").write_text(__import__("json").dumps(sentences), encoding="utf-8")
    run_emulated("benchmarks/int8_cpu_kinds.py", "--worker", str(out), "int8", str(tmp_path / "s.json"),
                 str(tmp_path / "e.npy"))
    here, there = embed(out, "int8", sentences), np.load(tmp_path / "e.npy")
    cos = (here * there).sum(1) / np.linalg.norm(here, axis=1) / np.linalg.norm(there, axis=1)
    assert cos.min() > 0.99999, cos  # the same numbers, up to float rounding in the non-integer ops
