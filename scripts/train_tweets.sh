#!/usr/bin/env bash
# Fine-tune a pretrained encoder on Kaggle's Disaster Tweets: prepare the data, train, evaluate
# on the validation split, predict the test file.
# Every variable can be overridden from the environment: EPOCHS=3 bash scripts/train_tweets.sh
set -euo pipefail

MODEL=${MODEL:-all-MiniLM-L6-v2}        # a directory, an installed offline model, or a hub id
EPOCHS=${EPOCHS:-2}
LR=${LR:-5e-5}
BATCH_SIZE=${BATCH_SIZE:-32}
MAX_SEQ_LENGTH=${MAX_SEQ_LENGTH:-64}    # tweets are short: 99% fit in about 50 tokens
MAX_TRAIN_SAMPLES=${MAX_TRAIN_SAMPLES:-} # empty: every training row
SEED=${SEED:-42}
OUTPUT_DIR=${OUTPUT_DIR:-experiments/tweets-$(basename "$MODEL")}
LAUNCHER=${LAUNCHER:-python}            # or "torchrun --nproc_per_node 2", "accelerate launch --multi_gpu --num_processes 2"
RAW_DIR=${RAW_DIR:-}                    # Kaggle's train.csv/test.csv; found by itself when empty
DATA_DIR=${DATA_DIR:-data/tweets}

cd "$(dirname "$0")/.."
bash scripts/setup.sh
source .venv/bin/activate  # so that LAUNCHER's python, torchrun or accelerate is the venv's

if [ ! -f "$DATA_DIR/train.csv" ]; then
  if [ -z "$RAW_DIR" ]; then
    for candidate in data/raw/tweets ../shared/data/tweets; do
      if [ -d "$candidate" ]; then RAW_DIR=$candidate; break; fi
    done
  fi
  if [ -z "$RAW_DIR" ]; then
    echo "error: no raw data: put Kaggle's train.csv and test.csv in data/raw/tweets/ or set RAW_DIR" >&2
    exit 2
  fi
  python prepare_data.py --task tweets --raw_dir "$RAW_DIR" --output_dir "$DATA_DIR" --seed "$SEED"
fi

extra=()
if [ -n "$MAX_TRAIN_SAMPLES" ]; then extra+=(--max_train_samples "$MAX_TRAIN_SAMPLES"); fi

$LAUNCHER run_classification.py \
  --model_name_or_path "$MODEL" \
  --train_file "$DATA_DIR/train.csv" --validation_file "$DATA_DIR/validation.csv" --test_file "$DATA_DIR/test.csv" \
  --text_column_names text --label_column_name target --metric_name f1 \
  --do_train --do_eval --do_predict --shuffle_train_dataset \
  --max_seq_length "$MAX_SEQ_LENGTH" --per_device_train_batch_size "$BATCH_SIZE" --per_device_eval_batch_size 128 \
  --learning_rate "$LR" --num_train_epochs "$EPOCHS" --seed "$SEED" \
  --eval_strategy epoch --save_strategy no --logging_steps 20 \
  --output_dir "$OUTPUT_DIR" "${extra[@]}"

echo
echo "Done. Results in $OUTPUT_DIR: eval_results.json (validation F1 of class 1), predict_results.txt (test predictions)."
