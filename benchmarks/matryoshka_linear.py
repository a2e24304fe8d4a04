"""How far a linear map takes a model's small sizes, without training the encoder: a bound for Matryoshka gains.

A model's first ``d`` dimensions are one linear view of its vector; a Matryoshka run trains the encoder so that
this view holds up. Before asking training for more, this measures what the best-placed linear views give,
fitted on the training sentences (the data directory's Wikipedia lines, never STS) and scored on STS-B test,
each view renormalised as ``encode(..., dimensions=d)`` renormalises:

- ``cut``: the first ``d`` dimensions (what the SDK serves);
- ``pca``: the top ``d`` principal directions of the sentences' vectors (centred covariance), as a rotation;
- ``energy``: the top ``d`` eigenvectors of the uncentred second moment, the rotation that keeps the most of
  each unit vector in its first ``d`` dimensions (a rotation leaves the full size unchanged);
- ``fitted``: a (dim, d) matrix started at the cut and trained (Adam) so that the cosines of the reduced vectors
  match those of the full ones over pairs of training sentences (a similarity-preserving adaptor).

If none of them beats the cut by much, a run on the same sentences has little to find by placing information
better, and a gain must come from data that teaches the model something new.

    python benchmarks/matryoshka_linear.py --model-dir runs/matryoshka-unsup/plain/model   # about 3 min, 2 cores
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from simcse_sdk.vectors.dimensions import sizes_arg  # noqa: E402

from benchmarks.ablation_run import write_json  # noqa: E402


def unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1: (n, d) -> (n, d)."""
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def rotations(z: np.ndarray) -> dict[str, np.ndarray]:
    """(dim, dim) orthogonal matrices whose first columns are the principal and the highest-energy directions."""
    _, pca = np.linalg.eigh(np.cov(z.T))  # ascending eigenvalues
    _, energy = np.linalg.eigh(z.T @ z / len(z))
    return {"pca": pca[:, ::-1], "energy": energy[:, ::-1]}


def fit_adaptor(z: np.ndarray, d: int, steps: int, batch: int, lr: float, seed: int) -> np.ndarray:
    """A (dim, d) map from the cut, trained so that cos(zW) matches cos(z) over random pairs of rows of ``z``."""
    import torch

    torch.manual_seed(seed)
    full = torch.from_numpy(z)  # (n, dim), unit rows
    w = torch.nn.Parameter(torch.eye(z.shape[1])[:, :d].clone())  # (dim, d)
    opt = torch.optim.Adam([w], lr=lr)
    for _ in range(steps):
        rows = full[torch.randint(len(full), (batch,))]  # (batch, dim)
        target = rows @ rows.T  # (batch, batch)
        small = torch.nn.functional.normalize(rows @ w, dim=1)  # (batch, d)
        loss = ((small @ small.T - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return w.detach().numpy()


def spearman(a: np.ndarray, b: np.ndarray, gold: np.ndarray) -> float:
    """STS-B's score: Spearman ×100 of the pairs' cosines against the gold scores."""
    from simcse_sdk.evaluation.sts import spearman100

    return spearman100((unit(a) * unit(b)).sum(axis=1), gold)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/matryoshka_linear.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", required=True, help="exported model directory (its fp32 variant is scored)")
    p.add_argument("--data-dir", default=os.environ.get("SIMCSE_DATA_DIR"), help="data directory "
                   "(default: $SIMCSE_DATA_DIR): train/wiki1m_prefix.txt to fit on, STS-B test to score")
    p.add_argument("--dims", type=sizes_arg, default=[256, 128, 64, 32], help="sizes (default 256,128,64,32)")
    p.add_argument("--fit-sentences", type=int, default=0, help="first N Wikipedia lines to fit on (0: all)")
    p.add_argument("--steps", type=int, default=1500, help="Adam steps of each fitted map (default 1500)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam's learning rate for the fitted maps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "matryoshka-linear-cpu.json"))
    args = p.parse_args(argv)
    if not args.data_dir:
        p.error("pass --data-dir or set SIMCSE_DATA_DIR (the Wikipedia lines and STS-B)")
    if args.fit_sentences < 0:
        p.error(f"--fit-sentences {args.fit_sentences}: pass a positive number, or 0 for every line")
    from simcse_sdk import Encoder
    from simcse_sdk.evaluation.data.senteval import load_stsb
    from simcse_sdk.runtimes.machine import cpu_description

    wiki_path = Path(args.data_dir) / "train" / "wiki1m_prefix.txt"
    if not wiki_path.is_file():
        p.error(f"{wiki_path} is missing: pass the data directory that holds train/wiki1m_prefix.txt")
    lines = [t for t in wiki_path.read_text(encoding="utf-8", errors="replace").splitlines() if t.strip()]
    lines = lines[: args.fit_sentences or None]
    enc = Encoder(args.model_dir, variant="fp32")
    if any(d > enc.dim for d in args.dims):
        p.error(f"--dims {args.dims}: this model's vectors have {enc.dim} dimensions; list sizes up to {enc.dim}")
    start = time.perf_counter()
    z = unit(enc.encode(lines, progress=True)).astype(np.float32)  # (n, dim)
    test = load_stsb(args.data_dir, "test")
    a, b = enc.encode(list(test.first)), enc.encode(list(test.second))  # (pairs, dim) each
    gold = np.asarray(test.gold)
    rot = rotations(z)
    full = spearman(a, b, gold)
    rows: list[dict[str, Any]] = []
    for d in args.dims:
        maps = {"cut": np.eye(enc.dim, dtype=np.float32)[:, :d], "pca": rot["pca"][:, :d],
                "energy": rot["energy"][:, :d], "fitted": fit_adaptor(z, d, args.steps, 512, args.lr, args.seed)}
        scores = {view: round(spearman(a @ m, b @ m, gold), 2) for view, m in maps.items()}
        rows.append({"dimensions": d, "stsb": scores})
        print(f"{d:>4}  " + "  ".join(f"{v} {s:.2f}" for v, s in scores.items()), flush=True)
    result = {"benchmark": "matryoshka-linear", "date": time.strftime("%Y-%m-%d"),
              "command": "python benchmarks/matryoshka_linear.py " + shlex.join(sys.argv[1:] if argv is None else argv),
              "machine": cpu_description(), "linear_views": {
                  "model": args.model_dir, "fit_sentences": len(lines), "steps": args.steps, "lr": args.lr,
                  "seed": args.seed, "full_dim": enc.dim, "stsb_full": round(full, 2), "rows": rows,
                  "wall_s": round(time.perf_counter() - start, 1)}}
    write_json(Path(args.json), result)
    print(f"full size ({enc.dim}) {full:.2f}; wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
