"""The compute floor: FLOPs the model must do, over the peak GEMM rate measured here.

FLOPs per sentence of a BERT encoder with n real tokens: L·n·(8H² + 4H·F) for the
projections and FFN, plus L·4·n²·H for attention scores and weighted sums (multiply-adds
count 2). The peak rates are measured in the same run with onnxruntime MatMul (fp32) and
MatMulInteger (u8×s8), the kernels the model's graphs use, on the same threads.
"""

from __future__ import annotations

import time

import numpy as np


def flops(token_counts: np.ndarray, layers: int, hidden: int, ffn: int) -> float:
    """Total FLOPs to encode sentences of the given real token counts (no padding)."""
    n = token_counts.astype(np.float64)
    return float(layers * (n.sum() * (8 * hidden**2 + 4 * hidden * ffn) + 4 * hidden * (n**2).sum()))


def _matmul_model(int8: bool, m: int, k: int, n: int):  # -> onnx.ModelProto
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    if int8:
        w = numpy_helper.from_array(rng.integers(-127, 127, size=(k, n), dtype=np.int8), "w")
        node = helper.make_node("MatMulInteger", ["x", "w"], ["y"])
        x = helper.make_tensor_value_info("x", TensorProto.UINT8, [m, k])
        y = helper.make_tensor_value_info("y", TensorProto.INT32, [m, n])
    else:
        w = numpy_helper.from_array(rng.standard_normal((k, n)).astype(np.float32), "w")
        node = helper.make_node("MatMul", ["x", "w"], ["y"])
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [m, k])
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])
    graph = helper.make_graph([node], "gemm", [x], [y], initializer=[w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


def peak_gemm(threads: int, int8: bool, m: int = 1024, k: int = 384, n: int = 1536, seconds: float = 1.5) -> float:
    """Best GEMM rate in GFLOP/s (GOP/s for int8) at the model's FFN shape."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(_matmul_model(int8, m, k, n).SerializeToString(), opts, providers=["CPUExecutionProvider"])
    x = (np.random.default_rng(1).integers(0, 255, size=(m, k), dtype=np.uint8) if int8
         else np.random.default_rng(1).standard_normal((m, k)).astype(np.float32))
    for _ in range(3):
        sess.run(None, {"x": x})
    best, end = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        sess.run(None, {"x": x})
        best = min(best, time.perf_counter() - t)
    return 2 * m * k * n / best / 1e9
