#!/usr/bin/env bash
# The GPU checks in one script: providers, a short AMP SimCSE run, fp16 vs fp32 ONNX on CUDA, per-shape setup
# cost (benchmarks/cuda_shapes.py), what variant="auto" picks,
# and the latency benchmark on CUDA. Usage:
#   bash benchmarks/gpu_checks.sh BASE_MODEL_DIR DATA_DIR OUT_DIR
set -uo pipefail
BASE=$1 DATA=$2 OUT=$3
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import onnxruntime as o, torch; print('onnxruntime', o.__version__, o.get_available_providers()); print('torch', torch.__version__, torch.cuda.get_device_name(0))"

echo "== 1. SimCSE unsup, batch 64, max length 32, bf16 AMP on CUDA"
python3 -m trainer --unsup wiki --base "$BASE" --data-dir "$DATA" --out "$OUT/run-unsup" --device cuda --amp bf16 \
  --steps 150 --batch-size 64 --max-len 32 --eval-steps 50 --no-progress 2>&1 | tail -25

echo "== 2. export fp32 + fp16 (+int8), gate on CUDA"
python3 -m export --ckpt "$BASE" --out "$OUT/onnx" --fp16 --int8 --data-dir "$DATA" --force 2>&1 | grep -v "^INFO root" | tail -12
cat "$OUT/onnx/report.md"
python3 - "$OUT/onnx" "$DATA" <<'PY'
import sys, time, numpy as np
from simcse_sdk import Encoder
from simcse_sdk.evaluation import evaluate_dev
from simcse_sdk.evaluation.data.senteval import load_stsb
d, data = sys.argv[1], sys.argv[2]
test = load_stsb(data, "test"); sents = list(test.first) + list(test.second)
embs = {}
for v in ("fp32", "fp16"):
    e = Encoder(d, device="cuda", variant=v)
    print(v, "providers", e.runtime.providers)
    dev = evaluate_dev(e.encode, data)
    e.encode(sents[:256])
    one = []
    for s in sents[:200]:
        t = time.perf_counter(); e.encode([s]); one.append(time.perf_counter() - t)
    t = time.perf_counter(); embs[v] = e.encode(sents, batch_size=128); dt = time.perf_counter() - t
    print(f"{v}: STS-B dev {dev.stsb:.3f}  1-sentence p50 {1000*np.median(one):.2f} ms  "
          f"{len(sents)/dt:.0f} sent/s (bs 128)")
a, b = embs["fp32"], embs["fp16"]
cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
print(f"fp16 vs fp32 on CUDA: min cos {cos.min():.6f} mean {cos.mean():.6f}")
PY

echo "== 3. latency benchmark on CUDA"
python3 benchmarks/latency.py --device cuda --model-dir "$OUT/onnx" --base "$BASE" --data-dir "$DATA" --quick \
  --batch-sizes 32 128 --out "$OUT" 2>&1 | tail -14

echo "== 4. fp16 vs fp32: first call of each new shape against the steady state, with and without cuDNN attention"
python3 benchmarks/cuda_shapes.py --model-dir "$OUT/onnx" --variants fp32 fp16 --device cuda 2>&1 | grep -v '^{'
ORT_ENABLE_CUDNN_FLASH_ATTENTION=0 python3 benchmarks/cuda_shapes.py --model-dir "$OUT/onnx" --variants fp16 \
  --device cuda 2>&1 | grep -v '^{'

echo "== 5. variant=auto on CUDA: what it measures and picks"
python3 -c "import logging, sys, tempfile; logging.basicConfig(level=logging.INFO); from simcse_sdk import Encoder; \
e = Encoder(sys.argv[1], device='cuda', cache_dir=tempfile.mkdtemp()); print(e.describe())" "$OUT/onnx"
