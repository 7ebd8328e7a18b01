#!/usr/bin/env bash
# Models x tasks under one budget, in bounded time on 2 CPU cores. Writes $OUTPUT/comparison.md (one
# row per model and task: params, accuracy, macro F1, training time, training samples/s, inference
# ms/example, size on disk) and $OUTPUT/comparison.png (accuracy against training time).
#
# Every model of a task trains on the same fixed, stratified subset of the training split and is
# scored on the same rows: for IMDB a fixed stratified subset of the official test split, for AG News
# the test split carved from the official test file, for tweets the validation split (Kaggle's test
# file has no labels). `tfidf` is TF-IDF + logistic regression on those rows; `tfidf-all` the same
# baseline on the whole training split (it takes seconds: what a user would do instead).
#
# Resumable: a finished run (report.md and test_metrics.json in its folder) is skipped, so the same
# command carries on after a stop. A task folder made with another budget is refused: choose another
# OUTPUT. Every variable below can be overridden: MODELS="tfidf minilm-l3" TASKS=imdb bash scripts/compare_models.sh
#
# The default budget, measured here (2 CPU cores, bf16 chosen by PRECISION=auto; 2026-11-22), each run
# from start to report:
#   tweets  (2,000 rows, 1 epoch; 755 scored): minilm-l6 34 s, minilm-l3 22 s, mpnet-base 130 s
#   ag_news (6,080 rows, 1 epoch; 760 scored): minilm-l6 103 s, minilm-l3 63 s, mpnet-base 453 s
#   imdb    (1,000 rows, 1 epoch; 1,000 scored): minilm-l6 142 s, minilm-l3 63 s, mpnet-base 528 s
#   minilm-l6-sre and minilm-l6-random take as long as minilm-l6; tfidf and tfidf-all seconds.
# In all 35 minutes for the 7 models x 3 tasks (mpnet-base 18 of them). In fp32 (a CPU without fast
# bf16) expect about 2.5x that.
MODELS=${MODELS:-"tfidf tfidf-all minilm-l6 minilm-l6-sre minilm-l3 minilm-l6-random mpnet-base"}  # aliases, paths, or tfidf/tfidf-all
TASKS=${TASKS:-"tweets ag_news imdb"}
TINY=${TINY:-}                          # 1: a smoke test of under a minute (a few rows, short texts, one epoch)
if [ -n "$TINY" ]; then
  : "${TRAIN_ROWS:=40}" "${EVAL_ROWS:=20}" "${MAX_SEQ_LENGTH:=32}" "${BATCH_SIZE:=8}" "${OUTPUT:=experiments/comparison-tiny}"
fi
# Per task, the training rows (a fixed stratified subset), the scored rows ("all": the whole split) and
# the maximum tokens are the task table's (textclf/tasks.py, Task.comparison). TRAIN_ROWS, EVAL_ROWS and
# MAX_SEQ_LENGTH override them for every task; <TASK>_TRAIN_ROWS etc. (IMDB_EVAL_ROWS=all) for one.
TRAIN_ROWS=${TRAIN_ROWS:-}
EVAL_ROWS=${EVAL_ROWS:-}
MAX_SEQ_LENGTH=${MAX_SEQ_LENGTH:-}
# Transformers, every task.
EPOCHS=${EPOCHS:-1}
BATCH_SIZE=${BATCH_SIZE:-16}
EVAL_BATCH_SIZE=${EVAL_BATCH_SIZE:-64}
LR=${LR:-1e-4}
MODEL_LR=${MODEL_LR-"mpnet-base=5e-5"}  # per-model learning rates, "alias=lr ...": base-size models want less
WARMUP=${WARMUP:-0.1}                   # a fraction of the steps
PRECISION=${PRECISION:-auto}            # as the task scripts (scripts/lib/settings.sh): auto, bf16, fp16 or fp32
BF16=${BF16:-}                          # the former setting, still understood: true, false or auto
TFIDF_C=${TFIDF_C:-10}                  # the baseline's inverse regularisation strength
SEED=${SEED:-42}
OUTPUT=${OUTPUT:-experiments/comparison}
DATA_ROOT=${DATA_ROOT:-data}            # prepared splits: DATA_ROOT/<task>/{train,validation,test}.csv
RAW_ROOT=${RAW_ROOT:-}                  # raw files in RAW_ROOT/<task>/; also looked for in data/raw/<task>, ../shared/data/<task>

set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source .venv/bin/activate

learning_rate_of() {  # MODEL_LR's entry for a model, else LR
  local entry
  for entry in $MODEL_LR; do
    if [ "${entry%%=*}" = "$1" ]; then echo "${entry#*=}"; return; fi
  done
  echo "$LR"
}

task_setting() {  # task_setting imdb TRAIN_ROWS: $IMDB_TRAIN_ROWS, else $TRAIN_ROWS, else the task table's
  local per_task="${1^^}_$2" every_task="$2" table="TASK_COMPARISON_$2"
  echo "${!per_task:-${!every_task:-${!table}}}"
}

prepare_task_data() {  # DATA_ROOT/<task> from the raw files, as scripts/lib/run_task.sh does
  local task=$1 data_dir=$2 raw_dir="" candidate
  python -m textclf.data.preparation is-complete "$data_dir" && return  # PROTOCOL.txt, written last, is there
  for candidate in ${RAW_ROOT:+"$RAW_ROOT/$task"} "data/raw/$task" "../shared/data/$task"; do
    if [ -d "$candidate" ]; then raw_dir=$candidate; break; fi
  done
  if [ -z "$raw_dir" ]; then
    echo "error: no raw $task data: put the raw files in data/raw/$task/ or RAW_ROOT/$task/ (see README.md)" >&2
    exit 2
  fi
  # shellcheck disable=SC2086  # word splitting wanted: TASK_PREPARE_FLAGS holds flags
  python prepare_data.py --task "$task" --raw_dir "$raw_dir" --output_dir "$data_dir" --seed "$SEED" $TASK_PREPARE_FLAGS
}

zoo_models_missing() {  # the zoo aliases among MODELS that models/ does not hold yet; other names are
  local model          # paths or hub ids, which run_classification.py resolves (and rejects at once if wrong)
  for model in $MODELS; do
    if [[ " $ZOO_ALIASES " == *" $model "* ]] && [ ! -f "models/$model/ZOO.json" ]; then echo "$model"; fi
  done
}

run_is_finished() {  # its run_info.json, written last, says so (textclf/runs/folder.py)
  python -m textclf.runs.folder is-finished "$1" 2>/dev/null
}

train_baseline() {  # task_dir run_dir train_file
  python tfidf_baseline.py --train_file "$3" --test_file "$1/data/eval.csv" \
    --text_column_names "$TASK_TEXT_COLUMNS" --label_column_name "$TASK_LABEL_COLUMN" --C "$TFIDF_C" --seed "$SEED" --output_dir "$2"
}

# The comparison scores every task by accuracy and macro F1 (comparison.md), whatever the task's own
# metric (the task scripts'), so that one table reads the same for every task.
train_transformer() {  # task_dir run_dir model max_seq_length
  python run_classification.py --model_name_or_path "$3" \
    --train_file "$1/data/train.csv" --test_file "$1/data/eval.csv" \
    --text_column_names "$TASK_TEXT_COLUMNS" --label_column_name "$TASK_LABEL_COLUMN" --metric_name accuracy \
    --do_train --do_predict --shuffle_train_dataset \
    --max_seq_length "$4" --per_device_train_batch_size "$BATCH_SIZE" --per_device_eval_batch_size "$EVAL_BATCH_SIZE" \
    --learning_rate "$(learning_rate_of "$(basename "$3")")" --num_train_epochs "$EPOCHS" --warmup_steps "$WARMUP" \
    --seed "$SEED" --train_sampling_strategy group_by_length --bf16 "$([ "$PRECISION" = bf16 ] && echo true || echo false)" --fp16 "$([ "$PRECISION" = fp16 ] && echo true || echo false)" \
    --optim adamw_torch_fused \
    --save_strategy no --logging_steps 10 --report_to none --disable_tqdm true --output_dir "$2" \
    $(python -m textclf.runs.progress flags "$2")  # an interrupted run's trained model is reused, else from scratch
}

ZOO_ALIASES=$(python -m textclf.models.zoo --aliases)
missing_zoo_models=$(zoo_models_missing)
if [ -n "$missing_zoo_models" ]; then
  # shellcheck disable=SC2086  # one alias a word
  bash scripts/setup_models.sh $missing_zoo_models || echo "warning: scripts/setup_models.sh failed; runs of missing models will fail" >&2
fi

PRECISION=$(python -m textclf.hardware resolve "$PRECISION" "$BF16")
if [ "$PRECISION" = auto ]; then PRECISION=$(python -m textclf.hardware precision); fi
started=$SECONDS
failed=()
for task in $TASKS; do
  data_dir="$DATA_ROOT/$task"
  task_dir="$OUTPUT/$task"
  task_facts=$(python -m textclf.tasks shell "$task")  # TASK_LABEL_COLUMN, TASK_COMPARISON_TRAIN_ROWS, ...: textclf/tasks.py
  eval "$task_facts"
  max_seq_length=$(task_setting "$task" MAX_SEQ_LENGTH)
  prepare_task_data "$task" "$data_dir"
  task_facts=$(python -m textclf.tasks shell "$task" "$data_dir")  # the scored split's description reads PROTOCOL.txt
  eval "$task_facts"
  python -m textclf.reports.comparison subsets --task_dir "$task_dir" \
    --train_file "$data_dir/train.csv" --eval_file "$data_dir/$TASK_COMPARISON_SPLIT.csv" --label_column "$TASK_LABEL_COLUMN" \
    --train_rows "$(task_setting "$task" TRAIN_ROWS)" --eval_rows "$(task_setting "$task" EVAL_ROWS)" --seed "$SEED" \
    --eval_description "$TASK_COMPARISON_SPLIT_DESCRIPTION" \
    --budget "transformers: max_seq_length $max_seq_length, $EPOCHS epoch(s), batch $BATCH_SIZE, learning rate $LR${MODEL_LR:+ ($MODEL_LR)}, warmup $WARMUP, length-grouped batches, dynamic padding; TF-IDF: word 1-2-grams, logistic regression C=$TFIDF_C"
  for model in $MODELS; do
    name=$(basename "$model")
    run_dir="$task_dir/$name"
    if run_is_finished "$run_dir"; then
      echo "[$task] $name: finished earlier, skipped"
      continue
    fi
    mkdir -p "$run_dir"
    echo "[$task] $name: running (log: $run_dir/run.log)"
    run_started=$SECONDS
    case $model in
      tfidf) command=(train_baseline "$task_dir" "$run_dir" "$task_dir/data/train.csv") ;;
      tfidf-all) command=(train_baseline "$task_dir" "$run_dir" "$data_dir/train.csv") ;;
      *) command=(train_transformer "$task_dir" "$run_dir" "$model" "$max_seq_length") ;;
    esac
    if "${command[@]}" >"$run_dir/run.log" 2>&1; then
      echo "[$task] $name: done in $(( SECONDS - run_started )) s"
    else
      echo "[$task] $name: FAILED after $(( SECONDS - run_started )) s; the end of $run_dir/run.log:" >&2
      tail -n 5 "$run_dir/run.log" >&2
      failed+=("$task/$name")
    fi
  done
done

python -m textclf.reports.comparison report "$OUTPUT"
echo
echo "Done in $(( SECONDS - started )) s. Read $OUTPUT/comparison.md and $OUTPUT/comparison.png"
if [ ${#failed[@]} -gt 0 ]; then
  echo "error: ${#failed[@]} run(s) failed: ${failed[*]}; run the same command again to retry them" >&2
  exit 1
fi
