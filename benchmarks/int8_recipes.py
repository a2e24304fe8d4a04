"""Compare the int8 quantisation recipes on a real model: accuracy lost vs speed gained.

Quantises the fused fp32 graph of an exported model directory with every recipe in
``export.quantize.RECIPES`` and measures, against fp32, on the same machine:
mean/min cosine over the STS-B dev sentences, Spearman of pair similarities vs fp32,
STS-B dev and test Spearman (the test sentences alone also at batch 1, 64
and 128: batch dependence), and throughput on the STS-B test sentences (length-sorted
batches of 32, median of 3 runs). This is the measurement behind the default recipe.

    python benchmarks/int8_recipes.py --model-dir models/minilm --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simcse_sdk import Encoder  # noqa: E402
from simcse_sdk.evaluation.data.senteval import load_stsb  # noqa: E402
from simcse_sdk.model.manifest import Manifest, Variant, sha256_file  # noqa: E402
from simcse_sdk.model.tokenizer import SentenceTokenizer  # noqa: E402

from export.optimize import prepare_for_cpu  # noqa: E402
from export.quantize import RECIPES, calibration_batches, quantize  # noqa: E402
from trainer.data import resolve_data_file  # noqa: E402


def _variant_dir(src: Path, onnx_file: Path, tmp: Path, name: str) -> Path:
    """A model directory holding one fp32-labelled graph, so Encoder can load any file."""
    d = tmp / name
    d.mkdir()
    (d / "tokenizer.json").symlink_to((src / "tokenizer.json").resolve())
    (d / "model.onnx").symlink_to(onnx_file.resolve())
    m = Manifest.load(src)
    m.variants = {"fp32": Variant(file="model.onnx", sha256=sha256_file(onnx_file), dtype="float32")}
    m.save(d)
    return d


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def _spearman_pairs(emb: np.ndarray, s2i: dict[str, int], first: list[str], second: list[str]) -> np.ndarray:
    return _cos(emb[[s2i[s] for s in first]], emb[[s2i[s] for s in second]])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-dir", required=True, help="exported model directory (its fp32 graph is quantised)")
    p.add_argument("--data-dir", help="data directory (default $SIMCSE_DATA_DIR)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--json", help="write the results here")
    args = p.parse_args()
    src = Path(args.model_dir)
    dev, test = load_stsb(args.data_dir, "dev"), load_stsb(args.data_dir, "test")
    sents = sorted(set(dev.first) | set(dev.second) | set(test.first) | set(test.second))
    s2i = {s: i for i, s in enumerate(sents)}
    test_sents = sorted(set(test.first) | set(test.second))
    t2i = {s: i for i, s in enumerate(test_sents)}
    rows = []
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        files = {"fp32": src / "model.onnx"}
        calib = None
        for name, recipe in RECIPES.items():
            files[name] = tmp / f"{name}.onnx"
            if recipe.static and calib is None:  # in-domain sentences, not the STS-B sentences scored here
                manifest = Manifest.load(src)
                tok = SentenceTokenizer(src / "tokenizer.json", manifest.max_seq_length)
                calib = calibration_batches(resolve_data_file("wiki", args.data_dir), tok, manifest.pad_token_id)
            quantize(files["fp32"], files[name], recipe, calib)
            prepare_for_cpu(files[name])  # as the export does for the published CPU graphs
        base = None
        for name, f in files.items():
            enc = Encoder(_variant_dir(src, f, tmp, name), device="cpu", threads=args.threads)
            emb = enc.encode(sents)
            enc.encode(test_sents[:256])  # warm-up
            rates = []
            for _ in range(3):  # median of 3: single runs on a shared 2-core machine vary by 10 %
                t = time.perf_counter()
                enc.encode(test_sents, batch_size=32)
                rates.append(len(test_sents) / (time.perf_counter() - t))
            rate = float(np.median(rates))
            dev_sims = _spearman_pairs(emb, s2i, dev.first, dev.second)
            by_batch = []  # dynamic activation scales make int8 results depend on batching; static ones do not
            for bs in (1, 64, 128):
                e = enc.encode(test_sents, batch_size=bs)
                by_batch.append(100 * spearmanr(_spearman_pairs(e, t2i, test.first, test.second), test.gold)[0])
            row = {
                "recipe": name,
                "size_mb": round(f.stat().st_size / 2**20, 1),
                "stsb_dev": 100 * spearmanr(dev_sims, dev.gold)[0],
                "stsb_test": 100 * spearmanr(_spearman_pairs(emb, s2i, test.first, test.second), test.gold)[0],
                "sent_per_s": rate,
            }
            row["stsb_test_by_batch"] = {"1": by_batch[0], "64": by_batch[1], "128": by_batch[2]}
            if base is None:
                base = (emb, dev_sims)
            cos = _cos(emb, base[0])
            row.update(mean_cos=float(cos.mean()), min_cos=float(cos.min()),
                       pair_spearman_vs_fp32=float(spearmanr(dev_sims, base[1])[0]))
            rows.append(row)
            print(f"{name}: {row}", file=sys.stderr)
    f32 = rows[0]
    print("| recipe | MB | mean cos | min cos | pair-sim Spearman vs fp32 | STS-B dev | Δ dev | STS-B test | Δ test "
          "| test at bs 1 / 64 / 128 | sent/s | speed-up |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['recipe']} | {r['size_mb']} | {r['mean_cos']:.4f} | {r['min_cos']:.4f} | {r['pair_spearman_vs_fp32']:.4f} "
              f"| {r['stsb_dev']:.2f} | {r['stsb_dev'] - f32['stsb_dev']:+.2f} | {r['stsb_test']:.2f} "
              f"| {r['stsb_test'] - f32['stsb_test']:+.2f} | {r['stsb_test_by_batch']['1']:.2f} / {r['stsb_test_by_batch']['64']:.2f} / "
              f"{r['stsb_test_by_batch']['128']:.2f} "
              f"| {r['sent_per_s']:.0f} | {r['sent_per_s'] / f32['sent_per_s']:.2f}× |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
