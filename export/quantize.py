"""int8 quantisation recipes for CPU.

The default, ``static-smooth``, fixes every activation scale at export time from calibration
sentences and migrates the LayerNorm outlier channels into the weights (SmoothQuant, see
:mod:`export.smoothquant`). Measured on the real all-MiniLM-L6-v2 (STS-B test, fp32 82.03):
82.02 at every batch size, as fast as the dynamic recipes.

The dynamic recipes (onnxruntime's ``quantize_dynamic``) need no calibration, but quantise
activations with one scale per tensor per batch, so an embedding depends slightly on what
else is in its batch (STS-B test 81.58-81.87 across batch sizes 1-128 with ``per-channel``).
Compare them all with ``benchmarks/int8_recipes.py``.

Weights are 7-bit (``weight_bits=7``: integers in [-63, 63]) in every recipe but ``static-smooth-w8``.
onnxruntime's u8 x s8 kernel on x86 CPUs without VNNI (AVX2 only: AMD Zen 1-3, Intel before Ice Lake)
multiplies with ``vpmaddubsw``, which adds two u8 x s8 products into a saturating int16: 255 x 127 x 2
overflows it, 255 x 63 x 2 does not. With 8-bit weights the same int8 file therefore computes other
numbers on an AVX2-only CPU than on the VNNI/AMX CPU that exported and gated it (random-weight
DeBERTa-v2: min cosine 0.849 there; all-MiniLM-L6-v2, 400 STS-B dev sentences under an emulated
Haswell: min 0.9903, mean 0.9945 against 0.9940 / 0.9965 here). With 7-bit weights no sum can saturate,
so the file computes the same on every x86 CPU kind (the emulated Haswell matched this machine to
4 decimals: min 0.9920, mean 0.9957), at the cost of one bit of weight resolution (the gate's STS-B
dev delta on all-MiniLM-L6-v2: +0.01 with 7 bits, -0.04 with 8). onnxruntime's own ``reduce_range``
option is the same idea for its quantisers. ``benchmarks/int8_cpu_kinds.py`` measures a model
directory on this CPU and on an emulated AVX2-only one.

Example:
    >>> quantize("model.onnx", "model.int8.onnx", RECIPES["per-channel"])   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnx
from simcse_sdk.inputs.batching import plan_batches
from simcse_sdk.model.tokenizer import SentenceTokenizer

from .calibration import calibration_sentences

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Int8Recipe:
    """How to quantise: weights' sign and granularity, and which MatMuls to keep in float32."""

    name: str  # the recipe's name, recorded in the manifest
    per_channel: bool  # one scale per output channel (True) or one per tensor
    signed_weights: bool  # int8 weights (True) or uint8
    keep_ffn_output_fp32: bool  # leave the FFN output projections (after GELU) unquantised
    quantize_attention: bool  # turn fused Attention into QAttention (else only MatMuls are quantised)
    static: bool = False  # fixed activation scales calibrated on sentences, instead of one per batch
    smooth_alpha: float | None = None  # static only: SmoothQuant migration strength for LayerNorm-fed MatMuls
    weight_bits: int = 7  # 7: no int16 saturation on AVX2-only CPUs (see the module docstring); 8: VNNI/AMX CPUs only

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


RECIPES = {
    r.name: r
    for r in (
        Int8Recipe("per-tensor", per_channel=False, signed_weights=True, keep_ffn_output_fp32=False, quantize_attention=True),
        Int8Recipe("per-channel", per_channel=True, signed_weights=True, keep_ffn_output_fp32=False, quantize_attention=True),
        Int8Recipe("per-channel-ffn-fp32", per_channel=True, signed_weights=True, keep_ffn_output_fp32=True, quantize_attention=True),
        Int8Recipe("per-channel-u8", per_channel=True, signed_weights=False, keep_ffn_output_fp32=False, quantize_attention=True),
        Int8Recipe("per-channel-matmul-only", per_channel=True, signed_weights=True, keep_ffn_output_fp32=False, quantize_attention=False),
        Int8Recipe("static-smooth", per_channel=True, signed_weights=True, keep_ffn_output_fp32=False,
                   quantize_attention=True, static=True, smooth_alpha=0.5),
        Int8Recipe("static", per_channel=True, signed_weights=True, keep_ffn_output_fp32=False,
                   quantize_attention=True, static=True),
        # 8-bit weights: one more bit of resolution, but wrong sums on CPUs without VNNI (see the docstring).
        Int8Recipe("static-smooth-w8", per_channel=True, signed_weights=True, keep_ffn_output_fp32=False,
                   quantize_attention=True, static=True, smooth_alpha=0.5, weight_bits=8),
    )
}
DEFAULT_RECIPE = "static-smooth"
STATIC_RECIPES = tuple(name for name, r in RECIPES.items() if r.static)


def calibration_batches(
    path: Path, tokenizer: SentenceTokenizer, pad_id: int, limit: int = 512
) -> list[dict[str, np.ndarray]]:
    """Padded token batches of the first ``limit`` sentences of a training-format file, for static recipes
    (:func:`export.calibration.calibration_sentences`)."""
    sentences = calibration_sentences(path, limit)
    if not sentences:
        raise ValueError(f"calibration file {str(path)!r} holds no sentences: pass --calibration FILE")
    batches = plan_batches(tokenizer.encode(sentences), batch_size=32, max_tokens=8192, pad_id=pad_id)
    return [{"input_ids": b.input_ids, "attention_mask": b.attention_mask} for b in batches]


def ffn_output_matmuls(model: onnx.ModelProto) -> list[str]:
    """Names of the MatMul nodes whose input is a GELU output: the FFN output projections."""
    gelu_outputs = {
        out for node in model.graph.node if node.op_type in ("BiasGelu", "Gelu", "FastGelu") for out in node.output
    }
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and n.input and n.input[0] in gelu_outputs]


def quantize(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    recipe: Int8Recipe,
    calibration: list[dict[str, np.ndarray]] | None = None,
) -> dict[str, object]:
    """Write the int8 graph of ``src`` to ``dst``; return what was done (for the manifest).

    ``calibration``: padded token batches (``input_ids``, ``attention_mask``) for static recipes.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if recipe.static:
        return _quantize_static(src, dst, recipe, calibration)

    model = onnx.load(str(src))
    exclude = ffn_output_matmuls(model) if recipe.keep_ffn_output_fp32 else []
    if recipe.keep_ffn_output_fp32 and not exclude:
        raise RuntimeError("found no FFN output MatMul (after GELU) to keep in float32: is the graph fused?")
    op_types = ["MatMul", "Attention"] if recipe.quantize_attention else ["MatMul"]
    quantize_dynamic(
        str(src),
        str(dst),
        per_channel=recipe.per_channel,
        weight_type=QuantType.QInt8 if recipe.signed_weights else QuantType.QUInt8,
        op_types_to_quantize=op_types,
        nodes_to_exclude=exclude,
        reduce_range=recipe.weight_bits == 7,  # onnxruntime's 7-bit weights
        # Avoids "Unable to find data type for weight_name" on fused graphs.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    logger.info("int8 (%s): %d MatMul(s) kept in float32", recipe.name, len(exclude))
    return {**recipe.to_dict(), "excluded_nodes": exclude}


def _quantize_static(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], recipe: Int8Recipe,
    calibration: list[dict[str, np.ndarray]] | None,
) -> dict[str, object]:
    from .smoothquant import quantize_static_smooth

    if not calibration:
        raise ValueError(f"int8 recipe {recipe.name!r} needs calibration sentences: pass --calibration FILE")
    done = quantize_static_smooth(src, dst, calibration, alpha=recipe.smooth_alpha, weight_bits=recipe.weight_bits)
    return {**recipe.to_dict(), "excluded_nodes": [], **done}
