"""The CPU graph rewrites (SkipLayerNorm split, bias folding) and static int8 smoothing, on small graphs."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from export.optimize import fold_bias_into_int8_matmul, split_skip_layer_norm
from export.smoothquant import quantize_static_smooth

H = 16
OPSETS = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
rng = np.random.default_rng(0)


def _init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def _run(path, feeds):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"],
                                   disabled_optimizers=["SkipLayerNormFusion"])
    return session.run(None, feeds)


def _ops(path):
    return [n.op_type for n in onnx.load(str(path)).graph.node]


def _save(tmp_path, nodes, inputs, inits, name="m.onnx"):
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", "s", "n"])]
    graph = helper.make_graph(nodes, "g", inputs, outputs, inits)
    path = tmp_path / name
    onnx.save(helper.make_model(graph, opset_imports=OPSETS), str(path))
    return path


def _x(name="x", k=H):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["b", "s", k])


def test_split_skip_layer_norm_gives_the_same_output(tmp_path):
    inits = [_init("g", rng.normal(1, 0.1, H).astype(np.float32)), _init("b", rng.normal(0, 0.1, H).astype(np.float32)),
             _init("bias", rng.normal(0, 0.1, H).astype(np.float32))]
    node = helper.make_node("SkipLayerNormalization", ["x", "skip", "g", "b", "bias"], ["y"], domain="com.microsoft",
                            epsilon=1e-12)
    path = _save(tmp_path, [node], [_x(), _x("skip")], inits)
    feeds = {"x": rng.normal(size=(3, 5, H)).astype(np.float32), "skip": rng.normal(size=(3, 5, H)).astype(np.float32)}
    before = _run(path, feeds)[0]
    assert split_skip_layer_norm(path) == 1
    assert _ops(path) == ["Add", "Add", "LayerNormalization"]
    np.testing.assert_allclose(_run(path, feeds)[0], before, atol=1e-5)


def _int8_matmul_graph(tmp_path, tail):
    """QuantizeLinear -> MatMulIntegerToFloat -> ``tail`` (BiasGelu or Add with a constant bias)."""
    w = rng.integers(-127, 128, size=(H, H)).astype(np.int8)
    inits = [_init("xs", np.float32(0.05)), _init("xz", np.uint8(128)), _init("w", w),
             _init("ws", np.full(H, 0.01, np.float32)), _init("wz", np.zeros(H, np.int8)),
             _init("bias", rng.normal(0, 0.5, H).astype(np.float32))]
    nodes = [helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
             helper.make_node("MatMulIntegerToFloat", ["xq", "w", "xs", "ws", "xz", "wz"], ["mm"], domain="com.microsoft"),
             helper.make_node(tail, ["mm", "bias"], ["y"], domain="com.microsoft" if tail == "BiasGelu" else "")]
    return _save(tmp_path, nodes, [_x()], inits, name=f"{tail}.onnx")


@pytest.mark.parametrize("tail,after", [("BiasGelu", "Gelu"), ("Add", None)])
def test_bias_folded_into_int8_matmul_gives_the_same_output(tmp_path, tail, after):
    path = _int8_matmul_graph(tmp_path, tail)
    feeds = {"x": rng.normal(size=(2, 7, H)).astype(np.float32)}
    before = _run(path, feeds)[0]
    assert fold_bias_into_int8_matmul(path) == 1
    assert _ops(path) == ["QuantizeLinear", "MatMulIntegerToFloat"] + ([after] if after else [])
    np.testing.assert_allclose(_run(path, feeds)[0], before, atol=1e-4)


def test_split_handles_unnamed_nodes(tmp_path):
    inits = [_init("g", np.ones(H, np.float32)), _init("b", np.zeros(H, np.float32))]
    nodes = [helper.make_node("SkipLayerNormalization", ["x", "skip", "g", "b"], ["h"], domain="com.microsoft"),
             helper.make_node("SkipLayerNormalization", ["h", "skip", "g", "b"], ["y"], domain="com.microsoft")]
    path = _save(tmp_path, nodes, [_x(), _x("skip")], inits)
    feeds = {"x": rng.normal(size=(2, 3, H)).astype(np.float32), "skip": rng.normal(size=(2, 3, H)).astype(np.float32)}
    before = _run(path, feeds)[0]
    assert split_skip_layer_norm(path) == 2
    np.testing.assert_allclose(_run(path, feeds)[0], before, atol=1e-5)


def test_a_bias_of_the_wrong_shape_is_not_folded(tmp_path):
    path = _int8_matmul_graph(tmp_path, "Add")
    model = onnx.load(str(path))
    bias = next(i for i in model.graph.initializer if i.name == "bias")
    bias.CopyFrom(_init("bias", rng.normal(size=(3, H)).astype(np.float32)))  # broadcasts in Add, not in the MatMul
    onnx.save(model, str(path))
    assert fold_bias_into_int8_matmul(path) == 0


def test_smoothing_cuts_the_error_that_layernorm_outlier_channels_cause(tmp_path):
    # A LayerNorm whose gamma makes 2 of 16 channels 40x larger, as BERT's do, feeding a MatMul.
    rng = np.random.default_rng(1)
    gamma = np.ones(H, np.float32)
    gamma[[3, 11]] = 40.0
    inits = [_init("g", gamma), _init("b", np.zeros(H, np.float32)),
             _init("w", rng.normal(0, 0.2, (H, 24)).astype(np.float32))]
    nodes = [helper.make_node("LayerNormalization", ["x", "g", "b"], ["h"], axis=-1, epsilon=1e-5),
             helper.make_node("MatMul", ["h", "w"], ["y"])]
    path = _save(tmp_path, nodes, [_x()], inits)
    calib = [{"x": rng.normal(size=(4, 6, H)).astype(np.float32), "attention_mask": np.ones((4, 6), np.int64)}
             for _ in range(4)]
    feeds = {"x": rng.normal(size=(8, 6, H)).astype(np.float32)}
    exact = _run(path, feeds)[0]
    errors = {}
    for alpha in (None, 0.5):
        out = tmp_path / f"q{alpha}.onnx"
        done = quantize_static_smooth(path, out, calib, alpha=alpha)
        assert done["smoothed_nodes"] == (0 if alpha is None else 1)
        assert "MatMulIntegerToFloat" in _ops(out)
        errors[alpha] = float(np.abs(_run(out, feeds)[0] - exact).mean())
    assert errors[0.5] < 0.7 * errors[None], errors  # outliers migrated into the weight: less error


def test_static_int8_refuses_a_graph_with_nothing_to_quantise(tmp_path):
    path = _save(tmp_path, [helper.make_node("Relu", ["x"], ["y"])], [_x()], [])
    with pytest.raises(ValueError, match="no MatMul with a constant weight"):
        quantize_static_smooth(path, tmp_path / "q.onnx", [{"x": np.ones((1, 2, H), np.float32),
                                                            "attention_mask": np.ones((1, 2), np.int64)}])
