"""The SDK in-process, for ``benchmarks/serving.py``: the offline ceiling and one-sentence latency on demand.

A process of its own that loads the Encoder once and answers commands on stdin, one JSON line each on stdout,
so that its measurements can be taken between the HTTP cells, next to the ones they are compared with:

- ``bulk [PASSES]``: passes of ``Encoder.encode`` over all the sentences (batch 32; default 5): the best pass's
  sentences/s, and all of them together (``mean_sent_per_s``);
- ``one SECONDS``: ``Encoder.encode([sentence])`` one sentence a call for SECONDS: p50 and p99 in ms.

    python benchmarks/serving/probe.py MODEL_DIR DATA_DIR THREADS
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[2] / "sdk")]

from simcse_sdk import Encoder  # noqa: E402
from simcse_sdk.evaluation.data.senteval import load_stsb  # noqa: E402


def main() -> None:
    model_dir, data_dir, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    test = load_stsb(data_dir, "test")
    sentences = list(test.first) + list(test.second)
    enc = Encoder(model_dir, device="cpu", variant="int8", threads=threads)
    enc.encode(sentences[:256])
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command, *arg = line.split()
        if command == "bulk":  # onnxruntime settles over the first passes (new shapes): the best pass is the ceiling
            passes, best, took = int(arg[0]) if arg else 5, 0.0, 0.0
            for _ in range(passes):
                t0 = time.perf_counter()
                enc.encode(sentences, batch_size=32)
                elapsed = time.perf_counter() - t0
                took += elapsed
                best = max(best, len(sentences) / elapsed)
            print(json.dumps({"sent_per_s": best, "mean_sent_per_s": len(sentences) * passes / took,
                              "sentences": len(sentences)}), flush=True)
        elif command == "one":  # one sentence a call, as one client sends them
            times, i, end = [], 0, time.perf_counter() + float(arg[0])
            while time.perf_counter() < end:
                t0 = time.perf_counter()
                enc.encode([sentences[i % len(sentences)]])
                times.append(time.perf_counter() - t0)
                i += 1
            times.sort()
            print(json.dumps({"p50_ms": 1000 * times[len(times) // 2], "p99_ms": 1000 * times[int(len(times) * 0.99)],
                              "calls": len(times)}), flush=True)
        else:
            break


if __name__ == "__main__":
    main()
