"""Where the time goes in one variant: time per operator type, on the STS-B test sentences.

Runs the SDK's own batches (sorted by length, ``--batch-size`` rows) through one session on
``--threads`` threads, with the runtime's profiler on: onnxruntime's session profiling for the ONNX
variants, OpenVINO's per-layer performance counters for the IR variants. Prints a table of operator
types by total time, their share, and the GEMM share against the machine's measured GEMM rate.

    python benchmarks/profile_ops.py --model-dir models/minilm --variant int8 --threads 1 --batch-size 16
    python benchmarks/profile_ops.py --model-dir models/minilm --variant ov-bf16
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "sdk")]

from simcse_sdk.evaluation.data.senteval import load_stsb  # noqa: E402
from simcse_sdk.inputs.batching import plan_batches  # noqa: E402
from simcse_sdk.model.manifest import TOKENIZER_NAME, Manifest  # noqa: E402
from simcse_sdk.model.tokenizer import SentenceTokenizer  # noqa: E402


def batches(model_dir: Path, manifest: Manifest, data_dir: str | None, batch_size: int) -> list:
    test = load_stsb(data_dir, "test")
    tok = SentenceTokenizer(model_dir / TOKENIZER_NAME, manifest.max_seq_length)
    ids = tok.encode(list(test.first) + list(test.second))
    return list(plan_batches(ids, batch_size, 8192, manifest.pad_token_id))


def profile_onnxruntime(path: Path, threads: int, work: list) -> tuple[dict[str, float], float]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"],
                                disabled_optimizers=["SkipLayerNormFusion"])  # as simcse_sdk.runtimes.onnxruntime runs it
    names = {i.name for i in sess.get_inputs()}
    feeds = [{k: v for k, v in (("input_ids", b.input_ids), ("attention_mask", b.attention_mask)) if k in names}
             for b in work]
    for f in feeds[:8]:
        sess.run(None, f)
    wall = time.perf_counter()
    for f in feeds:
        sess.run(None, f)
    wall = time.perf_counter() - wall
    opts.enable_profiling = True
    opts.profile_file_prefix = os.path.join(tempfile.mkdtemp(), "ort")
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"],
                                disabled_optimizers=["SkipLayerNormFusion"])
    for f in feeds:
        sess.run(None, f)
    trace = json.loads(Path(sess.end_profiling()).read_text())
    by_op: dict[str, float] = defaultdict(float)
    for ev in trace:
        if ev.get("cat") == "Node" and ev["name"].endswith("_kernel_time"):
            by_op[ev["args"]["op_name"]] += ev["dur"] / 1e6
    return by_op, wall


def profile_openvino(path: Path, threads: int, precision: str, work: list) -> tuple[dict[str, float], float]:
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(core.read_model(str(path)), "CPU", {
        "INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY",
        "PERF_COUNT": True})
    req = compiled.create_infer_request()
    feeds = [{"input_ids": b.input_ids, "attention_mask": b.attention_mask} for b in work]
    for f in feeds[:8]:
        req.infer(f)
    by_op: dict[str, float] = defaultdict(float)
    wall = time.perf_counter()
    for f in feeds:
        req.infer(f)
        for info in req.profiling_info:
            by_op[f"{info.node_type} [{info.exec_type}]"] += info.real_time.total_seconds()
    return by_op, time.perf_counter() - wall


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", default=str(ROOT / "models" / "minilm"))
    p.add_argument("--variant", default="int8")
    p.add_argument("--threads", type=int, default=1, help="1 = one of the SDK's parallel batches")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--data-dir", default=os.environ.get("SIMCSE_DATA_DIR"))
    p.add_argument("--top", type=int, default=15)
    args = p.parse_args()
    model_dir = Path(args.model_dir)
    manifest = Manifest.load(model_dir)
    variant = manifest.variants[args.variant]
    work = batches(model_dir, manifest, args.data_dir, args.batch_size)
    sentences = sum(len(b.indices) for b in work)
    if variant.runtime == "openvino":
        by_op, wall = profile_openvino(model_dir / variant.file, args.threads,
                                       str(variant.runtime_options.get("precision", "f32")), work)
    else:
        by_op, wall = profile_onnxruntime(model_dir / variant.file, args.threads, work)
    total = sum(by_op.values())
    print(f"{args.variant} ({variant.runtime}), {args.threads} thread(s), batch {args.batch_size}: {sentences} sentences "
          f"in {wall:.2f} s unprofiled = {sentences / wall:.0f} sent/s; profiled operator time {total:.2f} s\n")
    print("| operator | s | share |\n|---|---|---|")
    for op, t in sorted(by_op.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"| {op} | {t:.3f} | {100 * t / total:.1f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
