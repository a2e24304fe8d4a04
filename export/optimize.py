"""Graph fusion with onnxruntime's transformer optimizer, the CPU LayerNorm split, and fp16.

onnxruntime's CPU kernel for the fused ``SkipLayerNormalization`` is a scalar loop with a
division per element; measured here (2 threads, 128x16x384 floats) it takes 2.1 ms where
``Add`` + the standard ``LayerNormalization`` take 0.3 ms, and it was 22 % of int8 inference
time. The graphs meant for CPU (fp32, int8) therefore carry ``Add`` + ``LayerNormalization``
(:func:`split_skip_layer_norm`), and int8 MatMuls add their bias themselves
(:func:`fold_bias_into_int8_matmul`); the SDK turns off onnxruntime's ``SkipLayerNormFusion`` on CPU
so that the session does not fuse them back. On CUDA the session fuses them again (fast there).

Fusion is tried on every architecture and kept only where it computes what the traced graph does
(:func:`fuse`); which ops were fused is recorded in the manifest and ``report.md``.

Example:
    >>> counts = fuse("raw.onnx", "model.onnx", num_heads=12, hidden_size=384)   # doctest: +SKIP
    >>> counts["Attention"]                                                      # doctest: +SKIP
    6
"""

from __future__ import annotations

import logging
import os
from collections import Counter

import numpy as np
import onnx
from onnx import helper

logger = logging.getLogger(__name__)

# Fused op types worth reporting (onnxruntime contrib ops).
FUSED_OP_TYPES = (
    "EmbedLayerNormalization",
    "Attention",
    "MultiHeadAttention",
    "SkipLayerNormalization",
    "BiasGelu",
    "FastGelu",
    "Gelu",
    "LayerNormalization",
    "QAttention",
    "MatMulIntegerToFloat",
    "DynamicQuantizeMatMul",
    "MatMulInteger",
    "DynamicQuantizeLinear",
    "QuantizeLinear",
    "DequantizeLinear",
)


def op_counts(path: str | os.PathLike[str]) -> dict[str, int]:
    """Count of each reported fused/quantised op type in an ONNX file (zeros left out)."""
    model = onnx.load(str(path), load_external_data=False)
    counts = Counter(node.op_type for node in model.graph.node)
    return {op: counts[op] for op in FUSED_OP_TYPES if counts[op]}


def fuse(src: str | os.PathLike[str], dst: str | os.PathLike[str], num_heads: int, hidden_size: int) -> dict[str, int]:
    """Fuse attention, LayerNorm+residual and GELU where onnxruntime knows the pattern; write ``dst``; return op counts.

    onnxruntime's transformer optimizer has one encoder fusion (``model_type="bert"``, its ``MODEL_TYPES``
    has no DistilBERT, MPNet, DeBERTa or ModernBERT entry); it is tried on every graph and fuses what it
    recognises. Its output is kept only if it computes what the traced graph computes (:func:`same_outputs`
    on padded probe batches); otherwise the unfused graph is written with onnxruntime's generic
    (provider-independent) graph optimisations. Attention not being fused is recorded in the counts
    (no ``Attention``), not an error.
    """
    from onnxruntime.transformers import optimizer

    try:
        model = optimizer.optimize_model(
            str(src), model_type="bert", num_heads=num_heads, hidden_size=hidden_size, opt_level=0, use_gpu=False
        )
        model.save_model_to_file(str(dst))
        agree = same_outputs(src, dst)
        if not agree:
            logger.warning("onnxruntime's fused graph computes something else than the traced one: not fused")
    except Exception as e:  # the optimizer's pattern matchers assume BERT-shaped graphs
        logger.warning("onnxruntime's optimizer failed on this graph (%s: %s): not fused", type(e).__name__, e)
        agree = False
    if not agree:
        generic_optimize(src, dst)
    counts = op_counts(dst)
    if not counts.get("Attention"):
        logger.info("attention not fused (onnxruntime's optimizer does not recognise it); other fused ops: %s", counts)
    logger.info("fused graph: %s", counts)
    return counts


def generic_optimize(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """Write ``src`` after onnxruntime's basic graph optimisations (constant folding, redundant nodes), any provider."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    opts.optimized_model_filepath = str(dst)
    opts.log_severity_level = 3  # its "cannot constant fold" notes about contrib ops are expected here
    ort.InferenceSession(str(src), opts, providers=["CPUExecutionProvider"])


def probe_feeds(path: str | os.PathLike[str]) -> list[dict[str, np.ndarray]]:
    """Two padded batches (lengths 7 and 19) of small token ids for the graph's inputs."""
    feeds = []
    for seq in (7, 19):
        ids = (np.arange(2 * seq, dtype=np.int64).reshape(2, seq) % 5) + 3  # (2, seq), ids 3-7
        mask = np.ones((2, seq), dtype=np.int64)
        mask[1, seq // 2:] = 0  # the second row padded
        feeds.append({"input_ids": ids, "attention_mask": mask})
    return feeds


def same_outputs(a: str | os.PathLike[str], b: str | os.PathLike[str], min_cos: float = 0.99999) -> bool:
    """Whether graphs ``a`` and ``b`` give the same embeddings (cosine >= ``min_cos`` each row) on :func:`probe_feeds`."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sessions = [ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"]) for p in (a, b)]
    for feed in probe_feeds(a):
        x, y = (s.run(None, feed)[0].astype(np.float64) for s in sessions)  # (2, dim) each
        if not (np.isfinite(y).all() and x.shape == y.shape):
            return False
        cos = (x * y).sum(1) / np.maximum(np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1), 1e-12)
        if cos.min() < min_cos:
            return False
    return True


def _save_with_nodes(model: onnx.ModelProto, nodes: list[onnx.NodeProto], path: str | os.PathLike[str]) -> None:
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def split_skip_layer_norm(path: str | os.PathLike[str]) -> int:
    """Rewrite each ``SkipLayerNormalization`` in ``path`` as Add(s) + ``LayerNormalization``; return how many.

    A node whose mean/inverse-std outputs are used is left fused (nothing in a BERT encoder uses them).
    """
    model = onnx.load(str(path))
    used = {name for node in model.graph.node for name in node.input} | {o.name for o in model.graph.output}
    nodes, split = [], 0
    for index, node in enumerate(model.graph.node):
        if node.op_type != "SkipLayerNormalization" or any(o in used for o in node.output[1:3] if o):
            nodes.append(node)
            continue
        name = f"{node.name or 'SkipLayerNorm'}_split{index}"  # unique even when names are empty or repeated
        x, skip, gamma = node.input[:3]
        beta = node.input[3] if len(node.input) > 3 else ""
        bias = node.input[4] if len(node.input) > 4 else ""
        eps = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-12)
        total = f"{name}_sum"
        if bias:  # (x + bias) first: fold_bias_into_int8_matmul can then move it into the MatMul
            nodes.append(helper.make_node("Add", [x, bias], [f"{name}_biased"], name=f"{name}_bias"))
            x = f"{name}_biased"
        nodes.append(helper.make_node("Add", [x, skip], [total], name=f"{name}_add"))
        if len(node.output) > 3 and node.output[3] in used:  # the residual sum, when a later node reads it
            nodes.append(helper.make_node("Identity", [total], [node.output[3]], name=f"{name}_sum_out"))
        inputs = [total, gamma] + ([beta] if beta else [])
        nodes.append(helper.make_node("LayerNormalization", inputs, [node.output[0]], name=f"{name}_ln",
                                      axis=-1, epsilon=eps))
        split += 1
    if split:
        if next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0) < 17:
            raise RuntimeError(f"{path}: LayerNormalization needs opset >= 17; export with export.graph.OPSET")
        _save_with_nodes(model, nodes, path)
    logger.info("%s: %d SkipLayerNormalization split into Add + LayerNormalization", path, split)
    return split


def fold_bias_into_int8_matmul(path: str | os.PathLike[str]) -> int:
    """Move constant bias adds into the ``MatMulIntegerToFloat`` that feeds them; return how many.

    ``Add(matmul_out, bias)`` disappears; ``BiasGelu(matmul_out, bias)`` becomes ``Gelu``. Each saves
    one pass over the activation (the kernel adds the bias while the output is still in cache).
    """
    model = onnx.load(str(path))
    # A foldable bias is a float32 vector as long as the MatMul's output row.
    vectors = {i.name: list(i.dims) for i in model.graph.initializer
               if i.data_type == onnx.TensorProto.FLOAT and len(i.dims) == 1}
    weight_cols = {i.name: int(i.dims[-1]) for i in model.graph.initializer if len(i.dims) == 2}
    producer = {out: n for n in model.graph.node for out in n.output}
    readers = Counter(name for n in model.graph.node for name in n.input)
    readers.update(o.name for o in model.graph.output)
    nodes, folded = [], 0
    for index, node in enumerate(model.graph.node):
        mm = producer.get(node.input[0]) if node.input else None
        if (node.op_type in ("Add", "BiasGelu") and len(node.input) == 2 and mm is not None
                and mm.op_type == "MatMulIntegerToFloat" and len(mm.input) == 6 and readers[node.input[0]] == 1
                and vectors.get(node.input[1]) == [weight_cols.get(mm.input[1], -1)]):
            mm.input.append(node.input[1])
            folded += 1
            if node.op_type == "Add":
                mm.output[0] = node.output[0]  # the MatMul's output had this Add as its only reader
            else:
                nodes.append(helper.make_node("Gelu", [node.input[0]], list(node.output), name=f"{node.name or 'BiasGelu'}_gelu{index}",
                                              domain="com.microsoft"))
            continue
        nodes.append(node)
    if folded:
        _save_with_nodes(model, nodes, path)
        logger.info("%s: %d bias add(s) folded into int8 MatMuls", path, folded)
    return folded


def prepare_for_cpu(path: str | os.PathLike[str]) -> dict[str, int]:
    """The CPU graph rewrites in order (LayerNorm split, then int8 bias folding); return the op counts."""
    split_skip_layer_norm(path)
    fold_bias_into_int8_matmul(path)
    return op_counts(path)


def to_fp16(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> dict[str, int]:
    """Convert a fused fp32 graph to fp16 weights and compute, keeping float32 inputs/outputs.

    onnxruntime's converter keeps the ops that must stay float32 (its default block list, e.g.
    the final normalisation's reductions where they are unsafe) and inserts the casts.
    """
    from onnxruntime.transformers.onnx_model import OnnxModel

    model = OnnxModel(onnx.load(str(src)))
    model.convert_float_to_float16(keep_io_types=True)
    model.save_model_to_file(str(dst))
    return op_counts(dst)
