#!/usr/bin/env bash
# AG News: World, Sports, Business or Sci/Tech from a headline and its description.
# Only the official test file exists on our machines, so by default the train/validation/test splits
# are carved from it (prepare_data.py --carve_from_test, textclf/tasks.py): figures are NOT comparable
# to published AG News results. With the official train.csv in RAW_DIR, set PREPARE_FLAGS= to use the
# official protocol.
TRAINER=${TRAINER:-run_classification} # or decoupled: decoupled/main.py, the plain PyTorch loop (docs/decoupled.md)
MODEL=${MODEL:-all-MiniLM-L6-v2}
EPOCHS=${EPOCHS:-2}
LR=${LR:-1e-4}
BATCH_SIZE=${BATCH_SIZE:-32}
EVAL_BATCH_SIZE=${EVAL_BATCH_SIZE:-64}
WARMUP_STEPS=${WARMUP_STEPS:-20}
MAX_SEQ_LENGTH=${MAX_SEQ_LENGTH:-96}    # headline + description: ~37 words at the median
TRUNCATION_TAIL_TOKENS=${TRUNCATION_TAIL_TOKENS:-0} # >0: a long text keeps its last N tokens too (head+tail)
MAX_TRAIN_SAMPLES=${MAX_TRAIN_SAMPLES:-}
SEED=${SEED:-42}
BF16=${BF16:-auto}                      # bfloat16 mixed precision: true, false, or auto (when this machine computes it fast)
OPTIM=${OPTIM:-adamw_torch_fused}       # fused AdamW: a step in 13 ms instead of 72 (bench/RESULTS.md)
SAMPLING=${SAMPLING:-group_by_length}   # batches of similar lengths, which pad little (upstream's --group_by_length)
EVAL_STRATEGY=${EVAL_STRATEGY:-epoch}   # score validation after each epoch (learning curves); "no": only at the end
SAVE_STRATEGY=${SAVE_STRATEGY:-no}
SAVE_EVERY_MINUTES=${SAVE_EVERY_MINUTES:-5}  # a checkpoint every 5 minutes of training: stopped, the same command continues from it
OVERWRITE=${OVERWRITE:-}                # 1: start again from scratch instead of continuing an interrupted run
LOGGING_STEPS=${LOGGING_STEPS:-20}
TEXT_COLUMNS=${TEXT_COLUMNS:-}          # empty: the task's (text = title + description, see textclf/tasks.py)
CALIBRATE=${CALIBRATE:-false}           # true: temperature-scale the test predictions' and the demo's probabilities
OUTPUT_DIR=${OUTPUT_DIR:-experiments/agnews-$(basename "$MODEL")$([ "$TRAINER" = decoupled ] && echo -decoupled)}
LAUNCHER=${LAUNCHER:-python}
RAW_DIR=${RAW_DIR:-}                    # the original headerless train.csv/test.csv
DATA_DIR=${DATA_DIR:-data/ag_news}
CLEAN=${CLEAN:-}                        # e.g. "--drop_suspects_above 0.9 --merge_conflicting_duplicates majority": train on a cleaned training split (README "Data audit")

TASK=ag_news  # label column, metric (accuracy), text column and preparation flags: textclf/tasks.py
source "$(dirname "$0")/lib/run_task.sh"
