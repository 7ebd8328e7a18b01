#!/usr/bin/env bash
# Search a task's hyperparameters with Optuna (search.py; docs/search.md): trials of the task script's recipe
# with other settings, scored on validation and pruned after each epoch, within a budget, in a study that the
# same command continues when run again and that other machines join through a shared database. Then the best
# configuration and the task's default train on the five splits of scripts/repeat_splits.sh: the honest result.
#   bash scripts/search.sh                                  # tweets: 30 minutes of trials, then the five splits
#   TASK=ag_news MINUTES=120 MODELS="minilm-l6 minilm-l3" bash scripts/search.sh
#   STORAGE=postgresql+psycopg://user:password@host/db CONFIRM=0 bash scripts/search.sh   # one more worker
# What the search does not vary is the task script's (scripts/train_<task>.sh) and scripts/lib/settings.sh's,
# from the environment as there: MAX_TRAIN_SAMPLES=1000 bash scripts/search.sh.
TASK=${TASK:-tweets}              # a task of the task table (textclf/tasks.py): tweets, imdb, ag_news, ...
MINUTES=${MINUTES-30}             # this command's budget for trials (a trial still running then is stopped: pruned); empty: none
TRIALS=${TRIALS-}                 # the study's budget, every worker and rerun together. Empty: none
MODELS=${MODELS:-}                # models to try, separated by spaces: zoo aliases (set up on first use) or folders; empty: the task script's MODEL
# The search space, in the task scripts' names: LOW..HIGH, LOW..HIGH:log, A|B|C, one value to fix it; none: empty.
# Empty: the task's own (textclf/tasks.py), printed at the start; tweets': LR=1e-5..2e-4:log EPOCHS=1..3
# BATCH_SIZE=16|32|64 WARMUP_STEPS=0..100 FREEZE_LOWER_LAYERS=0..3 TEXT_COLUMNS=text|keyword,text
SPACE=${SPACE:-}
PRUNER=${PRUNER:-median}          # median, hyperband or none: how an unpromising trial is stopped after an epoch
SEARCH_DIR=${SEARCH_DIR:-experiments/search-$TASK}  # trials/, study.db, search.md
STORAGE=${STORAGE:-}              # empty: sqlite:///$SEARCH_DIR/study.db; any Optuna RDB URL (a shared server: docs/search.md)
CONFIRM=${CONFIRM:-1}             # 1: then the best and the default on the five splits (SPLIT_SEEDS; tweets: ~40 min); 0: on extra workers

set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source .venv/bin/activate
task_facts=$(python -m textclf.tasks shell "$TASK")  # TASK_SCRIPT, ...: textclf/tasks.py
eval "$task_facts"
# The task script's own settings: its lines above `source .../run_task.sh` (its defaults, or yours from the
# environment), then the shared ones, resolved as when it runs.
eval "$(grep -v '^source ' "$TASK_SCRIPT")"
source scripts/lib/settings.sh
if [ "$TRAINER" != run_classification ] || [ "$LAUNCHER" != python ]; then
  echo "error: search trials train with run_classification.py in one process; unset TRAINER and LAUNCHER" >&2
  exit 2
fi
if [ -n "$CLEAN" ] || [ -n "$REVIEW" ]; then  # trials train on DATA_DIR as it is; the confirmation's splits would not
  echo "error: CLEAN and REVIEW are not searched with; leave them empty (a search trains on DATA_DIR as it is)" >&2
  exit 2
fi
PRECISION=$(python -m textclf.hardware resolve "$PRECISION" "$BF16")
MODELS=${MODELS:-$MODEL}
# A model of the zoo: set up once, as the task scripts do (scripts/setup_models.sh skips what is set up already).
for model in $MODELS; do
  if [[ " $(python -m textclf.models.zoo --aliases) " == *" $model "* ]]; then bash scripts/setup_models.sh "$model"; fi
done

fixed=()
for name in MODEL EPOCHS LR BATCH_SIZE WARMUP_STEPS MAX_SEQ_LENGTH TRUNCATION_TAIL_TOKENS MAX_TRAIN_SAMPLES \
    MAX_EVAL_SAMPLES FREEZE_LOWER_LAYERS TEXT_COLUMNS SEED PRECISION OPTIM SAMPLING EVAL_BATCH_SIZE LOGGING_STEPS; do
  fixed+=("$name=${!name-}")
done
options=()
if [ -n "$SPACE" ]; then options+=(--space "$SPACE"); fi
if [ -n "$MINUTES" ]; then options+=(--minutes "$MINUTES"); fi
if [ -n "$TRIALS" ]; then options+=(--trials "$TRIALS"); fi
if [ -n "$STORAGE" ]; then options+=(--storage "$STORAGE"); fi
if [ "$CONFIRM" = 1 ]; then options+=(--confirm); fi

python search.py --task "$TASK" --models "$MODELS" --data_dir "$DATA_DIR" --search_dir "$SEARCH_DIR" \
  --pruner "$PRUNER" "${options[@]}" --fixed "${fixed[@]}"
