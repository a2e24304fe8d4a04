"""The serving benchmark's soak: a long run of mixed requests against the SDK server, its memory over time.

Requests of 1-64 inputs (some long texts; float and base64; 128 or 384 dimensions) from 32 clients for
``--soak`` seconds, the server's resident memory (its process tree) sampled every 2 s.

    python benchmarks/serving.py --systems sdk --soak 120    # the "soak" entry of the result file
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import psutil

from benchmarks.loadgen import tree_rss_mb, wrk, wrk_errors
from benchmarks.serving_systems import PORTS, server_command, wait_up

ROOT = Path(__file__).resolve().parents[1]


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
    errors = wrk_errors(r)
    return {"seconds": args.soak, "requests": r["requests"], "errors": errors, "wrk": r,
            "rss_first_quarter_mb": max(rss[:quarter]), "rss_last_quarter_mb": max(rss[-quarter:]),
            "rss_max_mb": max(rss), "samples": samples}
