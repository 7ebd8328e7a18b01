#!/usr/bin/env bash
# How much does a validation score owe to which rows were drawn for validation? Runs a task's script
# with its default recipe on several seeded validation splits of the same data, and the TF-IDF +
# logistic regression baseline on each, then prints every score with the mean and standard deviation
# (also written to $OUTPUT_ROOT/splits.md). Training seed and hyperparameters stay the script's own.
#   bash scripts/repeat_splits.sh                      # tweets, 5 splits: about 20 minutes here
#   TASK=ag_news SPLIT_SEEDS="1 2 3" bash scripts/repeat_splits.sh
# Every other variable of the task script (EPOCHS=..., MODEL=...) passes through from the environment.
TASK=${TASK:-tweets}                        # a task of the task table (textclf/tasks.py): tweets, imdb, ag_news, ...
SPLIT_SEEDS=${SPLIT_SEEDS:-"42 1 2 3 4"}    # 42 is the split the task script uses by default
OUTPUT_ROOT=${OUTPUT_ROOT:-experiments/splits-$TASK}
RAW_DIR=${RAW_DIR:-}

set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source .venv/bin/activate
task_facts=$(python -m textclf.tasks shell "$TASK")  # TASK_SCRIPT, TASK_LABEL_COLUMN, ...: textclf/tasks.py
eval "$task_facts"

for seed in $SPLIT_SEEDS; do
  data_dir="$OUTPUT_ROOT/data-split$seed"
  run_dir="$OUTPUT_ROOT/split$seed"
  if python -m textclf.runs.folder is-finished "$run_dir" 2>/dev/null; then
    echo "split $seed: done already ($run_dir)"
  else  # not started, or interrupted: the task script continues an interrupted run
    echo "=== split $seed: $TASK_SCRIPT"
    SPLIT_SEED=$seed DATA_DIR=$data_dir OUTPUT_DIR=$run_dir RAW_DIR=$RAW_DIR bash "$TASK_SCRIPT"
  fi
  if ! python -m textclf.runs.folder is-finished "$run_dir-tfidf" 2>/dev/null; then
    text_columns=$(python -c "import sys; from textclf.runs.folder import RunInfo; print(','.join(RunInfo.read(sys.argv[1]).text_columns))" "$run_dir")
    python tfidf_baseline.py --train_file "$data_dir/train.csv" --validation_file "$data_dir/validation.csv" \
      --text_column_names "$text_columns" --label_column_name "$TASK_LABEL_COLUMN" --output_dir "$run_dir-tfidf"
  fi
done
python -m textclf.reports.splits "$OUTPUT_ROOT" $SPLIT_SEEDS
