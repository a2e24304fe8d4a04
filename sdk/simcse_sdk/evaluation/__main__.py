"""Command line: score an exported model (or a sentence-transformers folder) on SimCSE's benchmarks.

Usage::

    python -m simcse_sdk.evaluation MODEL_DIR [--variant auto|fp32|fp16|int8] [--device cpu|cuda|auto]
        [--tasks sts|dev|transfer|align|all[,...]] [--data-dir D] [--json OUT.json] [--batch-size N]
        [--dimensions 384,128,64] [--output float32,int8,ubinary]
    python -m simcse_sdk.evaluation --sentence-transformers ST_DIR [--tasks ...] [...]

``MODEL_DIR`` is read with :class:`simcse_sdk.Encoder`; ``--sentence-transformers`` scores a
sentence-transformers folder instead (for comparisons; needs that package and torch).
``--tasks`` takes one group or several separated by commas (default ``sts``):
``sts`` (STS12-16, STS-B, SICK-R: the paper's table), ``dev`` (STS-B dev, SICK-R trial),
``transfer`` (MR..MRPC; minutes on CPU), ``align`` (alignment and uniformity on STS-B dev),
``all`` (the four). The tables are printed to stdout as markdown, progress goes to stderr.
JSON is written only with ``--json OUT``, atomically (a temporary file, then a rename).
The data directory comes from ``--data-dir``, else ``$SIMCSE_DATA_DIR``.
Exit status: 0 on success, 1 on an SDK error (message on stderr), 2 on bad arguments
(an unknown task group included).

Example::

    python -m simcse_sdk.evaluation runs/unsup-bert --tasks sts,align --json runs/unsup-bert/eval.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import SimcseError
from ..inputs.help_format import HelpFormat
from ..inputs.validation import count_arg
from ..runtimes.machine import cpu_description
from ..vectors.dimensions import outputs_arg, sizes_arg
from .alignment import alignment_uniformity
from .encoding import Encode, Memo
from .errors import TaskError
from .sizes import evaluate_sizes
from .sts import evaluate_dev, evaluate_sts
from .tasks import resolve_groups
from .transfer import evaluate_transfer

logger = logging.getLogger("simcse_sdk.evaluation")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simcse_sdk.evaluation",
        description="Score sentence embeddings on STS12-16, STS-B, SICK-R (Spearman x100, as SimCSE), "
        "dev mode, transfer tasks, and alignment/uniformity.",
        formatter_class=HelpFormat,
    )
    parser.add_argument(
        "model_dir", nargs="?", help="an exported model directory (read with simcse_sdk.Encoder)"
    )
    parser.add_argument(
        "--sentence-transformers", metavar="DIR", help="score a sentence-transformers folder instead"
    )
    parser.add_argument("--variant", default="auto", help="auto (the fastest measured here), or a variant of the "
                        "model directory's manifest.json: fp32, fp16, int8, ov-fp32, ov-bf16, ov-int8")
    parser.add_argument("--device", default="auto", choices=["cpu", "cuda", "auto"])
    parser.add_argument(
        "--tasks", default="sts", help="sts|dev|transfer|align|all, or several joined by commas"
    )
    parser.add_argument("--data-dir", help="data directory in SentEval's layout (default: $SIMCSE_DATA_DIR)")
    parser.add_argument("--json", metavar="OUT", help="also write all results to this JSON file")
    parser.add_argument(
        "--batch-size", type=count_arg, default=None, help="sentences per batch (default: the encoder's)"
    )
    parser.add_argument("--seed", type=int, default=1111, help="fold seed of the transfer tasks")
    parser.add_argument("--dimensions", type=sizes_arg, default=None, metavar="N,N,...",
                        help="sts: score each size, cut and renormalised (e.g. 384,128,64; a Matryoshka model's "
                        "trained sizes are in its manifest), in one table with the bytes a vector takes")
    parser.add_argument("--output", type=outputs_arg, default=None, metavar="TYPE,...",
                        help="sts: score each output type too: float32, int8, ubinary (e.g. float32,int8,ubinary)")
    return parser


def load_encode(args: argparse.Namespace) -> tuple[Encode, dict[str, Any]]:
    """The ``encode`` function the arguments name, and a description of it for the JSON."""
    if args.sentence_transformers:
        from sentence_transformers import SentenceTransformer

        device = None if args.device == "auto" else args.device
        model = SentenceTransformer(args.sentence_transformers, device=device)
        batch = args.batch_size or 64

        def st_encode(sentences: list[str]) -> Any:
            return model.encode(sentences, batch_size=batch, convert_to_numpy=True, show_progress_bar=False)

        return st_encode, {
            "sentence_transformers": str(args.sentence_transformers),
            "device": str(model.device),
        }

    from .. import Encoder

    encoder = Encoder(args.model_dir, device=args.device, variant=args.variant)
    args.encoder = encoder  # --dimensions / --output shape its vectors

    def sdk_encode(sentences: list[str]) -> Any:
        return encoder.encode(sentences, batch_size=args.batch_size)

    return sdk_encode, {
        "model_dir": str(args.model_dir),
        "device": encoder.device,
        "variant": encoder.variant,
    }


def check_json_target(path: str) -> str | None:
    """Why ``--json PATH`` could not be written, checked before the run (its folder is made), or None."""
    target = Path(path)
    if target.is_dir():
        return "it is a folder"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        if isinstance(e, (FileExistsError, NotADirectoryError)):
            return "a file stands where its folder (or one of its parents) should be"
        return e.strerror or type(e).__name__
    return None


def write_json(path: str | os.PathLike[str], payload: dict[str, Any]) -> None:
    """Write ``payload`` as JSON to ``path`` atomically (temporary file in the same folder, then rename)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=2, allow_nan=True)
            f.write("\n")
        os.chmod(tmp, 0o644)  # mkstemp makes it private (0600); a result file is meant to be read by others too
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run(args: argparse.Namespace, groups: list[str]) -> dict[str, Any]:
    """Run the task ``groups``, print their tables, and return the JSON payload."""
    encode, about = load_encode(args)
    memo = Memo(encode)  # for dev and align, which share STS-B dev's sentences
    payload: dict[str, Any] = {"model": about, "tasks": groups, "date": time.strftime("%Y-%m-%d"),
                               "command": "python -m simcse_sdk.evaluation " + shlex.join(sys.argv[1:]),
                               "machine": cpu_description()}
    if "sts" in groups and (args.dimensions or args.output):
        assert args.encoder is not None
        sizes = evaluate_sizes(args.encoder, args.data_dir, args.dimensions or [args.encoder.dim],
                               args.output or ["float32"], batch_size=args.batch_size)
        print(f"STS by size and output (Spearman x100)\n\n{sizes.table()}\n", flush=True)
        payload["sizes"] = sizes.to_dict()
    elif "sts" in groups:
        sts = evaluate_sts(encode, args.data_dir)
        print(f"STS (Spearman x100, {sts.wall_s:.1f} s)\n\n{sts.table()}\n\n{sts.details()}\n", flush=True)
        payload["sts"] = sts.to_dict()
    if "dev" in groups:
        dev = evaluate_dev(memo, args.data_dir, progress=True)
        print(f"Dev (Spearman x100, {dev.wall_s:.1f} s)\n\n{dev.table()}\n", flush=True)
        payload["dev"] = dev.to_dict()
    if "align" in groups:
        au = alignment_uniformity(memo, args.data_dir, progress=True)
        print(f"Alignment {au.alignment:.4f}, uniformity {au.uniformity:.4f} (STS-B dev)\n", flush=True)
        payload["align"] = au.to_dict()
    if "transfer" in groups:
        tr = evaluate_transfer(encode, args.data_dir, seed=args.seed)
        print(f"Transfer (accuracy x100, {tr.wall_s:.1f} s)\n\n{tr.table()}\n", flush=True)
        payload["transfer"] = tr.to_dict()
    return payload


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if bool(args.model_dir) == bool(args.sentence_transformers):
        parser.error("give exactly one of MODEL_DIR or --sentence-transformers DIR")
    if args.sentence_transformers and (args.dimensions or args.output):
        parser.error("--dimensions and --output score an exported MODEL_DIR (they use its int8 scales)")
    args.encoder = None
    try:
        groups = resolve_groups(args.tasks)
    except TaskError as e:
        parser.error(str(e))
    if (args.dimensions or args.output) and "sts" not in groups:
        parser.error(f"--dimensions and --output score the sts tasks, which --tasks {args.tasks} leaves out: "
                     "add sts, e.g. --tasks sts")
    problem = check_json_target(args.json) if args.json else None
    if problem:
        parser.error(f"--json {args.json}: cannot write there ({problem}); pass a file path in a folder you can write to")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        payload = run(args, groups)
    except SimcseError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.json:
        try:
            write_json(args.json, payload)
        except OSError as e:  # the folder changed during the run: keep the results on stdout
            print(json.dumps(payload, indent=2, allow_nan=True))
            print(f"error: could not write {args.json} ({e.strerror or e}); the results are printed above as JSON",
                  file=sys.stderr)
            return 1
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
