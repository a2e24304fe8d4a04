"""Graph fusion with onnxruntime's transformer optimizer, and the fp16 conversion.

Example:
    >>> counts = fuse("raw.onnx", "model.onnx", num_heads=12, hidden_size=384)   # doctest: +SKIP
    >>> counts["Attention"]                                                      # doctest: +SKIP
    6
"""

from __future__ import annotations

import logging
import os
from collections import Counter

import onnx

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
    """Fuse attention, LayerNorm+residual and GELU; write ``dst``; return the fused op counts.

    Raises ``RuntimeError`` when attention was not fused (the graph would be correct but slow,
    and the int8/fp16 variants would be built from the wrong graph).
    """
    from onnxruntime.transformers import optimizer

    model = optimizer.optimize_model(
        str(src), model_type="bert", num_heads=num_heads, hidden_size=hidden_size, opt_level=0, use_gpu=False
    )
    model.save_model_to_file(str(dst))
    counts = op_counts(dst)
    if not counts.get("Attention"):
        raise RuntimeError(
            f"onnxruntime's optimizer did not fuse attention (ops: {counts}); export with the eager attention "
            "implementation and the TorchScript exporter, which is what export.graph does."
        )
    logger.info("fused graph: %s", counts)
    return counts


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
