# The steps every task script shares; sourced by scripts/train_<task>.sh after it sets its variables.
# Prepares the data if needed, then trains, evaluates and predicts with run_classification.py, or with
# decoupled/main.py when TRAINER=decoupled (DECOUPLED_FLAGS="--pooling mean" passes its own flags).
# Interrupted, the same command continues: a half-prepared DATA_DIR is prepared again, and training,
# evaluation and prediction (run_classification.py) resume from their last checkpoint or chunk in OUTPUT_DIR.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
bash scripts/setup.sh
source .venv/bin/activate  # so that LAUNCHER's python, torchrun or accelerate is the venv's
source scripts/lib/settings.sh  # the settings every task shares

# The task's facts (label column, metric, text columns, preparation flags): textclf/tasks.py.
task_facts=$(python -m textclf.tasks shell "$TASK")
eval "$task_facts"
TEXT_COLUMNS=${TEXT_COLUMNS:-$TASK_TEXT_COLUMNS}
# A model of the zoo (MODEL=mpnet-base): set up once (scripts/setup_models.sh skips what is set up already).
if [[ " $(python -m textclf.models.zoo --aliases) " == *" $MODEL "* ]]; then bash scripts/setup_models.sh "$MODEL"; fi
CLASS_NAMES=${CLASS_NAMES-$TASK_CLASS_NAMES}  # the task's readable class names (tweets: "disaster", "not disaster"); empty: none
PREPARE_FLAGS=${PREPARE_FLAGS-$TASK_PREPARE_FLAGS}  # empty: none

# Complete only with its PROTOCOL.txt, which prepare_data.py writes last (textclf/data/preparation.py).
if ! python -m textclf.data.preparation is-complete "$DATA_DIR"; then
  if [ -z "$RAW_DIR" ]; then
    for candidate in "data/raw/$TASK" "../shared/data/$TASK"; do
      if [ -d "$candidate" ]; then RAW_DIR=$candidate; break; fi
    done
  fi
  if [ -z "$RAW_DIR" ]; then
    echo "error: no raw $TASK data: put the raw files in data/raw/$TASK/ or set RAW_DIR (see README.md)" >&2
    exit 2
  fi
  # shellcheck disable=SC2086  # word splitting wanted: PREPARE_FLAGS holds flags
  python prepare_data.py --task "$TASK" --raw_dir "$RAW_DIR" --output_dir "$DATA_DIR" --seed "${SPLIT_SEED:-$SEED}" $PREPARE_FLAGS
fi

# CLEAN="--drop_suspects_above 0.9 ...": train on a cleaned copy of the training split (audit_data.py,
# README "Data audit"); validation and test rows stay as they are. Made again each run (seconds).
if [ -n "${CLEAN:-}" ]; then
  echo "Cleaning the training split of $DATA_DIR into $DATA_DIR-clean: audit_data.py $CLEAN"
  # shellcheck disable=SC2086  # word splitting wanted: CLEAN holds flags
  python audit_data.py "$DATA_DIR" --task "$TASK" --clean_output_dir "$DATA_DIR-clean" $CLEAN
  DATA_DIR=$DATA_DIR-clean
fi

# REVIEW=1: train on a person's decisions about the audit's suspects (app.py --review, docs/review.md): the training
# rows of the review log changed or dropped in a copy, $DATA_DIR-reviewed; validation and test rows stay as they are.
# The log stays in the folder that was reviewed (CLEAN trains on a copy of it, $DATA_DIR-clean). REVIEW=DIR applies
# the review of another prepared folder of the same data (rows found by id: scripts/repeat_splits.sh's splits).
if [ -n "${REVIEW:-}" ]; then
  if [ "$REVIEW" = 1 ]; then
    reviewed_dir=$DATA_DIR
    if [ -n "${CLEAN:-}" ]; then reviewed_dir=${DATA_DIR%-clean}; fi
  elif [ -d "$REVIEW" ]; then
    reviewed_dir=$REVIEW
  else
    echo "error: REVIEW=$REVIEW: set REVIEW=1 (this folder's review log), a reviewed data folder, or leave it empty" >&2; exit 2
  fi
  echo "Applying the review log $reviewed_dir/review_log.jsonl to the training split of $DATA_DIR into $DATA_DIR-reviewed"
  python -m textclf.audit.review apply "$DATA_DIR" "$DATA_DIR-reviewed" --reviewed_dir "$reviewed_dir"
  DATA_DIR=$DATA_DIR-reviewed
fi

optional=()
if [ -n "$MAX_TRAIN_SAMPLES" ]; then optional+=(--max_train_samples "$MAX_TRAIN_SAMPLES"); fi
if [ -n "${MAX_EVAL_SAMPLES:-}" ]; then optional+=(--max_eval_samples "$MAX_EVAL_SAMPLES"); fi
if [ -n "$CLASS_NAMES" ]; then optional+=(--class_names "$CLASS_NAMES"); fi
if [ -n "${FREEZE_LOWER_LAYERS:-}" ]; then optional+=(--freeze_lower_layers "$FREEZE_LOWER_LAYERS"); fi

# An interrupted run continues where it stopped; a finished one (or OVERWRITE=1) starts again from
# scratch with --overwrite_output_dir (textclf/runs/progress.py).
overwrite=()
if [ "${OVERWRITE:-}" = 1 ]; then overwrite=(--overwrite); fi
resume=$(python -m textclf.runs.progress flags "$OUTPUT_DIR" "${overwrite[@]}")
read -ra resume_flags <<< "$resume"

# The precision this machine computes fast (textclf/hardware.py); an interrupted run continues in the
# precision it started in.
PRECISION=$(python -m textclf.hardware resolve "$PRECISION" "$BF16")
if [ "$PRECISION" = auto ]; then PRECISION=$(python -m textclf.runs.progress precision "$OUTPUT_DIR" "${overwrite[@]}"); fi
BF16=$([ "$PRECISION" = bf16 ] && echo true || echo false)
FP16=$([ "$PRECISION" = fp16 ] && echo true || echo false)

# The resolved settings: printed here, and written into the run's report.md (textclf/runs/folder.py reads them).
TEXTCLF_SCRIPT_SETTINGS=$(for name in "${SCRIPT_SETTINGS[@]}" CLASS_NAMES PREPARE_FLAGS DECOUPLED_FLAGS; do
  printf '%s=%s\n' "$name" "${!name-}"; done)
export TEXTCLF_SCRIPT_SETTINGS
echo "Settings of this run (scripts/$(basename "$0"), scripts/lib/settings.sh):"
echo "$TEXTCLF_SCRIPT_SETTINGS" | sed 's/^/  /'

# PREDICT_WITH=predict.py: the trainer trains and evaluates, predict.py predicts the test split afterwards.
# A run whose training finished but whose test prediction did not continues with the prediction.
test_file=(--test_file "$DATA_DIR/test.csv")
do_predict=(--do_predict)
trained_earlier=false
case "$PREDICT_WITH" in
  run_classification|predict.py) ;;
  *) echo "error: PREDICT_WITH=$PREDICT_WITH: choose run_classification or predict.py" >&2; exit 2 ;;
esac
if [ "$PREDICT_WITH" = predict.py ]; then
  test_file=()
  do_predict=()
  if [ "${OVERWRITE:-}" != 1 ] && [ ! -f "$OUTPUT_DIR/predictions.csv" ] \
    && python -m textclf.runs.folder is-finished "$OUTPUT_DIR" 2>/dev/null; then trained_earlier=true; fi
fi

started=$(date +%s)
if [ "$trained_earlier" = true ]; then
  echo "$OUTPUT_DIR: trained earlier; its test split is not predicted yet"
elif [ "${TRAINER:-}" = decoupled ]; then  # the same job through the native PyTorch loop of decoupled/ (one process)
  if [ "$LAUNCHER" != python ]; then echo "error: TRAINER=decoupled trains in one process; unset LAUNCHER" >&2; exit 2; fi
  python decoupled/main.py \
    --model_name_or_path "$MODEL" \
    --train_file "$DATA_DIR/train.csv" --validation_file "$DATA_DIR/validation.csv" "${test_file[@]}" \
    --text_column_names "$TEXT_COLUMNS" --label_column_name "$TASK_LABEL_COLUMN" --metric_name "$TASK_METRIC" \
    --max_seq_length "$MAX_SEQ_LENGTH" --truncation_tail_tokens "$TRUNCATION_TAIL_TOKENS" \
    --per_device_train_batch_size "$BATCH_SIZE" --per_device_eval_batch_size "$EVAL_BATCH_SIZE" \
    --learning_rate "$LR" --num_train_epochs "$EPOCHS" --warmup_steps "$WARMUP_STEPS" --seed "$SEED" \
    --bf16 "$BF16" --fp16 "$FP16" --logging_steps "$LOGGING_STEPS" --output_dir "$OUTPUT_DIR" "${optional[@]}" \
    --optim "$OPTIM" --train_sampling_strategy "$SAMPLING" --eval_strategy "$EVAL_STRATEGY" \
    --save_strategy "$SAVE_STRATEGY" --save_every_minutes "$SAVE_EVERY_MINUTES" \
    --calibrate_temperature "$CALIBRATE" --tune_threshold "$TUNE_THRESHOLD" \
    "${resume_flags[@]}" ${DECOUPLED_FLAGS:-}
else
$LAUNCHER run_classification.py \
  --model_name_or_path "$MODEL" \
  --train_file "$DATA_DIR/train.csv" --validation_file "$DATA_DIR/validation.csv" "${test_file[@]}" \
  --text_column_names "$TEXT_COLUMNS" --label_column_name "$TASK_LABEL_COLUMN" --metric_name "$TASK_METRIC" \
  --do_train --do_eval "${do_predict[@]}" --shuffle_train_dataset \
  --max_seq_length "$MAX_SEQ_LENGTH" --truncation_tail_tokens "$TRUNCATION_TAIL_TOKENS" \
  --per_device_train_batch_size "$BATCH_SIZE" --per_device_eval_batch_size "$EVAL_BATCH_SIZE" \
  --learning_rate "$LR" --num_train_epochs "$EPOCHS" --warmup_steps "$WARMUP_STEPS" --seed "$SEED" \
  --train_sampling_strategy "$SAMPLING" --bf16 "$BF16" --fp16 "$FP16" --optim "$OPTIM" \
  --eval_strategy "$EVAL_STRATEGY" --save_strategy "$SAVE_STRATEGY" --logging_steps "$LOGGING_STEPS" \
  --calibrate_temperature "$CALIBRATE" --tune_threshold "$TUNE_THRESHOLD" \
  --save_every_minutes "$SAVE_EVERY_MINUTES" --save_total_limit 1 \
  --output_dir "$OUTPUT_DIR" "${optional[@]}" "${resume_flags[@]}"
fi
if [ "$PREDICT_WITH" = predict.py ]; then
  echo "Predicting the test split with predict.py (the run's ONNX export, every core; interrupted, it continues)"
  python predict.py "$OUTPUT_DIR" "$DATA_DIR/test.csv" --as_test_split
fi

echo
echo "Done in $(( $(date +%s) - started )) s. Read $OUTPUT_DIR/report.md; test predictions with probabilities: $OUTPUT_DIR/predictions.csv"
