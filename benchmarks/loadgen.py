"""Load generation and the taps that measure a server under it: request bodies, wrk, a process's CPU and memory,
and the server's own Prometheus counters. Used by benchmarks/serving.py.

    bodies = Path("bodies-1.jsonl"); write_bodies(sentences, 1, bodies)
    wrk("http://127.0.0.1:8080/v1/embeddings", bodies, concurrency=64, duration=8)["requests"]
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
from pathlib import Path

import httpx2 as httpx
import psutil

LUA = Path(__file__).resolve().parent / "serving" / "load.lua"


def write_bodies(sentences: list[str], size: int, path: Path, seed: int = 0) -> None:
    rng = random.Random(seed)
    with path.open("w") as f:
        for _ in range(2000):
            start = rng.randrange(0, len(sentences) - size)
            f.write(json.dumps({"input": sentences[start : start + size], "model": "model",
                                "encoding_format": "float"}) + "\n")


def wrk(url: str, bodies: Path, concurrency: int, duration: float) -> dict[str, float]:
    """wrk's results, with the CPU seconds wrk itself used (``cpu_s``: the load generator's share of the cores). A
    request times out only after the window (at least 60 s): a latency longer than the window is never seen, and a
    long cell of a slow system (32 sentences from 256 clients, 40 s and more a request) must not read as errors."""
    seconds = max(1, round(duration))
    cmd = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--timeout", f"{max(60, seconds + 1)}s", "-s", str(LUA),
           url]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "BODIES": str(bodies)}, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "cpu_s": cpu}


def wrk_errors(r: dict[str, float]) -> int:
    """Every kind of error wrk counted in ``r`` (connect, read, write, status, timeout)."""
    return sum(int(r[k]) for k in r if k.startswith("errors_"))


def tree_rss_mb(proc: psutil.Process) -> float:
    procs = [proc, *proc.children(recursive=True)]
    return sum(p.memory_info().rss for p in procs if p.is_running()) / 2**20


def thread_cpu(proc: psutil.Process) -> dict[int, float]:
    """CPU seconds of every thread of ``proc`` and its children (``--workers``), by thread id."""
    out = {}
    for p in [proc, *proc.children(recursive=True)]:
        try:
            out.update({t.id: t.user_time + t.system_time for t in p.threads()})
        except psutil.NoSuchProcess:
            continue
    return out


def main_threads(proc: psutil.Process) -> set[int]:
    """The main threads' ids of ``proc`` and its children: each process's event loop (on Linux, its pid)."""
    return {proc.pid, *(p.pid for p in proc.children(recursive=True))}


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
            main_tids: set[int], load: dict[str, float], size: int, seconds: float) -> dict[str, float]:
    """Where the SDK server's time went in one cell, from its own metrics, its per-thread CPU and wrk's CPU.

    The CPU split a request: the event loop (HTTP, JSON, validation: the main thread of each process, less the
    rounds of a lone input that run there, which the server counts), tokenisation (CPU in the tokenizer, which the server counts),
    inference (every other thread of the server and those rounds, less tokenisation) and the load generator
    (wrk's own CPU, on the same cores)."""
    d = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    requests = max(1, int(load["requests"]))
    main = sum(cpu1.get(t, 0.0) - cpu0.get(t, 0.0) for t in main_tids)
    other = sum(v - cpu0.get(t, 0.0) for t, v in cpu1.items() if t not in main_tids)
    tokenize = d.get("simcse_tokenize_cpu_seconds_total", 0.0)
    on_loop = d.get("simcse_loop_round_cpu_seconds_total", 0.0)  # lone inputs' rounds, run on the main thread
    main, other = main - on_loop, other + on_loop
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
