"""Scoring a model with a given pooler: the dev scores used during training, and a small CLI.

The scores come from :mod:`simcse_sdk.evaluation` (SimCSE's STS protocol); this module only
builds the torch ``encode`` function. The CLI scores a base model or a checkpoint *before*
training with exactly the code the training run uses, for "before / after" tables::

    python -m trainer.evaluate --base DIR --pooler cls_before_pooler --max-len 32
    python -m trainer.evaluate --base runs/unsup/best --sts all     # pooler/max length from simcse.json

It prints STS-B dev and SICK-R trial (dev mode), STS-B test, and alignment / uniformity on STS-B
dev; ``--sts all`` adds the seven STS tasks (STS12-16, STS-B, SICK-R test).

Example:
    >>> scores = dev_scores(lambda s: np.ones((len(s), 4)), "/data")   # doctest: +SKIP
    >>> sorted(scores)                                                  # doctest: +SKIP
    ['alignment', 'sickr', 'stsb', 'uniformity', 'wall_s']
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError, TrainerError
from .pooling import POOLERS

logger = logging.getLogger(__name__)

Encode = Callable[[list[str]], np.ndarray]


def check_eval_available(data_dir: str | None, training: bool = True) -> None:
    """Raise before training if dev evaluation cannot run (no evaluation package, no SentEval data)."""
    try:
        import simcse_sdk.evaluation  # noqa: F401
    except ImportError as e:
        raise ConfigError(
            f"dev evaluation needs simcse_sdk.evaluation ({e}); pass --eval-steps 0 to train without it"
        ) from e
    from simcse_sdk.evaluation.data.datadir import DataDirError, senteval_dir

    try:
        senteval_dir(data_dir)
    except DataDirError as e:
        if not training:
            raise
        raise ConfigError(f"dev evaluation (every --eval-steps and at the end) needs the STS-B/SICK-R dev data: {e} "
                          "Or pass --eval-steps 0 to train without dev evaluation (no best/)") from e


def memoized(encode: Encode) -> Encode:
    """``encode`` that embeds each distinct sentence once over its lifetime (dev sets overlap)."""
    cache: dict[str, np.ndarray] = {}

    def cached(sentences: list[str]) -> np.ndarray:
        missing = [s for s in dict.fromkeys(sentences) if s not in cache]
        if missing:
            cache.update(zip(missing, encode(missing), strict=True))
        return np.stack([cache[s] for s in sentences]) if sentences else np.zeros((0, 0), np.float32)

    return cached


def dev_scores(encode: Encode, data_dir: str | None) -> dict[str, float]:
    """STS-B dev and SICK-R trial Spearman x100 (``stsb``, ``sickr``), and alignment/uniformity on STS-B dev."""
    from simcse_sdk.evaluation import alignment_uniformity, evaluate_dev

    start = time.perf_counter()
    enc = memoized(encode)
    dev = evaluate_dev(enc, data_dir=data_dir)
    au = alignment_uniformity(enc, data_dir=data_dir, split="dev")
    return {
        "stsb": float(dev.stsb),
        "sickr": float(dev.sickr),
        "alignment": float(au.alignment),
        "uniformity": float(au.uniformity),
        "wall_s": round(time.perf_counter() - start, 2),
    }


def score_model(
    base: str,
    *,
    pooler: str | None = None,
    max_len: int | None = None,
    data_dir: str | None = None,
    sts: str = "stsb",
    batch_size: int = 128,
    device: str = "auto",
) -> dict[str, Any]:
    """Dev scores, STS-B test (``sts="stsb"``) or all seven STS tasks (``sts="all"``) of ``base`` with ``pooler``.

    ``pooler`` and ``max_len`` default to the checkpoint's ``simcse.json``; for a plain model both must be given
    (``max_len`` then defaults to 32, the paper's). For ``cls``, the model's own pooler layer is used as is.
    """
    import torch

    from .checkpoint import META_FILE, read_meta
    from .model import load_base, make_encode

    meta = read_meta(base) if (Path(base) / META_FILE).is_file() else None
    pooler = pooler or (meta["pooler"] if meta else None)
    if pooler is None:
        raise ConfigError(f"{base} has no {META_FILE}: pass --pooler (one of {', '.join(POOLERS)})")
    max_len = max_len or (meta["max_seq_length"] if meta else 32)
    if data_dir is None and not os.environ.get("SIMCSE_DATA_DIR") and meta:
        data_dir = meta["config"].get("data_dir")  # the one the checkpoint was trained and selected with
    check_eval_available(data_dir, training=False)
    from simcse_sdk.evaluation import evaluate_sts

    model, tokenizer = load_base(base, pooler=pooler, mlp_init="base")
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    model.to("cuda" if use_cuda else "cpu")
    encode = memoized(make_encode(model, tokenizer, pooler=pooler, max_len=max_len, batch_size=batch_size))
    out: dict[str, Any] = {
        "base": base,
        "pooler": pooler,
        "max_len": max_len,
        "dev": dev_scores(encode, data_dir),
    }
    result = evaluate_sts(encode, data_dir, tasks=["STS-B"] if sts == "stsb" else None, progress=False)
    out["test"] = result.scores
    if sts == "all":
        out["test_avg"] = result.avg
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m trainer.evaluate``: print (and optionally save as JSON) the scores of a model."""
    p = argparse.ArgumentParser(
        prog="python -m trainer.evaluate",
        description="Score a base model or a SimCSE checkpoint with a given pooler (the code the trainer uses).",
    )
    p.add_argument(
        "--base",
        required=True,
        help="model directory (a SimCSE checkpoint or any HF encoder) or cached hub id",
    )
    p.add_argument("--pooler", choices=POOLERS, help="pooler; default: the checkpoint's simcse.json")
    p.add_argument("--max-len", type=int, help="max tokens a sentence; default: simcse.json, else 32")
    p.add_argument("--data-dir", help="data directory (default: $SIMCSE_DATA_DIR, else the checkpoint's)")
    p.add_argument(
        "--sts",
        choices=("stsb", "all"),
        default="stsb",
        help="test tasks: STS-B only, or all seven STS tasks",
    )
    p.add_argument("--batch-size", type=int, default=128, help="sentences a batch (speed only)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--json", help="also write the scores to this JSON file")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        scores = score_model(
            args.base,
            pooler=args.pooler,
            max_len=args.max_len,
            data_dir=args.data_dir,
            sts=args.sts,
            batch_size=args.batch_size,
            device=args.device,
        )
    except (TrainerError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    dev = scores["dev"]
    print(f"{scores['base']}  pooler={scores['pooler']}  max_len={scores['max_len']}")
    print(
        f"STS-B dev {dev['stsb']:.2f}  SICK-R dev {dev['sickr']:.2f}  "
        f"alignment {dev['alignment']:.4f}  uniformity {dev['uniformity']:.4f}"
    )
    print(
        "test: "
        + "  ".join(f"{k} {v:.2f}" for k, v in scores["test"].items())
        + (f"  Avg. {scores['test_avg']:.2f}" if "test_avg" in scores else "")
    )
    if args.json:
        Path(args.json).write_text(json.dumps(scores, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
