"""OpenVINO variants of the model directory (``python -m export ... --openvino``; extra ``openvino``).

The fused onnxruntime graphs use com.microsoft contrib ops (Attention, SkipLayerNormalization...)
that OpenVINO cannot read, so the OpenVINO variants start from the plain standard-op graph that
torch exported, converted to OpenVINO IR (``model.ov.xml`` + ``model.ov.bin``, float32 weights):

- ``ov-fp32``: computes in float32 (inference precision hint ``f32``);
- ``ov-bf16``: the same files, matrix multiplies in bfloat16; only where OpenVINO's CPU plugin reports
  BF16 (AVX512-BF16 / AMX). OpenVINO does this by default on such CPUs; recording it as a variant of
  its own means its accuracy is gated, and a CPU without bf16 never runs a variant gated in bf16;
- ``ov-int8`` (with ``--int8``): NNCF post-training quantisation (transformer preset), calibrated on
  the same sentences as onnxruntime's static int8, saved as ``model.ov-int8.xml/.bin``; its
  non-quantised ops run in f32 (in bf16 a few sentences lost most of their accuracy, min cosine 0.53).

Each variant goes through the same accuracy gate as the others; which one runs is then measured
on the user's machine (``Encoder(variant="auto")``).

Example:
    >>> variants = build_variants(tmp / "raw.onnx", tmp, calibration=None)   # doctest: +SKIP
    >>> sorted(variants)                                                      # doctest: +SKIP
    ['ov-bf16', 'ov-fp32']
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from simcse_sdk.model.manifest import DTYPES, Variant, sha256_file

logger = logging.getLogger(__name__)

FILES = {"ov-fp32": "model.ov.xml", "ov-int8": "model.ov-int8.xml"}
EXTRA = "pip install 'simcse-sdk[export,export-openvino]'"


def _modules() -> tuple[Any, Any]:
    try:
        import nncf
        import openvino
    except ImportError as e:
        raise ValueError(f"--openvino needs OpenVINO and NNCF ({e}): {EXTRA}") from e
    return openvino, nncf


def has_bf16() -> bool:
    """Whether OpenVINO's CPU plugin computes in bfloat16 on this machine."""
    ov, _ = _modules()
    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


# The IR's op types the report counts: matrix multiplies, int8 quantisation points, attention and norms.
REPORTED_OPS = ("MatMul", "FakeQuantize", "Softmax", "MVN", "Gelu")


def op_counts(model: Any) -> dict[str, int]:
    """How many of each of :data:`REPORTED_OPS` an OpenVINO model holds (the report's "ops" cell)."""
    counts: dict[str, int] = {}
    for op in model.get_ordered_ops():
        name = op.get_type_name()
        if name in REPORTED_OPS:
            counts[name] = counts.get(name, 0) + 1
    return {k: counts[k] for k in REPORTED_OPS if k in counts}


def _variant(folder: Path, xml: str, dtype: str, precision: str, quantization: dict[str, Any],
             ops: dict[str, int]) -> Variant:
    bin_name = xml[: -len(".xml")] + ".bin"
    return Variant(file=xml, sha256=sha256_file(folder / xml), dtype=DTYPES[dtype], device="cpu", runtime="openvino",
                   runtime_options={"precision": precision}, quantization=quantization, fused_ops=ops,
                   extra_files={bin_name: sha256_file(folder / bin_name)})


def build_variants(raw_onnx: Path, folder: Path, calibration: list[dict[str, np.ndarray]] | None,
                   calibration_file: Path | None = None) -> dict[str, Variant]:
    """Write the OpenVINO IR files into ``folder`` and describe their variants (ov-int8 only with ``calibration``,
    the padded batches of ``calibration_file``'s sentences)."""
    ov, nncf = _modules()
    model = ov.convert_model(str(raw_onnx))
    ov.save_model(model, str(folder / FILES["ov-fp32"]), compress_to_fp16=False)  # fp32 weights: f32 stays exact
    bf16 = has_bf16()
    ops = op_counts(model)
    variants = {"ov-fp32": _variant(folder, FILES["ov-fp32"], "fp32", "f32", {}, ops)}
    if bf16:
        variants["ov-bf16"] = _variant(folder, FILES["ov-fp32"], "fp32", "bf16", {}, ops)
    else:
        logger.info("OpenVINO reports no BF16 on this CPU: no ov-bf16 variant")
    if calibration:
        names = [p.get_any_name() for p in model.inputs]
        dataset = nncf.Dataset(calibration, lambda b: {k: v for k, v in b.items() if k in names})
        # The dataset's items are padded batches: subset_size counts items, so all of them are used.
        # overflow_fix ENABLE: 7-bit weights in every layer (NNCF's default, first layer only), for the reason
        # export.quantize gives: u8 x s8 sums saturate int16 on CPUs without VNNI.
        quantized = nncf.quantize(model, dataset, model_type=nncf.ModelType.TRANSFORMER, subset_size=len(calibration),
                                  advanced_parameters=nncf.AdvancedQuantizationParameters(
                                      overflow_fix=nncf.OverflowFix.ENABLE))
        ov.save_model(quantized, str(folder / FILES["ov-int8"]), compress_to_fp16=False)
        recipe = {"name": "nncf-ptq-transformer", "tool": f"nncf {nncf.__version__}", "static": True,
                  "calibration_sentences": sum(len(b["input_ids"]) for b in calibration),
                  "overflow_fix": "enable", "weight_bits": 7,
                  "calibration_file": str(calibration_file.resolve()) if calibration_file else None}
        # Its float ops in f32: with bf16 some 31-32-token STS-B dev sentences came out at cosine 0.53-0.71 to fp32
        # (min 0.983 in f32, and independent of batching).
        variants["ov-int8"] = _variant(folder, FILES["ov-int8"], "int8", "f32", recipe, op_counts(quantized))
    logger.info("OpenVINO %s variants: %s", ov.__version__, ", ".join(variants))
    return variants


def remove_files(folder: Path, variant: Variant, keep: dict[str, Variant]) -> None:
    """Delete a refused variant's files, except those a kept variant still uses (ov-fp32 and ov-bf16 share)."""
    used = {f for v in keep.values() for f in (v.file, *v.extra_files)}
    for name in (variant.file, *variant.extra_files):
        if name not in used:
            (folder / name).unlink(missing_ok=True)


def size_mb(folder: Path, variant: Variant) -> float:
    """The variant's files on disk, in MiB."""
    return sum((folder / f).stat().st_size for f in (variant.file, *variant.extra_files)) / 2**20
