#!/usr/bin/env bash
# AG News: World, Sports, Business or Sci/Tech from a headline and its description.
# Only the official test file exists on our machines, so by default the train/validation/test splits
# are carved from it (PREPARE_FLAGS below): figures are NOT comparable to published AG News results.
# With the official train.csv in RAW_DIR, set PREPARE_FLAGS= to use the official protocol.
MODEL=${MODEL:-all-MiniLM-L6-v2}
EPOCHS=${EPOCHS:-2}
LR=${LR:-1e-4}
BATCH_SIZE=${BATCH_SIZE:-32}
WARMUP_STEPS=${WARMUP_STEPS:-20}
MAX_SEQ_LENGTH=${MAX_SEQ_LENGTH:-96}    # headline + description: ~37 words at the median
MAX_TRAIN_SAMPLES=${MAX_TRAIN_SAMPLES:-}
SEED=${SEED:-42}
BF16=${BF16:-auto}                      # bfloat16 mixed precision: true, false, or auto (when this machine computes it fast)
OUTPUT_DIR=${OUTPUT_DIR:-experiments/agnews-$(basename "$MODEL")}
LAUNCHER=${LAUNCHER:-python}
RAW_DIR=${RAW_DIR:-}                    # the original headerless train.csv/test.csv
DATA_DIR=${DATA_DIR:-data/ag_news}
PREPARE_FLAGS=${PREPARE_FLAGS---carve_from_test}

TASK=ag_news
TEXT_COLUMNS=text
LABEL_COLUMN=label
METRIC=accuracy
source "$(dirname "$0")/lib/run_task.sh"
