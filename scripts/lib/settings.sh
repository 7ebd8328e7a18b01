# The machinery settings every task script shares, stated once: sourced by scripts/lib/run_task.sh (under
# `set -euo pipefail`: a command that fails here ends the run, so no `[ ... ] && ...` outside an if) after
# the task script has set its own hyperparameters (MODEL, EPOCHS, LR, ...). Each can be overridden from
# the environment (BF16=false bash scripts/train_tweets.sh) or edited here for every task at once.
#
# Two forms, one meaning each:
#   X=${X:-default}  unset or empty: the default;
#   X=${X-default}   unset: the default; set to empty: "none" (FREEZE_LOWER_LAYERS= trains every layer,
#                    MAX_TRAIN_SAMPLES= takes every row). Only settings where empty means something use it.

# How to train.
TRAINER=${TRAINER:-run_classification} # or decoupled: decoupled/main.py, the plain PyTorch loop (docs/decoupled.md)
LAUNCHER=${LAUNCHER:-python}            # or "torchrun --nproc_per_node 2", "accelerate launch --multi_gpu --num_processes 2"
SEED=${SEED:-42}
PRECISION=${PRECISION:-auto}            # auto (textclf/hardware.py: bf16 where the CPU or GPU computes it fast, fp16 on a GPU without bf16, else fp32), bf16, fp16 or fp32
BF16=${BF16:-}                          # the former setting, still understood: true is PRECISION=bf16, false fp32, auto auto
OPTIM=${OPTIM:-adamw_torch_fused}       # fused AdamW: a step in 13 ms instead of 72 (bench/RESULTS.md); or adamw_torch
SAMPLING=${SAMPLING:-group_by_length}   # batches of similar lengths, which pad little (upstream's --group_by_length); or random
EVAL_BATCH_SIZE=${EVAL_BATCH_SIZE:-64}
EVAL_STRATEGY=${EVAL_STRATEGY:-epoch}   # score validation after each epoch (learning curves); "no": only at the end
LOGGING_STEPS=${LOGGING_STEPS:-20}

# When a run is interrupted (README "When a run is interrupted").
SAVE_STRATEGY=${SAVE_STRATEGY:-no}      # "epoch": also a checkpoint at the end of each epoch
SAVE_EVERY_MINUTES=${SAVE_EVERY_MINUTES:-5}  # a checkpoint every 5 minutes of training: stopped, the same command continues from it
OVERWRITE=${OVERWRITE:-}                # 1: start again from scratch instead of continuing an interrupted run

# What the test predictions and the demo show.
CALIBRATE=${CALIBRATE:-false}           # true: temperature-scale the test predictions' and the demo's probabilities
TUNE_THRESHOLD=${TUNE_THRESHOLD:-false} # true: predict the positive class from the threshold that maximises the task's metric
PREDICT_WITH=${PREDICT_WITH:-run_classification} # or predict.py: the test split through the run's ONNX export on every core, after training (docs/batch_prediction.md)

# Where the data comes from and the run goes.
RAW_DIR=${RAW_DIR:-}                    # the task's raw files; looked for in data/raw/<task>, ../shared/data/<task>
DATA_DIR=${DATA_DIR:-data/$TASK}        # SPLIT_SEED=N (default: SEED) draws another validation split when it is prepared
CLEAN=${CLEAN:-}                        # e.g. "--drop_suspects_above 0.9 --merge_conflicting_duplicates majority": train on a cleaned training split (README "Data audit")
REVIEW=${REVIEW:-}                      # 1: train on the decisions of the review page (app.py --review DATA_DIR) in DATA_DIR/review_log.jsonl (docs/review.md); a folder: that folder's review
TEXT_COLUMNS=${TEXT_COLUMNS:-}          # empty: the task's (textclf/tasks.py); "keyword,text" also works for tweets
# experiments/<task>-<model>[-decoupled]; ag_news runs are named agnews-<model>.
OUTPUT_DIR=${OUTPUT_DIR:-experiments/${TASK//_/}-$(basename "$MODEL")$(if [ "$TRAINER" = decoupled ]; then echo -decoupled; fi)}

# Every setting a run is made with, printed at its start and written into its report.md (textclf/runs/folder.py).
SCRIPT_SETTINGS=(TASK MODEL EPOCHS LR BATCH_SIZE WARMUP_STEPS MAX_SEQ_LENGTH TRUNCATION_TAIL_TOKENS MAX_TRAIN_SAMPLES
  MAX_EVAL_SAMPLES FREEZE_LOWER_LAYERS TRAINER LAUNCHER SEED PRECISION OPTIM SAMPLING EVAL_BATCH_SIZE EVAL_STRATEGY
  LOGGING_STEPS SAVE_STRATEGY SAVE_EVERY_MINUTES OVERWRITE CALIBRATE TUNE_THRESHOLD PREDICT_WITH RAW_DIR DATA_DIR CLEAN REVIEW
  TEXT_COLUMNS OUTPUT_DIR)
