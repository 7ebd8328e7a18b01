#!/usr/bin/env bash
# Kaggle Disaster Tweets: is a tweet about a real disaster? Prepares the data, fine-tunes, evaluates
# on a validation split of Kaggle's train.csv, predicts Kaggle's test.csv and writes submission.csv.
# Every variable can be overridden from the environment: EPOCHS=3 bash scripts/train_tweets.sh
# The settings every task shares (precision, optimizer, checkpoints, launcher, ...): scripts/lib/settings.sh.
TASK=tweets                             # label column, metric (F1 of the disaster class, the competition's), text column: textclf/tasks.py
MODEL=${MODEL:-all-MiniLM-L6-v2}        # a directory, an installed offline model (scripts/setup_models.sh), or a hub id
EPOCHS=${EPOCHS:-2}                     # 2 epochs and 2 frozen layers: the F1 of 3 epochs of every layer on five splits, faster (bench/RESULTS.md)
LR=${LR:-5e-5}
BATCH_SIZE=${BATCH_SIZE:-32}
WARMUP_STEPS=${WARMUP_STEPS:-20}
MAX_SEQ_LENGTH=${MAX_SEQ_LENGTH:-64}    # tweets are short: 99% fit in about 50 tokens
TRUNCATION_TAIL_TOKENS=${TRUNCATION_TAIL_TOKENS:-0} # >0: a long text keeps its last N tokens too (head+tail)
MAX_TRAIN_SAMPLES=${MAX_TRAIN_SAMPLES-} # empty: every training row
FREEZE_LOWER_LAYERS=${FREEZE_LOWER_LAYERS-2} # the embeddings and the lowest N layers keep their pretrained weights (no backward pass there); empty: train all (do so for models of 3 layers or fewer, e.g. minilm-l3)

source "$(dirname "$0")/lib/run_task.sh"
