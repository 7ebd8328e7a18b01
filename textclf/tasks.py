"""The three tasks the scripts train: the one table of their facts.

Each task's prepared files (prepare_data.py), the columns a model reads, the metric it is judged by,
and the split the model comparison scores. The task scripts (scripts/lib/run_task.sh),
repeat_splits.sh, compare_models.sh and prepare_data.py all read it from here; the shell scripts
through

    python -m textclf.tasks shell tweets [DATA_DIR]   # TASK_SCRIPT=... TASK_LABEL_COLUMN=... (for eval)
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


@dataclass(frozen=True)
class Task:
    name: str  # prepare_data.py --task, data/<name>/
    script: str  # what trains it with the default recipe
    text_columns: str  # of the prepared files, as --text_column_names takes them
    label_column: str
    metric: str  # what the task is judged by (--metric_name): Kaggle's F1 of the disaster class for tweets
    prepare_flags: str  # what prepare_data.py needs here besides --task, --raw_dir, --output_dir, --seed
    comparison_split: str  # the labelled split every model of scripts/compare_models.sh is scored on
    comparison_split_description: str
    # Readable names for the label values of the prepared files (run_classification.py --class_names);
    # empty: the values are names already. Kaggle's submission keeps the values (textclf.report).
    class_names: dict[str, str] = field(default_factory=dict, hash=False)

    def describe_comparison_split(self, data_dir: Path | None = None) -> str:
        """What the scored split is; AG News's test split is carved when its data was (PROTOCOL.txt says)."""
        protocol = Path(data_dir) / PROTOCOL if data_dir else None
        if self.name == "ag_news" and protocol is not None and CARVE_FROM_TEST in read_or_empty(protocol):
            return "test split carved from the official test file (not comparable to published AG News results)"
        return self.comparison_split_description


TASKS = {
    task.name: task
    for task in (
        Task(
            name="tweets",
            script="scripts/train_tweets.sh",
            text_columns="text",
            label_column="target",
            metric="f1",
            prepare_flags="",
            comparison_split="validation",
            comparison_split_description="validation split carved from Kaggle's train.csv (Kaggle's test.csv has no labels)",
            class_names={"0": "not disaster", "1": "disaster"},
        ),
        Task(
            name="imdb",
            script="scripts/train_imdb.sh",
            text_columns="text",
            label_column="label",
            metric="accuracy",
            prepare_flags="",
            comparison_split="test",
            comparison_split_description="official test split",
        ),
        Task(
            name="ag_news",
            script="scripts/train_agnews.sh",
            text_columns="text",
            label_column="label",
            metric="accuracy",
            # Only the official test file is available here: train/validation/test are carved from it.
            prepare_flags=CARVE_FROM_TEST,
            comparison_split="test",
            comparison_split_description="official test split",
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
