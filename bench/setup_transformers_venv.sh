#!/usr/bin/env bash
# Creates, once, the Python virtual environment that runs bench/transformers_selfchat.py (the
# paper's own approach: Hugging Face transformers on CPU, fp32), outside the repository at
#   ${DRIFT_SCRIPT_HOME:-$HOME/.cache/drift-script}/venv-transformers
# and prints that environment's python as the last line on stdout. Logs go to stderr.
#
#   bench/setup_transformers_venv.sh          # build once, then reuse (a few seconds)
#   PYTHON=python3.12 bench/…                 # base interpreter (3.11 or newer; torch needs it)
#
# Everything comes from PyPI, pinned below to versions verified together. PyPI's torch wheel for
# Linux x86_64 is a CUDA build whose dependencies pull ~2.5 GB of nvidia-*, triton and cuda-*
# packages, and the CPU-only builds live on a site we cannot reach. So the lock below is installed
# with --no-deps: torch, its CPU-side dependencies, and only those nvidia-* libraries that torch's
# shared objects name as DT_NEEDED (the dynamic loader refuses to import torch without them; none
# of them is ever called on CPU). Left out, because nothing loads them at import or on CPU:
# triton, nvidia-cusolver (only libtorch_cuda_linalg, dlopened for CUDA linear algebra),
# nvidia-nvtx, nvidia-cuda-cccl, cuda-bindings, cuda-pathfinder and the cuda-toolkit metapackage.
# `pip check` therefore reports those as missing: that is expected.
set -euo pipefail

home="${DRIFT_SCRIPT_HOME:-$HOME/.cache/drift-script}"
venv="$home/venv-transformers"
py="$venv/bin/python"
base="${PYTHON:-python3}"
stamp="$venv/drift-script-lock.txt"

# The complete set of packages, one pin a line, installed with --no-deps (verified 2026-11-28 on
# CPython 3.11.7, Debian 12, x86_64).
lock="
torch==2.15.0
filelock==4.3.1
typing_extensions==4.16.0
setuptools==84.2.1
sympy==1.14.0
mpmath==1.3.0
networkx==3.6.1
Jinja2==3.1.6
MarkupSafe==3.0.4
fsspec==2026.9.0
nvidia-cuda-runtime==13.2.86
nvidia-cuda-cupti==13.2.86
nvidia-cuda-nvrtc==13.2.86
nvidia-cublas==13.4.1.3
nvidia-cufft==12.2.0.57
nvidia-cufile==1.17.1.22
nvidia-cusparse==12.7.10.12
nvidia-nvjitlink==13.5.37
nvidia-cusparselt-cu13==0.8.1
nvidia-cudnn-cu13==9.26.0.51
nvidia-nccl-cu13==2.30.7
nvidia-nvshmem-cu13==3.7.2
transformers==5.24.0
huggingface_hub==2.4.0
hf-xet==1.8.0
tokenizers==0.23.3
safetensors==0.8.0
numpy==2.4.6
packaging==26.4
PyYAML==6.0.4
regex==2026.11.19
tqdm==4.70.1
typer==0.29.2
click==8.5.1
rich==15.0.0
Pygments==2.21.0
markdown-it-py==4.3.0
mdurl==0.1.2
shellingham==1.5.4
annotated-doc==0.0.7
httpx2==2.16.2
httpcore2==2.16.2
h11==0.16.0
anyio==4.16.0
idna==3.20
certifi==2026.10.19.post1
truststore==0.10.5
pydantic==2.14.4
pydantic_core==2.50.5
annotated-types==0.8.0
typing-inspection==0.4.5
requests==2.34.2
charset-normalizer==3.5.3
urllib3==2.8.0
gguf==0.19.0
accelerate==1.15.0
psutil==7.2.2
"

log() { echo "setup_transformers_venv: $*" >&2; }

# Imports everything the benchmark uses and runs one CPU matrix product.
imports() {
  "$py" - <<'EOF' >&2
import torch, transformers, gguf, accelerate  # noqa: F401
from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline  # noqa: F401
assert (torch.ones(2) @ torch.ones(2)).item() == 2.0
EOF
}

# The environment exists, was built from this very lock, and imports.
works() {
  [[ -x "$py" && -f "$stamp" ]] || return 1
  [[ "$(cat "$stamp")" == "$(printf '%s' "$lock")" ]] || return 1
  imports
}

mkdir -p "$home"
exec 9>"$home/venv-transformers.lock"
flock 9   # two benches started at once build the environment once

if works 2>/dev/null; then
  echo "$py"
  exit 0
fi

if ! "$base" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  log "$base is missing or older than Python 3.11 (torch 2.15 needs 3.11+); set PYTHON=…"
  exit 1
fi

start=$(date +%s)
log "building $venv with $("$base" --version 2>&1) (about 2.5 GB to download, 4.3 GB on disk)"
rm -rf "$venv"
"$base" -m venv "$venv" >&2
# shellcheck disable=SC2086  # one pin per word
"$py" -m pip install --no-deps --only-binary=:all: --no-cache-dir --disable-pip-version-check \
  --no-input --progress-bar off $lock >&2
if ! imports; then
  log "the environment was built but torch/transformers do not import; see above"
  exit 1
fi
printf '%s' "$lock" >"$stamp"
log "ready in $(( $(date +%s) - start )) s: $(du -sh "$venv" | cut -f1) on disk"
echo "$py"
