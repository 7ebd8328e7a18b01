"""The tasks the scripts train: the one table of everything task-specific.

A task is a public data set and the default way to learn it: the function that reads its raw files
(in textclf/data/corpora.py) and its name on the Hugging Face Hub, what prepare_data.py needs and allows
for it, the columns a model reads, the label column, the metric it is judged by, readable class
names, and the budget and split of the model comparison. prepare_data.py, the task scripts
(scripts/lib/run_task.sh), repeat_splits.sh and compare_models.sh all read it from here; the shell
scripts through

    python -m textclf.tasks shell tweets [DATA_DIR]   # TASK_SCRIPT=... TASK_LABEL_COLUMN=... (for eval)

Adding a task: docs/adding_a_task.md.
"""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

from textclf import UserInputError, exit_code_of

CARVE_FROM_TEST = "--carve_from_test"
# A prepared data folder (prepare_data.py): one CSV per split, then PROTOCOL.txt, written last.
PREPARED_SPLITS = ("train", "validation", "test")  # <split>.csv
PROTOCOL = "PROTOCOL.txt"  # how the folder was made; a folder without it is incomplete
# Around every task script's defaults (scripts/train_<task>.sh); a task may search more (its search_space).
DEFAULT_SEARCH_SPACE = "LR=1e-5..2e-4:log EPOCHS=1..3 BATCH_SIZE=16|32 WARMUP_STEPS=0..100"


@dataclass(frozen=True)
class ComparisonBudget:
    """What every model of scripts/compare_models.sh gets on this task (each overridable there)."""

    train_rows: str  # a fixed stratified subset of the training split, or "all"
    eval_rows: str  # of the scored split, or "all"
    max_seq_length: int


@dataclass(frozen=True)
class Task:
    name: str  # prepare_data.py --task, data/<name>/
    script: str  # what trains it with the default recipe
    loader: str  # the function of textclf/data/corpora.py that reads the raw files: loader(raw_dir, task, carve_from_test)
    text_columns: str  # of the prepared files, as --text_column_names takes them
    label_column: str
    metric: str  # what the task is judged by (--metric_name): Kaggle's F1 of the disaster class for tweets
    comparison: ComparisonBudget
    comparison_split: str  # the labelled split every model of scripts/compare_models.sh is scored on
    comparison_split_description: str
    prepare_flags: str = ""  # what prepare_data.py needs here besides --task, --raw_dir, --output_dir, --seed
    hub_dataset: str = ""  # its name for datasets.load_dataset (prepare_data.py --from_hub); "": not offered
    can_carve_from_test: bool = False  # prepare_data.py --carve_from_test: every split cut from the official test file
    # Readable names for the label values of the prepared files (run_classification.py --class_names);
    # empty: the values are names already. Kaggle's submission keeps the values (textclf.reports.report).
    class_names: dict[str, str] = field(default_factory=dict, hash=False)
    # What training in bf16 rather than fp32 measurably costs on this task, a line of bench/RESULTS.md's
    # tables that each run's report.md repeats beside the precision it trained in; "": not measured.
    precision_cost: str = ""
    # What search.py varies by default (scripts/search.sh's SPACE; the form: textclf/search/space.py).
    search_space: str = DEFAULT_SEARCH_SPACE

    def describe_comparison_split(self, data_dir: Path | None = None) -> str:
        """What the scored split is; a test split carved from the official test file says so (PROTOCOL.txt)."""
        protocol = Path(data_dir) / PROTOCOL if data_dir else None
        if self.can_carve_from_test and protocol is not None and CARVE_FROM_TEST in read_or_empty(protocol):
            return (f"test split carved from the official test file (not comparable to published {self.name} "
                    "results)")
        return self.comparison_split_description


TASKS = {
    task.name: task
    for task in (
        Task(
            name="tweets",
            script="scripts/train_tweets.sh",
            loader="load_tweets",
            text_columns="text",
            label_column="target",
            metric="f1",
            comparison=ComparisonBudget(train_rows="2000", eval_rows="all", max_seq_length=64),  # 755 validation tweets
            comparison_split="validation",
            comparison_split_description="validation split carved from Kaggle's train.csv (Kaggle's test.csv has no labels)",
            class_names={"0": "not disaster", "1": "disaster"},
            precision_cost=("no measurable F1 (the default recipe on the five splits, two training seeds, 2026-12-07, "
                            "a CPU with bf16 units: fp32 - bf16 = +0.48 +- 0.26 points with seed 42, -0.01 +- 0.39 "
                            "with seed 2); bf16 trains in about 0.75x fp32's time there (bench/RESULTS.md)."),
            # Tweets fit in 64 tokens; the keyword may help. Up to 3 frozen layers: minilm-l3 has 3.
            search_space=("LR=1e-5..2e-4:log EPOCHS=1..3 BATCH_SIZE=16|32|64 WARMUP_STEPS=0..100 "
                          "FREEZE_LOWER_LAYERS=0..3 TEXT_COLUMNS=text|keyword,text"),
        ),
        Task(
            name="imdb",
            script="scripts/train_imdb.sh",
            loader="load_imdb",
            text_columns="text",
            label_column="label",
            metric="accuracy",
            # 1,000 of the 25,000 official test reviews (all: ~13 min for minilm-l6, ~80 for mpnet-base)
            comparison=ComparisonBudget(train_rows="1000", eval_rows="1000", max_seq_length=256),
            comparison_split="test",
            comparison_split_description="official test split",
            hub_dataset="imdb",
            # Long reviews: how much of each to read, and whether its end (the verdict) is kept. Up to 8 of
            # mpnet-base's 12 layers frozen.
            search_space=("LR=2e-5..2e-4:log EPOCHS=1..2 BATCH_SIZE=8|16|32 WARMUP_STEPS=0..50 "
                          "MAX_SEQ_LENGTH=128|192|256 TRUNCATION_TAIL_TOKENS=0|64|120 FREEZE_LOWER_LAYERS=0..8"),
        ),
        Task(
            name="ag_news",
            script="scripts/train_agnews.sh",
            loader="load_ag_news",
            text_columns="text",
            label_column="label",
            metric="accuracy",
            comparison=ComparisonBudget(train_rows="all", eval_rows="all", max_seq_length=96),  # 6,080 and 760 carved
            comparison_split="test",
            comparison_split_description="official test split",
            # Only the official test file is available here: train/validation/test are carved from it.
            prepare_flags=CARVE_FROM_TEST,
            hub_dataset="ag_news",
            can_carve_from_test=True,
            search_space="LR=2e-5..3e-4:log EPOCHS=1..3 BATCH_SIZE=16|32|64 WARMUP_STEPS=0..100 MAX_SEQ_LENGTH=64|96|128",
        ),
    )
}


def read_or_empty(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def task_named(name: str) -> Task:
    if name not in TASKS:
        raise UserInputError(f"unknown task {name!r}; choose one of: {', '.join(TASKS)}")
    return TASKS[name]


def shell_assignments(task: Task, data_dir: Path | None = None) -> str:
    """The task's facts as shell variables (TASK_LABEL_COLUMN=target ...), for `eval` in the scripts."""
    facts = {
        "TASK_SCRIPT": task.script,
        "TASK_TEXT_COLUMNS": task.text_columns,
        "TASK_LABEL_COLUMN": task.label_column,
        "TASK_METRIC": task.metric,
        "TASK_PREPARE_FLAGS": task.prepare_flags,
        "TASK_COMPARISON_SPLIT": task.comparison_split,
        "TASK_COMPARISON_TRAIN_ROWS": task.comparison.train_rows,
        "TASK_COMPARISON_EVAL_ROWS": task.comparison.eval_rows,
        "TASK_COMPARISON_MAX_SEQ_LENGTH": str(task.comparison.max_seq_length),
        "TASK_COMPARISON_SPLIT_DESCRIPTION": task.describe_comparison_split(data_dir),
        "TASK_CLASS_NAMES": json.dumps(task.class_names, ensure_ascii=False) if task.class_names else "",
    }
    return "".join(f"{name}={shlex.quote(value)}\n" for name, value in facts.items())


def main(argv: list[str]) -> None:
    if len(argv) not in (2, 3) or argv[0] != "shell":
        raise UserInputError("usage: python -m textclf.tasks shell TASK [DATA_DIR]")
    sys.stdout.write(shell_assignments(task_named(argv[1]), Path(argv[2]) if len(argv) == 3 else None))


if __name__ == "__main__":
    sys.exit(exit_code_of(lambda: main(sys.argv[1:])))
