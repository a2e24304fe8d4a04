"""First call of each new input shape against the steady state, per variant: why fp16 was slow on CUDA.

On the H200 run (benchmarks/results/latency-cuda-h200*.json) our fp16 graph ran 3x slower than fp32.
The fp16 graph has the same fused ops as fp32 and no float32 islands, so the suspicion is a setup cost
per new (batch, sequence) shape in fp16 only (onnxruntime's attention picking a kernel that plans per
shape). This prints, for each variant, the first call and the median of 10 calls at 9 shapes, through
the SDK's own Runtime; run it once as is and once with ``ORT_ENABLE_CUDNN_FLASH_ATTENTION=0`` (onnxruntime
reads it when the session is created) to see whether that kernel is the cause.

    python benchmarks/cuda_shapes.py --model-dir DIR --variants fp32 fp16 --device cuda

CPU works too (``--device cpu``), for checking the script itself.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

SHAPES = [(1, 7), (1, 13), (32, 16), (32, 32), (128, 16), (128, 32), (128, 48), (97, 48), (32, 256)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", required=True, help="an exported model directory")
    ap.add_argument("--variants", nargs="+", default=["fp32", "fp16"], help="variants to time (default fp32 fp16)")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--repeats", type=int, default=10, help="steady-state calls per shape (default 10)")
    args = ap.parse_args()
    print("onnxruntime", ort.__version__, ort.get_available_providers(), flush=True)
    print("ORT_ env:", {k: v for k, v in os.environ.items() if k.startswith("ORT_")}, flush=True)
    from simcse_sdk.model.manifest import Manifest
    from simcse_sdk.runtimes.onnxruntime import Runtime

    manifest = Manifest.load(args.model_dir)
    rng = np.random.default_rng(0)
    results = {}
    for name in args.variants:
        rt = Runtime(Path(args.model_dir) / manifest.variants[name].file, device=args.device)
        print(f"== {name}: {rt.providers}", flush=True)
        rt.run(*_feed(rng, 2, 8))  # the session's own first run
        rows = []
        for b, s in SHAPES:
            x = _feed(rng, b, s)
            t = time.perf_counter()
            rt.run(*x)
            first = time.perf_counter() - t
            steady = []
            for _ in range(args.repeats):
                t = time.perf_counter()
                rt.run(*x)
                steady.append(time.perf_counter() - t)
            rows.append({"batch": b, "seq": s, "first_ms": 1000 * first, "steady_ms": 1000 * float(np.median(steady))})
            print(f"  shape ({b:3d}, {s:3d}): first {rows[-1]['first_ms']:8.2f} ms, "
                  f"steady median {rows[-1]['steady_ms']:7.3f} ms", flush=True)
        results[name] = rows
    print(json.dumps({"device": args.device, "onnxruntime": ort.__version__, "results": results}))


def _feed(rng: np.random.Generator, b: int, s: int) -> tuple[np.ndarray, np.ndarray]:
    ids = rng.integers(1000, 20000, size=(b, s), dtype=np.int64)
    ids[:, 0] = 101
    mask = np.ones((b, s), dtype=np.int64)
    mask[b // 2:, s // 2:] = 0  # half the rows padded: the mask path the SDK's batches take
    ids[mask == 0] = 0
    return ids, mask


if __name__ == "__main__":
    main()
