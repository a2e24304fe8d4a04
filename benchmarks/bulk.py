"""Bulk embedding throughput and memory: the embedding job (local engine, Ray Data) vs a plain encode loop.

Same machine, same model, same corpus: real sentences (STS-B train/dev/test, both sides, and the wiki
training file) repeated to ``--rows`` lines of one text file. Each system runs in its own process:

- ``loop``: the corpus read into a list, then ``Encoder.encode`` over chunks of ``--shard-rows``
  (the SDK's own bulk throughput; no output written);
- ``local``: ``simcse-embed --engine local`` (streams the file, writes Parquet shards);
- ``ray``: ``simcse-embed --engine ray`` on a local Ray with the machine's cores (Ray Data, actor pool).

Peak memory is the largest summed RSS of the worker's process tree (Ray: driver, raylet, GCS, actors),
sampled every 0.1 s. ``local`` also runs on a quarter of the rows, to show memory does not grow with rows.

    python benchmarks/bulk.py                          # 100,000 rows, models/minilm
    python benchmarks/bulk.py --rows 20000 --systems loop,local
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "sdk")]

from simcse_sdk.evaluation.data.datadir import resolve_data_dir  # noqa: E402
from simcse_sdk.runtimes.machine import cpu_description, default_threads  # noqa: E402

SYSTEMS = ("loop", "local", "ray")


def real_sentences(data_dir: Path) -> list[str]:
    """STS-B sentences (train, dev, test; both sides) then the wiki training lines."""
    out: list[str] = []
    sts = data_dir / "senteval" / "downstream" / "STS" / "STSBenchmark"
    for split in ("train", "dev", "test"):
        for line in (sts / f"sts-{split}.csv").read_text(encoding="utf-8").splitlines():
            out += [s for s in line.split("\t")[5:7] if s.strip()]
    wiki = next((data_dir / "train").glob("wiki1m*.txt"))
    out += [s.strip() for s in wiki.read_text(encoding="utf-8").splitlines() if s.strip()]
    return out


def write_corpus(path: Path, sentences: list[str], rows: int) -> None:
    with path.open("w", encoding="utf-8") as f:
        for i in range(rows):
            f.write(sentences[i % len(sentences)] + "\n")


# -- worker: one system, one process ------------------------------------------------------------
def worker(args: argparse.Namespace) -> None:
    start = time.perf_counter()
    if args.worker == "loop":
        from simcse_sdk import Encoder

        with open(args.corpus, encoding="utf-8") as f:
            texts = [line.rstrip("\n") for line in f]
        enc = Encoder(args.model_dir)
        t = time.perf_counter()
        for i in range(0, len(texts), args.shard_rows):
            enc.encode(texts[i : i + args.shard_rows])
        work, rows, variant = time.perf_counter() - t, len(texts), enc.variant
    else:
        from simcse_sdk.embed import EmbedConfig, embed_corpus

        if args.worker == "ray":
            import ray

            ray.init(num_cpus=default_threads(), include_dashboard=False, configure_logging=False)
        summary = embed_corpus(args.model_dir, [args.corpus], args.out,
                               EmbedConfig(engine=args.worker, shard_rows=args.shard_rows, progress=False))
        work, rows = summary.seconds, summary.rows
        variant = json.loads((Path(args.out) / "_manifest.json").read_text())["model"]["variant"]
    print(json.dumps({"system": args.worker, "rows": rows, "variant": variant, "work_s": work,
                      "total_s": time.perf_counter() - start, "rows_per_s": rows / work}))


def run_worker(system: str, corpus: Path, out: Path, args: argparse.Namespace) -> dict[str, object]:
    import psutil

    cmd = [sys.executable, __file__, "--worker", system, "--corpus", str(corpus), "--out", str(out),
           "--model-dir", str(args.model_dir), "--shard-rows", str(args.shard_rows)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    root, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            tree = [root] + root.children(recursive=True)
            rss = sum(p.memory_info().rss for p in tree if p.is_running())
        except psutil.Error:
            rss = 0
        peak = max(peak, rss)
        time.sleep(0.1)
    stdout = proc.stdout.read() if proc.stdout else ""
    if proc.returncode != 0:
        raise SystemExit(f"{system} worker failed ({proc.returncode}); rerun: {' '.join(cmd)}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_rss_mib"] = round(peak / 2**20, 1)
    return result


def table(results: list[dict], loop_rate: float | None) -> str:
    lines = ["| system | rows | rows/s | vs plain loop | wall incl. start-up | peak RSS (process tree) |",
             "|---|---|---|---|---|---|"]
    for r in results:
        ratio = f"{r['rows_per_s'] / loop_rate:.3f}" if loop_rate else "-"
        lines.append(f"| {r['system']} | {r['rows']:,} | {r['rows_per_s']:,.0f} | {ratio} | {r['total_s']:.1f} s | "
                     f"{r['peak_rss_mib']:,.0f} MiB |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=100_000, help="corpus rows (real sentences, repeated)")
    p.add_argument("--shard-rows", type=int, default=10_000, help="rows per shard (and per encode call of the loop)")
    p.add_argument("--model-dir", type=Path, default=ROOT / "models" / "minilm", help="exported model directory")
    p.add_argument("--data-dir", default=None, help="data directory (default: $SIMCSE_DATA_DIR or ../shared/data)")
    p.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated: loop,local,ray")
    p.add_argument("--no-memory-check", action="store_true", help="skip the local run on a quarter of the rows")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "bulk-cpu.json", help="JSON result")
    p.add_argument("--worker", choices=SYSTEMS, help=argparse.SUPPRESS)
    p.add_argument("--corpus", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return 0
    if not (args.model_dir / "manifest.json").is_file():
        raise SystemExit(f"no model in {args.model_dir}: export one first (python -m export --ckpt ... --out {args.model_dir} --int8)")
    data_dir = resolve_data_dir(args.data_dir) if args.data_dir or os.environ.get("SIMCSE_DATA_DIR") \
        else ROOT.parent / "shared" / "data"
    sentences = real_sentences(Path(data_dir))
    systems = [s for s in args.systems.split(",") if s]
    results = []
    with tempfile.TemporaryDirectory(prefix="simcse-bulk-") as tmp:
        corpus = Path(tmp) / "corpus.txt"
        write_corpus(corpus, sentences, args.rows)
        for system in systems:
            print(f"running {system} on {args.rows:,} rows ...", file=sys.stderr)
            results.append(run_worker(system, corpus, Path(tmp) / f"out-{system}", args))
            print(json.dumps(results[-1]), file=sys.stderr)
        if "local" in systems and not args.no_memory_check:
            small = Path(tmp) / "quarter.txt"
            write_corpus(small, sentences, args.rows // 4)
            r = run_worker("local", small, Path(tmp) / "out-quarter", args)
            r["system"] = "local (¼ rows)"
            results.append(r)
            print(json.dumps(r), file=sys.stderr)
    loop_rate = next((r["rows_per_s"] for r in results if r["system"] == "loop"), None)
    md = table(results, loop_rate)
    ratios = {r["system"]: round(r["rows_per_s"] / loop_rate, 3) for r in results if loop_rate}
    cpu = cpu_description()
    record = {"date": time.strftime("%Y-%m-%d"),
              "command": "python benchmarks/bulk.py " + shlex.join(sys.argv[1:]),
              "rows": args.rows, "shard_rows": args.shard_rows, "unique_sentences": len(sentences),
              "model_dir": str(args.model_dir), "machine": {**cpu, "cores": default_threads()},
              "results": results, "throughput_vs_loop": ratios,
              "ray_overhead": round(loop_rate / next(r["rows_per_s"] for r in results if r["system"] == "ray"), 3)
              if loop_rate and "ray" in systems else None}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(md)
    print(f"wrote {args.out}; tables and plots: python benchmarks/report.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
