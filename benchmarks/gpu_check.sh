#!/usr/bin/env bash
# Short GPU check, run from the repository root on a machine with an NVIDIA GPU:
#   bash benchmarks/gpu_check.sh [--steps 50] [--micro-batch 32]
# Uses the machine's CUDA torch if it has one (a venv with system site packages), else installs
# torch==2.13.0 from PyPI (the Linux wheel there is the CUDA build); then our pinned deps minus torch.
set -euo pipefail
VENV=.venv-gpu
PY=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv --system-site-packages "$VENV"
fi
if ! "$VENV/bin/python" -c "import torch, sys; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
  "$VENV/bin/pip" install -q "torch==2.13.0"
fi
for pkg in lightning transformers tokenizers omegaconf hydra-core safetensors numpy; do
  "$VENV/bin/python" -c "import importlib.metadata as m, sys; m.version('$pkg')" 2>/dev/null \
    || "$VENV/bin/pip" install -q "$(grep -i "^$pkg==" requirements.lock)"
done
"$VENV/bin/pip" install -q --no-deps -e .
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
OMP_NUM_THREADS=8 "$VENV/bin/python" benchmarks/gpu_check.py "$@"
