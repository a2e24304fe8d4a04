"""One run of the ablation grid, in its own process: train with ``python -m trainer``'s own entry point, score, write.

``benchmarks/ablations.py`` starts this once per run, so runs share nothing but the base weights on disk and
a failing run takes only itself down. It trains (``trainer.__main__.main`` with the run's argv, exactly what
``python -m trainer ARGS`` does), reads the run's ``log.jsonl`` (the dev scores of every evaluation: the
alignment/uniformity trajectory; steps/s), scores ``last/`` with the SDK's evaluation (STS-B dev and SICK-R
trial, alignment and uniformity on STS-B dev, and with ``--scores all`` the seven STS test sets), and writes
one JSON file through a temporary file and a rename. ``--score-only MODEL`` scores a model without training
(the base point).

    python -m benchmarks.ablation_run --result out/r.json --scores all -- --unsup wiki --base BASE --out out/runs/r
    python -m benchmarks.ablation_run --result out/base.json --scores all --score-only BASE
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.ablation_grid import MAX_LEN, POOLER  # noqa: E402

logger = logging.getLogger(__name__)


def score(model_dir: str, *, data_dir: str | None, full_sts: bool) -> dict[str, Any]:
    """Dev scores (and the seven STS test sets with ``full_sts``) of ``model_dir``'s raw [CLS] vector."""
    from simcse_sdk.evaluation import evaluate_sts

    from trainer.evaluate import dev_scores, memoized
    from trainer.model import load_base, make_encode

    start = time.perf_counter()
    model, tokenizer = load_base(model_dir, pooler=POOLER, mlp_init="base")
    encode = memoized(make_encode(model, tokenizer, pooler=POOLER, max_len=MAX_LEN))
    out: dict[str, Any] = {"dev": dev_scores(encode, data_dir)}
    if full_sts:
        sts = evaluate_sts(encode, data_dir, progress=False)
        out["sts"] = {"tasks": {k: round(float(v), 4) for k, v in sts.scores.items()}, "avg": round(float(sts.avg), 4)}
    out["scoring_s"] = round(time.perf_counter() - start, 2)
    return out


def run_record(run_dir: Path) -> dict[str, Any]:
    """What the trainer's log says about a finished run: steps, times, steps/s and every dev evaluation."""
    from trainer.runlog import read_log

    records = read_log(run_dir / "log.jsonl")
    end = next((r for r in records if r["type"] == "end"), None)
    if end is None:
        raise RuntimeError(f"{run_dir}/log.jsonl has no end record: the run did not finish")
    keys = ("stsb", "sickr", "alignment", "uniformity")
    trajectory = [{"step": r["step"], **{k: round(float(r[k]), 5) for k in keys}} for r in records
                  if r["type"] == "eval"]
    losses = [r["loss"] for r in records if r["type"] == "step"]
    return {"steps": end["step"], "wall_s": end["wall_s"], "train_s": end["train_s"], "it_per_s": end["it_per_s"],
            "first_loss": round(losses[0], 5), "last_loss": round(losses[-1], 5), "trajectory": trajectory}


def write_text(path: Path, text: str) -> None:
    """Write through a temporary sibling and a rename: the file is complete or absent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """``data`` as indented JSON, complete or absent (:func:`write_text`)."""
    write_text(path, json.dumps(data, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.ablation_run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--result", type=Path, required=True, help="the JSON file to write")
    p.add_argument("--scores", choices=("all", "dev"), default="all",
                   help="all: dev sets and the seven STS test sets; dev: STS-B dev / SICK-R trial only")
    p.add_argument("--score-only", metavar="MODEL", help="score this model directory, do not train")
    p.add_argument("--data-dir", help="data directory for scoring (default: the trainer's --data-dir, else "
                   "$SIMCSE_DATA_DIR)")
    p.add_argument("--keep-checkpoints", action="store_true", help="keep the run's best/ and last/ (90 MB each)")
    p.add_argument("trainer_args", nargs=argparse.REMAINDER, help="after --: the arguments of python -m trainer")
    args = p.parse_args(argv)
    targs = args.trainer_args[1:] if args.trainer_args[:1] == ["--"] else args.trainer_args
    data_dir = args.data_dir or (targs[targs.index("--data-dir") + 1] if "--data-dir" in targs else None)
    full = args.scores == "all"
    if args.score_only:
        write_json(args.result, {"model": args.score_only, **score(args.score_only, data_dir=data_dir, full_sts=full)})
        return 0
    if "--out" not in targs:
        print("error: the trainer arguments need --out RUN_DIR (where the run's log and last/ go)", file=sys.stderr)
        return 2
    from trainer.__main__ import main as train_main

    run_dir = Path(targs[targs.index("--out") + 1])
    rc = train_main(targs)
    if rc != 0:
        return rc
    record = {"trainer_args": targs, **run_record(run_dir), **score(str(run_dir / "last"), data_dir=data_dir,
                                                                       full_sts=full)}
    if not args.keep_checkpoints:
        for name in ("best", "last"):
            shutil.rmtree(run_dir / name, ignore_errors=True)
    write_json(args.result, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
