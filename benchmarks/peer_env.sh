# Sourced by the scripts that build the benchmark peers' own environments (cpu_peers_env.sh, st_onnx_env.sh,
# infinity_env.sh): a virtual environment with the CPU torch in it, and a pip that keeps that torch.
#   source "$(dirname "$0")/peer_env.sh"; make_env_with_cpu_torch "$ENV"; pip_keep_torch "$ENV" PACKAGES...
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
TORCH_PIN="torch==2.13.0"  # the CPU wheel; an unpinned torch would pull a CUDA build
constraints="$(mktemp)"
trap 'rm -f "$constraints"' EXIT
echo "$TORCH_PIN" > "$constraints"

make_env_with_cpu_torch() {  # ENV_DIR
  "$PY" -m venv "$1"
  "$1/bin/pip" install -q --upgrade pip
  # Torch first, alone. Here pip's configuration finds the local CPU wheel.
  # Elsewhere set TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu.
  echo "installing $TORCH_PIN (CPU)"
  "$1/bin/pip" install -q ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "$TORCH_PIN"
}

pip_keep_torch() {  # ENV_DIR PIP_ARGS...: pip install under the torch pin
  local env="$1"
  shift
  "$env/bin/pip" install -q -c "$constraints" "$@"
}
