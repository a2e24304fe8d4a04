"""How long ``Encoder(path)`` (``variant="auto"``) takes to start: first start (measures), cached start, explicit variant.

Each start runs in a fresh Python process with an empty (first) or warm (cached) autotune cache,
so nothing is shared between them but the page cache. The import of simcse_sdk is timed apart.

    python benchmarks/first_start.py --model-dir models/minilm-ov --runs 3

Writes ``benchmarks/results/first-start-<name>.json`` (``--name``, default ``cpu``) and prints its table;
``python benchmarks/report.py`` renders it into the docs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from simcse_sdk import Encoder
t1 = time.perf_counter()
kwargs = json.loads(sys.argv[2])
enc = Encoder(sys.argv[1], device="cpu", **kwargs)
t2 = time.perf_counter()
m = enc.choice.measurements
print(json.dumps({"import_s": t1 - t0, "start_s": t2 - t1, "variant": enc.variant, "reason": enc.choice.reason,
                  "measuring_s": enc.choice.seconds, "candidates": len(m),
                  "left_out": sorted(n for n, x in m.items() if x.left_out)}))
"""


def start(model_dir: str, **kwargs: object) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, model_dir, json.dumps(kwargs)], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", required=True, help="an exported model directory (python -m export ...)")
    ap.add_argument("--runs", type=int, default=3, help="first starts to time, each with an empty cache (default 3)")
    ap.add_argument("--name", default="cpu", help="results file suffix (default cpu)")
    ap.add_argument("--out-dir", default=str(Path(__file__).parent / "results"), help="where results go")
    args = ap.parse_args()
    manifest = json.loads((Path(args.model_dir) / "manifest.json").read_text())
    rows = []
    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory() as cache:
            first = start(args.model_dir, cache_dir=cache)
            cached = start(args.model_dir, cache_dir=cache)
        rows.append({"run": run, "first": first, "cached": cached})
        print(f"run {run}: first start {first['start_s']:.2f} s (measuring {first['measuring_s']:.2f} s, "
              f"{first['candidates']} candidates, chose {first['variant']}, left out after a partial measurement: "
              f"{', '.join(first['left_out']) or 'none'}); cached start {cached['start_s']:.2f} s "
              f"({cached['reason']}); import {first['import_s']:.2f} s", flush=True)
    explicit = {name: start(args.model_dir, variant=name)["start_s"] for name in manifest["variants"]}
    print("explicit variant starts: " + ", ".join(f"{n} {s:.2f} s" for n, s in explicit.items()))
    firsts = [r["first"]["start_s"] for r in rows]
    summary = {"first_start_median_s": statistics.median(firsts), "first_start_max_s": max(firsts),
               "cached_start_median_s": statistics.median(r["cached"]["start_s"] for r in rows)}
    print(f"first start median {summary['first_start_median_s']:.2f} s (max {summary['first_start_max_s']:.2f}); "
          f"cached start median {summary['cached_start_median_s']:.2f} s")
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    from simcse_sdk.runtimes.machine import cpu_description

    result = {"date": time.strftime("%Y-%m-%d"),
              "command": "python benchmarks/first_start.py " + shlex.join(sys.argv[1:]),
              "model_dir": args.model_dir, "variants": list(manifest["variants"]), "cpu": cpu,
              "machine": cpu_description(), "cores": len(os.sched_getaffinity(0)), "runs": rows,
              "explicit_start_s": explicit, **summary}
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"first-start-{args.name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(path)
    print(_markdown(result))
    print(f"wrote {path}; tables and plots: python benchmarks/report.py")


def _markdown(r: dict) -> str:
    lines = [f"# Encoder start times: {r['model_dir']} ({len(r['variants'])} variants), {r['cpu']}, {r['cores']} cores",
             "", "| run | first start (s) | of which measuring (s) | chose | cached start (s) |", "|---|---|---|---|---|"]
    for row in r["runs"]:
        f, c = row["first"], row["cached"]
        lines.append(f"| {row['run']} | {f['start_s']:.2f} | {f['measuring_s']:.2f} | {f['variant']} | {c['start_s']:.2f} |")
    lines += ["", "Explicit variant: " + ", ".join(f"{n} {s:.2f} s" for n, s in r["explicit_start_s"].items()), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
