#!/usr/bin/env bash
# IMDB movie reviews, positive or negative. Prepares the data (validation carved from the official
# train split), fine-tunes, evaluates, and predicts and scores the official 25,000-review test split.
# Every variable can be overridden from the environment: MAX_TRAIN_SAMPLES= bash scripts/train_imdb.sh
# The settings every task shares (precision, optimizer, checkpoints, launcher, ...): scripts/lib/settings.sh.
TASK=imdb                               # label column, metric (accuracy), text column: textclf/tasks.py
MODEL=${MODEL:-all-MiniLM-L6-v2}        # a directory, an installed offline model (scripts/setup_models.sh), or a hub id
EPOCHS=${EPOCHS:-1}
LR=${LR:-1e-4}
BATCH_SIZE=${BATCH_SIZE:-16}
WARMUP_STEPS=${WARMUP_STEPS:-20}
MAX_SEQ_LENGTH=${MAX_SEQ_LENGTH:-256}   # reviews run to ~220 tokens at the median; 40% are longer and get cut
TRUNCATION_TAIL_TOKENS=${TRUNCATION_TAIL_TOKENS:-0} # >0: a long review keeps its last N tokens too (head+tail)
MAX_TRAIN_SAMPLES=${MAX_TRAIN_SAMPLES-4000} # empty: all 22,496 training reviews (hours on 2 cores)
MAX_EVAL_SAMPLES=${MAX_EVAL_SAMPLES-1000}   # empty: all 2,504 validation reviews
FREEZE_LOWER_LAYERS=${FREEZE_LOWER_LAYERS-} # empty: train every layer
EVAL_STRATEGY=${EVAL_STRATEGY:-no}      # "epoch": also score validation after each epoch (with 1 epoch, a repeat of the final score)

source "$(dirname "$0")/lib/run_task.sh"
