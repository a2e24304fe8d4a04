"""``simcse-embed MODEL_DIR INPUT... --out DIR`` (or ``python -m simcse_sdk.embed``): embed a corpus to Parquet.

Examples:
    simcse-embed models/minilm corpus/*.txt --out embeddings/
    simcse-embed models/minilm data.csv --text-column sentence --id-column id --out csv-embeddings/
    simcse-embed models/minilm sts-dev.csv --format tsv --quoting none --no-header --text-column 5 --out sts/
    simcse-embed models/minilm corpus/ --out /shared/embeddings --engine ray --address auto
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from ..errors import SimcseError
from ..inputs.help_format import HelpFormat
from ..inputs.validation import count_arg
from ..vectors.dimensions import OUTPUTS
from .config import BAD_ROW_MODES, ENGINES, FORMATS, QUOTING, EmbedConfig


def parser() -> argparse.ArgumentParser:
    d = EmbedConfig()
    p = argparse.ArgumentParser(
        prog="simcse-embed", description="Embed text files (txt, JSONL, CSV/TSV, Parquet) into Parquet shards "
        "of (id, embedding). Rerun the same command to resume a killed job.", formatter_class=HelpFormat)
    p.add_argument("model_dir", help="exported model directory (python -m export ...)")
    p.add_argument("inputs", nargs="+", help="input files, globs (quote them for '**') or folders")
    p.add_argument("--out", required=True, help="output folder for part-*.parquet, _manifest.json, _bad_rows.jsonl")
    p.add_argument("--engine", choices=ENGINES, default=d.engine, help="local: this process; ray: Ray Data")
    p.add_argument("--text-column", default=d.text_column, help="JSONL/CSV/Parquet field with the text (default: "
                   "text); with --no-header the column's number, from 0")
    p.add_argument("--id-column", default=None, help="field with each row's id (default: file:line); with --no-header "
                   "the column's number, from 0")
    p.add_argument("--format", choices=FORMATS, default=None, help="input format (default: from the extension)")
    p.add_argument("--quoting", choices=QUOTING, default=d.quoting, help="CSV/TSV: minimal: a field may be quoted, "
                   "as Python's csv and pandas write them (default); none: quotes are part of the text (unquoted TSV "
                   "files such as STS-B's, where a stray quote would otherwise run across lines)")
    p.add_argument("--no-header", dest="header", action="store_false", help="CSV/TSV: the first line is a record, "
                   "not the column names (by default it is the header row, and is not embedded); --text-column and "
                   "--id-column then take column numbers from 0 (STS-B: --text-column 5)")
    p.add_argument("--shard-rows", type=count_arg, default=d.shard_rows, help=f"rows per output shard (default {d.shard_rows})")
    p.add_argument("--bad-rows", choices=BAD_ROW_MODES, default=d.bad_rows,
                   help="empty/non-text rows: embed as empty text, or skip (both listed in _bad_rows.jsonl)")
    p.add_argument("--normalize", action="store_true", help="L2-normalise the embeddings")
    p.add_argument("--dimensions", type=count_arg, default=None, help="cut each vector to its first N values and "
                   "renormalise (a Matryoshka model's trained sizes: its manifest's trained_dims); default: full size")
    p.add_argument("--output", choices=OUTPUTS, default=d.output, help="embedding column: float32 "
                   "(fixed_size_list<float>), int8 (fixed_size_list<int8>: 4x smaller, scale in _manifest.json) or "
                   "ubinary (fixed_size_list<uint8> of packed sign bits: 32x smaller)")
    p.add_argument("--prompt-name", default=None, help="the model's prompt to put before each text (e.g. passage)")
    p.add_argument("--variant", default=d.variant, help="auto (the fastest measured here), or a variant of the model "
                   "directory's manifest.json: fp32, fp16, int8, ov-fp32, ov-bf16, ov-int8")
    p.add_argument("--device", default=d.device, help="local engine: auto | cpu | cuda")
    p.add_argument("--batch-size", type=count_arg, default=d.batch_size, help="sentences per inference batch")
    p.add_argument("--max-tokens", type=count_arg, default=d.max_tokens, help="padded tokens per inference batch")
    p.add_argument("--threads", type=count_arg, default=None, help="local engine: onnxruntime threads (default: all cores)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--resume", dest="overwrite", action="store_false", help="skip complete shards (default)")
    mode.add_argument("--overwrite", dest="overwrite", action="store_true", help="delete earlier shards, start over")
    p.set_defaults(overwrite=False)  # --resume's store_false would otherwise default to True
    p.add_argument("--address", default=None, help="Ray: cluster address ('auto', 'ray://host:10001'); default a local Ray")
    p.add_argument("--actors", type=count_arg, default=None, help="Ray: encoder actors (default: what the cluster fits)")
    p.add_argument("--cpus-per-actor", type=float, default=d.cpus_per_actor, help="Ray: CPUs per actor (= its threads)")
    p.add_argument("--gpus-per-actor", type=float, default=d.gpus_per_actor, help="Ray: GPUs per actor (> 0: CUDA)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only (no progress bar)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = EmbedConfig(
        text_column=args.text_column, id_column=args.id_column, format=args.format, quoting=args.quoting,
        header=args.header, shard_rows=args.shard_rows,
        bad_rows=args.bad_rows, normalize=args.normalize, variant=args.variant, device=args.device,
        dimensions=args.dimensions, output=args.output, prompt_name=args.prompt_name,
        batch_size=args.batch_size, max_tokens=args.max_tokens, threads=args.threads, engine=args.engine,
        overwrite=args.overwrite, progress=args.progress and not args.quiet,  # -q: no bar on stderr either
        ray_address=args.address, actors=args.actors,
        cpus_per_actor=args.cpus_per_actor, gpus_per_actor=args.gpus_per_actor,
    )
    try:
        from .job import embed_corpus

        summary = embed_corpus(args.model_dir, args.inputs, args.out, config)
    except SimcseError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl+C: what is done is kept (finished shards), and a rerun resumes; no traceback
        again = "the same command again" if not args.overwrite else "it again without --overwrite"
        print(f"interrupted: the shards finished so far are kept in {args.out}; run {again} to go on from where it "
              "stopped.", file=sys.stderr)
        return 130
    print(json.dumps(summary.to_dict()) if args.json else summary.text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
