"""The export pipeline: checkpoint -> gated model directory, written atomically.

Steps: read the checkpoint's facts (:mod:`export.source`); trace the embedding module to
ONNX (:mod:`export.graph`); fuse it (fp32), derive fp16 and int8 from the fused graph, split
SkipLayerNorm in the CPU graphs (fp32, int8; see :mod:`export.optimize`);
write tokenizer and manifest; measure every variant against torch (:mod:`export.gate`);
drop the ones that fail (unless ``keep_failed``); write ``report.md``; rename the build
folder into place (:mod:`export.output`). Until that rename nothing exists at the output path, and an
interrupted export leaves nothing behind but a hidden temporary folder that is removed.

Example:
    >>> outcome = build(ExportOptions(ckpt="runs/unsup/best", out="models/unsup", int8=True))   # doctest: +SKIP
    >>> outcome.published, outcome.refused                                                    # doctest: +SKIP
    (['fp32', 'int8'], [])
"""

from __future__ import annotations

import dataclasses
import logging
import platform
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from simcse_sdk.errors import InvalidArgumentError
from simcse_sdk.inputs.batching import plan_batches
from simcse_sdk.model.manifest import DTYPES, FORMAT_VERSION, TOKENIZER_NAME, Manifest, Variant, sha256_file
from simcse_sdk.model.tokenizer import SentenceTokenizer
from simcse_sdk.runtimes.machine import cpu_description
from simcse_sdk.runtimes.onnxruntime import cuda_available

from . import gate, optimize, quantize, vectors
from . import openvino as ov_export
from .calibration import calibration_file, openvino_calibration
from .graph import INPUT_NAMES, EmbeddingModule, export_onnx, fit_length
from .output import check_output, publish
from .report import render
from .source import Source, SourceError
from .tokenizer import check_tokenizer, write_tokenizer

logger = logging.getLogger(__name__)

FILES = {"fp32": "model.onnx", "fp16": "model.fp16.onnx", "int8": "model.int8.onnx"}


@dataclass
class ExportOptions:
    """What to export and how strictly to check it."""

    ckpt: str  # checkpoint directory (trainer output, save_pretrained or sentence-transformers folder)
    out: str  # model directory to create
    fp16: bool = False  # also build the fp16 (GPU) variant
    int8: bool = False  # also build the int8 (CPU) variant
    int8_recipe: str = quantize.DEFAULT_RECIPE  # name in export.quantize.RECIPES
    pooler: str | None = None  # override the checkpoint's pooler
    max_seq_length: int | None = None  # override the checkpoint's max length
    normalize: bool | None = None  # override: L2-normalise inside the graph
    data_dir: str | None = None  # for the STS-B dev probe set; None = built-in probes, no Spearman
    thresholds: gate.Thresholds = field(default_factory=gate.Thresholds)  # the gate's limits
    calibration: str | None = None  # sentences for static int8; default: the checkpoint's training file, else the data dir's wiki
    keep_failed: bool = False  # publish variants that failed the gate (marked failed)
    openvino: bool = False  # also build the OpenVINO variants (ov-fp32, ov-bf16, with int8 ov-int8; export.openvino)
    force: bool = False  # replace an existing output directory
    matryoshka_dims: list[int] | None = None  # trained sizes of a model trained elsewhere; default: simcse.json's
    prompts: dict[str, str] = field(default_factory=dict)  # name -> text, over config_sentence_transformers.json's
    default_prompt_name: str | None = None  # the prompt encode() applies when none is named


@dataclass
class Outcome:
    """What the export did."""

    out: Path | None  # the model directory, None when nothing was published
    published: list[str]
    refused: list[str]
    results: dict[str, gate.GateResult]


def _versions() -> dict[str, str]:
    import onnxruntime
    import tokenizers
    import torch
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "tokenizers": tokenizers.__version__,
    }


def _torch_encode(module: EmbeddingModule, tokenizer: SentenceTokenizer, pad_id: int) -> gate.Encode:
    """The torch reference, fed exactly the tokens and batches the SDK feeds the ONNX graph."""

    def encode(sentences: list[str]) -> np.ndarray:
        batches = list(plan_batches(tokenizer.encode(sentences), batch_size=64, max_tokens=8192, pad_id=pad_id))
        order = np.concatenate([b.indices for b in batches])
        emb = np.concatenate([module.embed(b.input_ids, b.attention_mask) for b in batches])  # (n, hidden), sorted
        out = np.empty_like(emb)
        out[order] = emb  # back to input order
        return out

    return encode


def build(opts: ExportOptions) -> Outcome:
    """Run the whole export; see the module docstring."""
    if opts.int8_recipe not in quantize.RECIPES:
        raise ValueError(f"Unknown int8 recipe {opts.int8_recipe!r}; choose one of {', '.join(quantize.RECIPES)}.")
    source = Source.read(opts.ckpt, opts.pooler, opts.max_seq_length, opts.normalize)
    source = dataclasses.replace(source, normalizer=check_tokenizer(source.path, source.vocab_size))
    _check_length(source)
    vectors.prompts(source, opts.prompts, opts.default_prompt_name)  # a bad prompt flag fails before any work
    static = opts.int8 and quantize.RECIPES[opts.int8_recipe].static
    calibration = calibration_file(source, opts.calibration, opts.data_dir, opts.int8_recipe) if static else None
    out = check_output(Path(opts.out), opts.force)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.building-"))
    try:
        return _build_in(tmp, out, source, opts, calibration)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _check_length(source: Source) -> None:
    """Before any work: the max length leaves room for text after the tokenizer's special tokens."""
    try:
        SentenceTokenizer(source.path / TOKENIZER_NAME, source.max_seq_length)
    except InvalidArgumentError as e:
        raise SourceError(f"{source.length_from} {source.max_seq_length}: {e}") from e


def _build_in(tmp: Path, out: Path, source: Source, opts: ExportOptions, calibration: Path | None) -> Outcome:
    module = EmbeddingModule.load(source)
    source = fit_length(source, module)  # the encoder's position limit
    write_tokenizer(source.path / TOKENIZER_NAME, tmp / TOKENIZER_NAME, source.lowercase, source.truncation_side,
                    source.max_seq_length, source.normalizer)
    tokenizer = SentenceTokenizer(tmp / TOKENIZER_NAME, source.max_seq_length)  # the reference reads what the SDK will
    ref_encode = _torch_encode(module, tokenizer, source.pad_token_id)
    dim = int(ref_encode(["dimension probe"]).shape[1])
    sizes = vectors.trained_dims(source, opts.matryoshka_dims, dim)  # a bad size fails before the graph is built
    export_onnx(module, tmp / "raw.onnx")
    ops = {"fp32": optimize.fuse(tmp / "raw.onnx", tmp / FILES["fp32"], source.num_heads, source.hidden_size)}
    ov_variants: dict[str, Variant] = {}
    if opts.openvino:
        ov_file = (openvino_calibration(source, calibration, opts.calibration, opts.data_dir, opts.int8_recipe)
                   if opts.int8 else None)  # ov-int8 comes with --int8
        ov_batches = quantize.calibration_batches(ov_file, tokenizer, source.pad_token_id) if ov_file else None
        ov_variants = ov_export.build_variants(tmp / "raw.onnx", tmp, ov_batches, ov_file)
    (tmp / "raw.onnx").unlink()
    quant: dict[str, Any] = {}
    if opts.fp16:
        ops["fp16"] = optimize.to_fp16(tmp / FILES["fp32"], tmp / FILES["fp16"])
        onnx.checker.check_model(str(tmp / FILES["fp16"]))
    if opts.int8:
        recipe = quantize.RECIPES[opts.int8_recipe]
        calib = quantize.calibration_batches(calibration, tokenizer, source.pad_token_id) if calibration else None
        quant = quantize.quantize(tmp / FILES["fp32"], tmp / FILES["int8"], recipe, calib)
        if calibration:
            quant["calibration_file"] = str(calibration.resolve())
    for name in ["fp32"] + (["int8"] if opts.int8 else []):  # CPU graphs: the fused SkipLayerNorm is slow there
        ops[name] = optimize.prepare_for_cpu(tmp / FILES[name])

    ref = gate.reference(ref_encode, opts.data_dir, sizes)
    prompt_table, default_prompt = vectors.prompts(source, opts.prompts, opts.default_prompt_name)
    scales, scales_from = vectors.output_scales(ref_encode, calibration, ref.embeddings)
    manifest = Manifest(
        pooling=source.pooler,
        normalized=source.normalize,
        max_seq_length=source.max_seq_length,
        embedding_dim=dim,
        variants={
            name: Variant(
                file=FILES[name],
                sha256=sha256_file(tmp / FILES[name]),
                dtype=DTYPES[name],
                # fp16 is meant for CUDA; "any" until the gate finds whether this CPU's onnxruntime runs it.
                device={"fp32": "any", "fp16": "any", "int8": "cpu"}[name],
                fused_ops=ops[name],
                quantization=quant if name == "int8" else {},
            )
            for name in ops
        },
        inputs=list(INPUT_NAMES),
        pad_token_id=source.pad_token_id,
        source={
            "checkpoint": str(source.path.resolve()),
            "model_type": source.model_type,
            "pooler_from": source.pooler_from,
            "simcse": source.metadata,
        },
        versions=_versions(),
        export_cpu=cpu_description(),
        trained_dims=sizes,
        prompts=prompt_table,
        default_prompt_name=default_prompt,
        output_scales=scales,
        format_version=FORMAT_VERSION,
    )
    manifest.source["output_scales_from"] = scales_from
    manifest.variants.update(ov_variants)
    manifest.save(tmp)

    results = _gate_all(tmp, manifest, ref, opts)
    refused = [n for n, r in results.items() if not r.passed]
    failed_rows: dict[str, dict[str, object]] = {}
    for name, result in results.items():
        manifest.variants[name].gate = {**result.to_dict(), "size_mb": ov_export.size_mb(tmp, manifest.variants[name])}
        if not result.passed and not opts.keep_failed:
            dropped = manifest.variants.pop(name)
            failed_rows[name] = {**dropped.gate, "ops": dropped.fused_ops}
            manifest.refused[name] = list(result.failures)  # the SDK names them when that variant is asked for
            ov_export.remove_files(tmp, dropped, manifest.variants)  # files another variant shares stay
    (tmp / "report.md").write_text(render(manifest, failed_rows), encoding="utf-8")
    if "fp32" not in manifest.variants:
        logger.error("fp32 failed the gate: nothing is published")
        return Outcome(None, [], refused, results)
    manifest.save(tmp)
    publish(tmp, out)
    return Outcome(out, sorted(manifest.variants), refused, results)


def _gate_all(tmp: Path, manifest: Manifest, ref: gate.Reference, opts: ExportOptions) -> dict[str, gate.GateResult]:
    from simcse_sdk import Encoder

    results = {}
    for name in manifest.variants:
        device = "cuda" if name == "fp16" and cuda_available() else "cpu"
        try:
            enc = Encoder(tmp, device=device, variant=name, verify=False)
            def encode(sentences: list[str], enc: Encoder = enc) -> np.ndarray:  # as the torch reference: no prompt
                return enc.encode(sentences, prompt_name="")

            results[name] = gate.check_variant(name, encode, ref, opts.thresholds, opts.data_dir, device,
                                               manifest.trained_dims)
        except Exception as e:  # onnxruntime's CPU provider lacks some fp16 kernels on some builds
            if name != "fp16":
                raise
            logger.warning("fp16 does not run on this CPU (%s): structural check only", e)
            manifest.variants[name].device = "cuda"
            results[name] = gate.GateResult(name, 0, "none", float("nan"), float("nan"), None, None, None,
                                            "structure only (onnx.checker)")
    return results
