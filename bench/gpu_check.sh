#!/usr/bin/env bash
# The GPU check (issue 31), for a machine with one CUDA GPU: the device-dependent tests, the tweets default,
# and IMDB's best recipe on all 22,496 training reviews (mpnet-base, head+tail, 2 epochs) with the 25,000
# test reviews predicted by predict.py; prints the GPU, each step's time and the accuracy, and writes the
# "GPU check" section of bench/RESULTS.md. Target on one H100: IMDB in <= 10 minutes at test accuracy >= 0.95.
#   bash bench/gpu_check.sh                 # about 15 minutes on an H100, with the models and data set up
# What it needs there: the pinned packages (scripts/setup.sh, or PYTHON=... a Python that has them), the
# zoo's mpnet-base and all-MiniLM-L6-v2 (scripts/setup_models.sh), and the raw data in ../shared/data or
# data/raw (README). Each step's output goes to $LOG_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
LOG_DIR=${LOG_DIR:-experiments/gpu-check}
IMDB_EPOCHS=${IMDB_EPOCHS:-2}
IMDB_BATCH_SIZE=${IMDB_BATCH_SIZE:-32}
IMDB_LR=${IMDB_LR:-3e-5}
IMDB_MAX_SEQ_LENGTH=${IMDB_MAX_SEQ_LENGTH:-512}     # a GPU affords the whole review's head and tail
IMDB_TAIL_TOKENS=${IMDB_TAIL_TOKENS:-256}

bash scripts/setup.sh
source .venv/bin/activate
mkdir -p "$LOG_DIR"
gpu=$(python -c "
import torch
if not torch.cuda.is_available():
    raise SystemExit('error: no CUDA GPU here (torch.cuda.is_available() is False); this check is for a GPU machine')
p = torch.cuda.get_device_properties(0)
print(f'{p.name}, {p.total_memory / 2**30:.0f} GiB, compute capability {p.major}.{p.minor}, torch {torch.__version__}')
")
echo "GPU: $gpu"
python -m textclf.hardware serving | tee "$LOG_DIR/serving.txt"
echo "Training precision here: $(python -m textclf.hardware precision)"

declare -A seconds
step() {  # step NAME COMMAND...: run it, its output into $LOG_DIR/NAME.log, its time into seconds[NAME]
  local name=$1; shift
  local started; started=$(date +%s)
  echo "=== $name: $*"
  if ! "$@" > "$LOG_DIR/$name.log" 2>&1; then echo "error: step $name failed; see $LOG_DIR/$name.log" >&2; exit 1; fi
  seconds[$name]=$(( $(date +%s) - started ))
  echo "    ${seconds[$name]} s"
}

step tests python -m pytest -n 0 -q tests/test_hardware.py tests/test_app.py -k "serving or gpu or precision"
step tweets env OUTPUT_DIR="$LOG_DIR/tweets" OVERWRITE=1 bash scripts/train_tweets.sh
step imdb env OUTPUT_DIR="$LOG_DIR/imdb" OVERWRITE=1 MODEL=mpnet-base MAX_TRAIN_SAMPLES= MAX_EVAL_SAMPLES= \
  EPOCHS="$IMDB_EPOCHS" BATCH_SIZE="$IMDB_BATCH_SIZE" LR="$IMDB_LR" WARMUP_STEPS=100 FREEZE_LOWER_LAYERS= \
  MAX_SEQ_LENGTH="$IMDB_MAX_SEQ_LENGTH" TRUNCATION_TAIL_TOKENS="$IMDB_TAIL_TOKENS" EVAL_BATCH_SIZE=128 \
  PREDICT_WITH=predict.py bash scripts/train_imdb.sh

python - "$LOG_DIR" "$gpu" "${seconds[tests]}" "${seconds[tweets]}" "${seconds[imdb]}" <<'EOF'
import json, sys
from pathlib import Path
from textclf.reports.benchmarks import update_section

log_dir, gpu, tests, tweets, imdb = Path(sys.argv[1]), sys.argv[2], *map(int, sys.argv[3:])
def metric(run, name, key):
    path = log_dir / run / name
    return json.loads(path.read_text()).get(key) if path.is_file() else None
imdb_accuracy = metric("imdb", "test_metrics.json", "accuracy")
tweets_f1 = metric("tweets", "validation_metrics.json", "positive_f1")
train_runtime = metric("imdb", "all_results.json", "train_runtime")
lines = [
    f"GPU: {gpu}. `bash bench/gpu_check.sh`; logs in `{log_dir}`.", "",
    "| step | seconds | result |", "|---|---|---|",
    f"| device-dependent tests | {tests} | passed |",
    f"| tweets default (`bash scripts/train_tweets.sh`) | {tweets} | validation F1 {tweets_f1} |",
    f"| IMDB, mpnet-base on all 22,496 training reviews, 25,000 test reviews predicted by predict.py | {imdb} | "
    f"official test accuracy {imdb_accuracy} (training {train_runtime} s) |", "",
    f"- IMDB end to end: {imdb / 60:.1f} minutes (target <= 10) at accuracy {imdb_accuracy} (target >= 0.95)",
]
print("\n".join(lines))
update_section("GPU check", "\n".join(lines))
EOF
