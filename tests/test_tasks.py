"""The task table (textclf/tasks.py) owns everything task-specific: a fourth task is one table entry and
one script (docs/adding_a_task.md), and every command that takes a task then knows it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pandas as pd
import pytest
from conftest import REPO_ROOT, sentiment_rows, write_csv

from textclf.tasks import TASKS

NEW_TASK = "sst"
NEW_TASK_ENTRY = '''        Task(
            name="sst",
            script="scripts/train_sst.sh",
            loader="load_labelled_files",
            text_columns="sentence",
            label_column="label",
            metric="accuracy",
            comparison=ComparisonBudget(train_rows="all", eval_rows="all", max_seq_length=32),
            comparison_split="test",
            comparison_split_description="the test file",
            class_names={"0": "negative", "1": "positive"},
        ),
'''


def repository_copy(destination) -> None:
    """The files git would hand a fresh clone (tracked or new, not ignored), as they are in the work tree,
    with this checkout's .venv beside them: the copy's scripts run its own code (python puts the script's
    folder, or the working directory for -m, ahead of the editable install)."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPO_ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        source = REPO_ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    (destination / ".venv").symlink_to(REPO_ROOT / ".venv")


def register_new_task(repository) -> set[str]:
    """Add the task as docs/adding_a_task.md says; returns the files touched."""
    tasks = repository / "textclf" / "tasks.py"
    text = tasks.read_text(encoding="utf-8")
    end_of_table = text.index("    )\n}\n")
    tasks.write_text(text[:end_of_table] + NEW_TASK_ENTRY + text[end_of_table:], encoding="utf-8")
    script = (repository / "scripts" / "train_imdb.sh").read_text(encoding="utf-8")
    script = script.replace("TASK=imdb ", "TASK=sst ").replace("MAX_TRAIN_SAMPLES-3500", "MAX_TRAIN_SAMPLES-")
    (repository / "scripts" / "train_sst.sh").write_text(script, encoding="utf-8")
    return {"textclf/tasks.py", "scripts/train_sst.sh"}


def write_raw_sentences(raw) -> None:
    raw.mkdir(parents=True)
    rows = [{"sentence": row["text"], "label": row["label"]} for row in sentiment_rows(400, seed=5)]
    write_csv(raw / "train.csv", rows[:340])
    write_csv(raw / "test.csv", rows[340:])


def test_every_task_names_a_loader_that_exists_and_a_script():
    from textclf.data import corpora

    for task in TASKS.values():
        assert callable(getattr(corpora, task.loader)), task.name
        assert (REPO_ROOT / task.script).is_file(), task.name
        assert f"TASK={task.name} " in (REPO_ROOT / task.script).read_text(encoding="utf-8"), task.name


@pytest.mark.slow
def test_a_fourth_task_touches_only_the_files_this_page_lists(tmp_path, tiny_model):
    repository = tmp_path / "repository"
    repository_copy(repository)
    touched = register_new_task(repository)
    page = (REPO_ROOT / "docs" / "adding_a_task.md").read_text(encoding="utf-8")
    assert all(f"`{name.replace('sst', '<name>')}`" in page for name in touched)
    raw = tmp_path / "raw" / NEW_TASK
    write_raw_sentences(raw)
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    env.pop("PYTHONPATH", None)

    # The task script: prepared, trained, scored on the labelled test file, with the table's class names.
    run = subprocess.run(["bash", "scripts/train_sst.sh"], cwd=repository, capture_output=True, text=True, timeout=600,
                         env=env | {"MODEL": str(tiny_model), "RAW_DIR": str(raw), "EPOCHS": "3", "LR": "2e-3",
                                    "BATCH_SIZE": "8", "MAX_SEQ_LENGTH": "32", "OUTPUT_DIR": "experiments/sst-tiny",
                                    # IMDB's defaults freeze 4 layers and keep 120 tail tokens: the tiny model has 2, cut at 32
                                    "FREEZE_LOWER_LAYERS": "", "TRUNCATION_TAIL_TOKENS": "8"})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "TASK=sst" in run.stdout  # the resolved settings, printed at the start
    run_dir = repository / "experiments" / "sst-tiny"
    info = json.loads((run_dir / "run_info.json").read_text())
    assert info["text_columns"] == ["sentence"] and info["label_column"] == "label" and info["metric"] == "accuracy"
    assert info["labels"] == ["negative", "positive"]
    assert info["script_settings"]["TASK"] == "sst"
    assert "## Task script settings" in (run_dir / "report.md").read_text(encoding="utf-8")
    assert json.loads((run_dir / "test_metrics.json").read_text())["accuracy"] >= 0.8
    assert len(pd.read_csv(run_dir / "predictions.csv")) == 60

    # The model comparison reads the same table: budget, columns, scored split.
    compare = subprocess.run(["bash", "scripts/compare_models.sh"], cwd=repository, capture_output=True, text=True,
                             timeout=600, env=env | {"TASKS": NEW_TASK, "MODELS": "tfidf", "RAW_ROOT": str(tmp_path / "raw"),
                                                     "OUTPUT": "experiments/comparison"})
    assert compare.returncode == 0, compare.stdout[-3000:] + compare.stderr[-3000:]
    assert "the test file" in (repository / "experiments" / "comparison" / "comparison.md").read_text(encoding="utf-8")
