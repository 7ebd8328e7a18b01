#!/usr/bin/env bash
# IMDB movie reviews, positive or negative. Prepares the data (validation carved from the official
# train split), fine-tunes, evaluates, and predicts and scores the official 25,000-review test split.
# Every variable can be overridden from the environment: MAX_TRAIN_SAMPLES= bash scripts/train_imdb.sh
TRAINER=${TRAINER:-run_classification} # or decoupled: decoupled/main.py, the plain PyTorch loop (docs/decoupled.md)
MODEL=${MODEL:-all-MiniLM-L6-v2}
EPOCHS=${EPOCHS:-1}
LR=${LR:-1e-4}
BATCH_SIZE=${BATCH_SIZE:-16}
EVAL_BATCH_SIZE=${EVAL_BATCH_SIZE:-64}
WARMUP_STEPS=${WARMUP_STEPS:-20}
MAX_SEQ_LENGTH=${MAX_SEQ_LENGTH:-256}   # reviews run to ~220 tokens at the median; 40% are longer and get cut
TRUNCATION_TAIL_TOKENS=${TRUNCATION_TAIL_TOKENS:-0} # >0: a long review keeps its last N tokens too (head+tail)
MAX_TRAIN_SAMPLES=${MAX_TRAIN_SAMPLES-4000} # empty: all 22,496 training reviews (hours on 2 cores)
MAX_EVAL_SAMPLES=${MAX_EVAL_SAMPLES-1000}
SEED=${SEED:-42}
BF16=${BF16:-auto}                      # bfloat16 mixed precision: true, false, or auto (when this machine computes it fast)
OPTIM=${OPTIM:-adamw_torch_fused}       # fused AdamW: a step in 13 ms instead of 72 (bench/RESULTS.md)
SAMPLING=${SAMPLING:-group_by_length}   # batches of similar lengths, which pad little (upstream's --group_by_length)
EVAL_STRATEGY=${EVAL_STRATEGY:-no}      # "epoch": also score validation after each epoch (with 1 epoch, a repeat of the final score)
SAVE_STRATEGY=${SAVE_STRATEGY:-no}
SAVE_EVERY_MINUTES=${SAVE_EVERY_MINUTES:-5}  # a checkpoint every 5 minutes of training: stopped, the same command continues from it
OVERWRITE=${OVERWRITE:-}                # 1: start again from scratch instead of continuing an interrupted run
LOGGING_STEPS=${LOGGING_STEPS:-20}
TEXT_COLUMNS=${TEXT_COLUMNS:-}          # empty: the task's (text, see textclf/tasks.py)
CALIBRATE=${CALIBRATE:-false}           # true: temperature-scale the test predictions' and the demo's probabilities
TUNE_THRESHOLD=${TUNE_THRESHOLD:-false} # true: predict the positive class from the threshold that maximises the task's metric
OUTPUT_DIR=${OUTPUT_DIR:-experiments/imdb-$(basename "$MODEL")$([ "$TRAINER" = decoupled ] && echo -decoupled)}
LAUNCHER=${LAUNCHER:-python}
RAW_DIR=${RAW_DIR:-}                    # train.csv/test.csv or the aclImdb/ folder
DATA_DIR=${DATA_DIR:-data/imdb}
CLEAN=${CLEAN:-}                        # e.g. "--drop_suspects_above 0.9 --merge_conflicting_duplicates majority": train on a cleaned training split (README "Data audit")

TASK=imdb  # label column, metric (accuracy) and text column: textclf/tasks.py
source "$(dirname "$0")/lib/run_task.sh"
