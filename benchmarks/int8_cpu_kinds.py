"""int8 accuracy on every x86 CPU kind: this CPU, and an AVX2-only one emulated with qemu-user.

What an int8 graph computes can depend on the CPU (onnxruntime's u8 x s8 kernel saturates int16 sums
on CPUs without VNNI; see ``export/quantize.py``). This script embeds the STS-B dev sentences with each
quantised variant of one or more model directories, on this machine and under ``qemu-x86_64 -cpu
Haswell`` (AVX2, FMA, no AVX-512, no VNNI: the int8 kernels of an AMD Zen 1-3 or a pre-Ice-Lake Intel),
and compares each with the fp32 variant computed here (float32 is the same on every CPU kind up to
rounding): min / mean cosine, and STS-B dev Spearman x100 with its change against fp32, as the export
gate measures (the gate compares with torch; fp32 matches torch to cosine 0.99999).

QEMU translates every instruction, so the emulated runs are slow (all-MiniLM-L6-v2 int8: about 6
sentences/s; float32 is far slower, so it is never emulated). ``apt-get install qemu-user``.

    python benchmarks/int8_cpu_kinds.py --model-dir models/minilm [--model-dir models/minilm-w8] \\
        [--sentences 400] [--out benchmarks/results/int8-cpu-kinds]

Writes ``OUT.json`` (every figure, the CPU, the command) and prints the table; ``python benchmarks/report.py``
renders it into the docs.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "sdk"))
EMULATED_CPU = "Haswell"


def embed(model_dir: Path, variant: str, sentences: list[str]) -> np.ndarray:
    """The variant's graph outputs for ``sentences`` (input order), run the way the Encoder batches them."""
    from simcse_sdk.inputs.batching import plan_batches
    from simcse_sdk.model.manifest import TOKENIZER_NAME, Manifest
    from simcse_sdk.model.tokenizer import SentenceTokenizer
    from simcse_sdk.runtimes.session import open_session

    manifest = Manifest.load(model_dir)
    v = manifest.variants[variant]
    session = open_session(v, model_dir / v.file, "cpu", None)
    tok = SentenceTokenizer(model_dir / TOKENIZER_NAME, manifest.max_seq_length)
    out = np.zeros((len(sentences), manifest.embedding_dim), np.float32)
    for b in plan_batches(tok.encode(sentences), 64, 8192, manifest.pad_token_id):
        out[b.indices] = session.run(b.input_ids, b.attention_mask)
    return out


def _worker(argv: list[str]) -> int:
    """``--worker MODEL_DIR VARIANT SENTENCES.json OUT.npy``: what runs under the emulator."""
    model_dir, variant, sentences, out = argv
    np.save(out, embed(Path(model_dir), variant, json.loads(Path(sentences).read_text(encoding="utf-8"))))
    return 0


def emulated(model_dir: Path, variant: str, sentences: list[str], tmp: Path) -> tuple[np.ndarray, float]:
    """The variant's embeddings computed on an emulated AVX2-only CPU, and the seconds it took."""
    qemu = shutil.which("qemu-x86_64")
    if qemu is None or platform.machine() != "x86_64":
        raise SystemExit("needs qemu-x86_64 on an x86_64 machine: apt-get install qemu-user")
    (tmp / "sentences.json").write_text(json.dumps(sentences), encoding="utf-8")
    out = tmp / f"{variant}.npy"
    t = time.perf_counter()
    subprocess.run([qemu, "-cpu", EMULATED_CPU, sys.executable, __file__, "--worker", str(model_dir), variant,
                    str(tmp / "sentences.json"), str(out)], check=True, stderr=subprocess.DEVNULL)
    return np.load(out), time.perf_counter() - t


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def scores(emb: np.ndarray, ref: np.ndarray, index: dict[str, int], pairs) -> dict[str, float]:
    from scipy.stats import spearmanr

    cos = (_unit(emb) * _unit(ref)).sum(1)
    e = _unit(emb)
    sims = (e[[index[s] for s in pairs.first]] * e[[index[s] for s in pairs.second]]).sum(1)
    return {"min_cos": float(cos.min()), "mean_cos": float(cos.mean()),
            "stsb_dev": float(100 * spearmanr(sims, pairs.gold)[0])}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        return _worker(argv[1:])
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", action="append", required=True, help="an exported model directory (repeatable)")
    p.add_argument("--data-dir", help="data directory (default $SIMCSE_DATA_DIR)")
    p.add_argument("--sentences", type=int, default=0,
                   help="score only the first N STS-B dev pairs' sentences (default: all 1,500 pairs)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "int8-cpu-kinds"),
                   help="write OUT.json")
    args = p.parse_args(argv)

    from simcse_sdk.evaluation.data.senteval import PairSet, load_stsb
    from simcse_sdk.model.manifest import Manifest
    from simcse_sdk.runtimes.machine import cpu_description

    dev = load_stsb(args.data_dir, "dev")
    if args.sentences:
        n = args.sentences // 2
        dev = PairSet(dev.name, dev.first[:n], dev.second[:n], dev.gold[:n])
    sentences = list(dict.fromkeys(dev.first + dev.second))
    index = {s: i for i, s in enumerate(sentences)}
    rows = []
    with tempfile.TemporaryDirectory() as tmp_s:
        for d in map(Path, args.model_dir):
            manifest = Manifest.load(d)
            ref = embed(d, "fp32", sentences)
            base = scores(ref, ref, index, dev)["stsb_dev"]
            for name, v in manifest.variants.items():
                if v.dtype != "int8" or v.runtime != "onnxruntime":
                    continue
                recipe = v.quantization.get("name", "?")
                bits = v.quantization.get("weight_bits", 8)  # exports before weight_bits existed used 8
                here = scores(embed(d, name, sentences), ref, index, dev)
                emb, seconds = emulated(d, name, sentences, Path(tmp_s))
                there = scores(emb, ref, index, dev)
                for cpu, s in (("this CPU", here), (f"emulated {EMULATED_CPU} (AVX2, no VNNI)", there)):
                    rows.append({"model_dir": str(d), "variant": name, "recipe": recipe, "weight_bits": bits, "cpu": cpu,
                                 **s, "stsb_dev_fp32": base, "stsb_dev_delta": s["stsb_dev"] - base})
                print(f"{d} {name} ({recipe}, {bits}-bit weights): here {here}; emulated {there} ({seconds:.0f} s)",
                      file=sys.stderr)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"cpu": cpu_description(), "date": time.strftime("%Y-%m-%d"), "sentences": len(sentences),
            "pairs": len(dev.gold), "command": "python benchmarks/int8_cpu_kinds.py " + shlex.join(argv)}
    (out.with_suffix(".json")).write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    lines = [f"int8 against fp32 on {len(sentences)} STS-B dev sentences ({len(dev.gold)} pairs); this CPU: "
             f"{meta['cpu']['model']} ({', '.join(meta['cpu']['int8_flags'])}); {meta['date']}; `{meta['command']}`", "",
             "| model dir | variant | recipe | weight bits | CPU | min cos | mean cos | STS-B dev | Δ vs fp32 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {Path(r['model_dir']).name} | {r['variant']} | {r['recipe']} | {r['weight_bits']} | {r['cpu']} "
                     f"| {r['min_cos']:.4f} | {r['mean_cos']:.5f} | {r['stsb_dev']:.2f} | {r['stsb_dev_delta']:+.2f} |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
