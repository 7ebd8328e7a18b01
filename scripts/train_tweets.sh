#!/usr/bin/env bash
# Kaggle Disaster Tweets: is a tweet about a real disaster? Prepares the data, fine-tunes, evaluates
# on a validation split of Kaggle's train.csv, predicts Kaggle's test.csv and writes submission.csv.
# Every variable can be overridden from the environment: EPOCHS=2 bash scripts/train_tweets.sh
MODEL=${MODEL:-all-MiniLM-L6-v2}        # a directory, an installed offline model, or a hub id
EPOCHS=${EPOCHS:-3}
LR=${LR:-5e-5}
BATCH_SIZE=${BATCH_SIZE:-32}
WARMUP_STEPS=${WARMUP_STEPS:-20}
MAX_SEQ_LENGTH=${MAX_SEQ_LENGTH:-64}    # tweets are short: 99% fit in about 50 tokens
MAX_TRAIN_SAMPLES=${MAX_TRAIN_SAMPLES:-} # empty: every training row
SEED=${SEED:-42}
BF16=${BF16:-auto}                      # bfloat16 mixed precision: true, false, or auto (when this machine computes it fast)
OUTPUT_DIR=${OUTPUT_DIR:-experiments/tweets-$(basename "$MODEL")}
LAUNCHER=${LAUNCHER:-python}            # or "torchrun --nproc_per_node 2", "accelerate launch --multi_gpu --num_processes 2"
RAW_DIR=${RAW_DIR:-}                    # Kaggle's train.csv/test.csv; looked for in data/raw/tweets, ../shared/data/tweets
DATA_DIR=${DATA_DIR:-data/tweets}

TASK=tweets
TEXT_COLUMNS=${TEXT_COLUMNS:-text}  # "keyword,text" also works: empty cells are skipped
LABEL_COLUMN=target
METRIC=f1                  # F1 of the disaster class, the competition's metric
source "$(dirname "$0")/lib/run_task.sh"
