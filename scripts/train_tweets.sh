#!/usr/bin/env bash
# Kaggle Disaster Tweets: is a tweet about a real disaster? Prepares the data, fine-tunes, evaluates
# on a validation split of Kaggle's train.csv, predicts Kaggle's test.csv and writes submission.csv.
# Every variable can be overridden from the environment: EPOCHS=2 bash scripts/train_tweets.sh
TRAINER=${TRAINER:-run_classification} # or decoupled: decoupled/main.py, the plain PyTorch loop (docs/decoupled.md)
MODEL=${MODEL:-all-MiniLM-L6-v2}        # a directory, an installed offline model, or a hub id
EPOCHS=${EPOCHS:-2}                     # 2 epochs and 2 frozen layers: the F1 of 3 epochs of every layer on five splits, faster (bench/RESULTS.md)
LR=${LR:-5e-5}
BATCH_SIZE=${BATCH_SIZE:-32}
EVAL_BATCH_SIZE=${EVAL_BATCH_SIZE:-64}
WARMUP_STEPS=${WARMUP_STEPS:-20}
MAX_SEQ_LENGTH=${MAX_SEQ_LENGTH:-64}    # tweets are short: 99% fit in about 50 tokens
TRUNCATION_TAIL_TOKENS=${TRUNCATION_TAIL_TOKENS:-0} # >0: a long text keeps its last N tokens too (head+tail)
MAX_TRAIN_SAMPLES=${MAX_TRAIN_SAMPLES:-} # empty: every training row
FREEZE_LOWER_LAYERS=${FREEZE_LOWER_LAYERS-2} # the embeddings and the lowest N layers keep their pretrained weights (no backward pass there); empty: train all (do so for models of 3 layers or fewer, e.g. minilm-l3)
SEED=${SEED:-42}
BF16=${BF16:-auto}                      # bfloat16 mixed precision: true, false, or auto (when this machine computes it fast)
OPTIM=${OPTIM:-adamw_torch_fused}       # fused AdamW: a step in 13 ms instead of 72 (bench/RESULTS.md)
SAMPLING=${SAMPLING:-group_by_length}   # batches of similar lengths, which pad little (upstream's --group_by_length)
EVAL_STRATEGY=${EVAL_STRATEGY:-epoch}   # score validation after each epoch (learning curves); "no": only at the end
SAVE_STRATEGY=${SAVE_STRATEGY:-no}
SAVE_EVERY_MINUTES=${SAVE_EVERY_MINUTES:-5}  # a checkpoint every 5 minutes of training: stopped, the same command continues from it
OVERWRITE=${OVERWRITE:-}                # 1: start again from scratch instead of continuing an interrupted run
LOGGING_STEPS=${LOGGING_STEPS:-20}
TEXT_COLUMNS=${TEXT_COLUMNS:-}          # empty: the task's (text, see textclf/tasks.py); "keyword,text" also works
CALIBRATE=${CALIBRATE:-false}           # true: temperature-scale the test predictions' and the demo's probabilities
TUNE_THRESHOLD=${TUNE_THRESHOLD:-false} # true: predict the positive class from the threshold that maximises the task's metric
OUTPUT_DIR=${OUTPUT_DIR:-experiments/tweets-$(basename "$MODEL")$([ "$TRAINER" = decoupled ] && echo -decoupled)}
LAUNCHER=${LAUNCHER:-python}            # or "torchrun --nproc_per_node 2", "accelerate launch --multi_gpu --num_processes 2"
RAW_DIR=${RAW_DIR:-}                    # Kaggle's train.csv/test.csv; looked for in data/raw/tweets, ../shared/data/tweets
DATA_DIR=${DATA_DIR:-data/tweets}       # SPLIT_SEED=N (default: SEED) draws another validation split when it is prepared
CLEAN=${CLEAN:-}                        # e.g. "--drop_suspects_above 0.9 --merge_conflicting_duplicates majority": train on a cleaned training split (README "Data audit")

TASK=tweets  # label column, metric (F1 of the disaster class, the competition's) and text column: textclf/tasks.py
source "$(dirname "$0")/lib/run_task.sh"
