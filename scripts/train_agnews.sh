#!/usr/bin/env bash
# AG News: World, Sports, Business or Sci/Tech from a headline and its description.
# Only the official test file exists on our machines, so by default the train/validation/test splits
# are carved from it (prepare_data.py --carve_from_test, textclf/tasks.py): figures are NOT comparable
# to published AG News results. With the official train.csv in RAW_DIR, set PREPARE_FLAGS= to use the
# official protocol. Every variable can be overridden from the environment: EPOCHS=3 bash scripts/train_agnews.sh
# The settings every task shares (precision, optimizer, checkpoints, launcher, ...): scripts/lib/settings.sh.
TASK=ag_news                            # label column, metric (accuracy), text column, preparation flags: textclf/tasks.py
MODEL=${MODEL:-all-MiniLM-L6-v2}        # a directory, an installed offline model (scripts/setup_models.sh), or a hub id
EPOCHS=${EPOCHS:-2}
LR=${LR:-1e-4}
BATCH_SIZE=${BATCH_SIZE:-32}
WARMUP_STEPS=${WARMUP_STEPS:-20}
MAX_SEQ_LENGTH=${MAX_SEQ_LENGTH:-96}    # headline + description: ~37 words at the median
TRUNCATION_TAIL_TOKENS=${TRUNCATION_TAIL_TOKENS:-0} # >0: a long text keeps its last N tokens too (head+tail)
MAX_TRAIN_SAMPLES=${MAX_TRAIN_SAMPLES-} # empty: every training row
FREEZE_LOWER_LAYERS=${FREEZE_LOWER_LAYERS-} # empty: train every layer

source "$(dirname "$0")/lib/run_task.sh"
