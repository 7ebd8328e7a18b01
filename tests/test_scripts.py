"""The task scripts end to end on tiny raw files in each dataset's original format, with a tiny model."""

from __future__ import annotations

import csv
import os
import subprocess

import pandas as pd
import pytest
from conftest import REPO_ROOT, sentiment_rows, write_csv

from textclf.runs.folder import RunInfo
from textclf.tasks import PROTOCOL

pytestmark = pytest.mark.slow  # end to end: each test trains a model through a script


def run_script(name: str, tmp_path, tiny_model, raw_dir, **overrides) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "MODEL": str(tiny_model), "RAW_DIR": str(raw_dir), "DATA_DIR": str(tmp_path / "data"),
        "OUTPUT_DIR": str(tmp_path / "run"), "EPOCHS": "3", "LR": "2e-3", "BATCH_SIZE": "8",
        "MAX_SEQ_LENGTH": "32", "TOKENIZERS_PARALLELISM": "false",
        "FREEZE_LOWER_LAYERS": "",  # the tiny models have 2 layers: the tweets default (2 frozen) would train the head only
        **overrides,
    }
    result = subprocess.run(["bash", str(REPO_ROOT / "scripts" / name)], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def assert_analysis_sections(report: str, task_section: str) -> None:
    """The report's analysis of the validation predictions (textclf.reports.analysis), as every task script makes it."""
    for section in ("## Analysis of the validation predictions", "### Most confident errors", task_section,
                    "### Reliability", "### Calibration", "| validation, cross-fitted | as trained |", "### Token explanations"):
        assert section in report, section


def write_raw_tweets(raw, test_count: int) -> list[dict]:
    """Kaggle's train.csv (200 tweets) and test.csv (no target, ids not in row order); the test rows."""
    raw.mkdir()
    write_csv(raw / "train.csv", [
        {"id": r["id"], "keyword": "", "location": "", "text": r["text"], "target": r["label"]}
        for r in sentiment_rows(200, seed=4)
    ])
    test_rows = [{"id": 1000 + r["id"] * 3, "keyword": "", "location": "", "text": r["text"]}
                 for r in sentiment_rows(test_count, seed=5)]
    write_csv(raw / "test.csv", test_rows)
    return test_rows


def test_train_tweets_writes_a_kaggle_submission(tmp_path, tiny_model):
    raw = tmp_path / "raw"
    test_rows = write_raw_tweets(raw, test_count=30)
    result = run_script("train_tweets.sh", tmp_path, tiny_model, raw)
    assert "report.md" in result.stdout
    submission = pd.read_csv(tmp_path / "run/submission.csv")
    assert list(submission.columns) == ["id", "target"]
    assert submission["id"].tolist() == [row["id"] for row in test_rows]
    assert set(submission["target"]) <= {0, 1}  # Kaggle's values, although the run names its classes
    predictions = pd.read_csv(tmp_path / "run/predictions.csv")
    assert list(predictions.columns) == ["id", "prediction", "prob_not disaster", "prob_disaster"]
    assert submission["target"].tolist() == predictions["prediction"].map({"not disaster": 0, "disaster": 1}).tolist()
    report = (tmp_path / "run/report.md").read_text()
    assert "## Validation results" in report and "(2 classes: not disaster, disaster)" in report
    assert_analysis_sections(report, "### Precision, recall and the decision threshold")


def test_clean_trains_on_a_cleaned_copy_of_the_training_split(tmp_path, tiny_model):
    raw = tmp_path / "raw"
    write_raw_tweets(raw, test_count=10)
    result = run_script("train_tweets.sh", tmp_path, tiny_model, raw, EPOCHS="1",
                        CLEAN="--drop_suspects_above 0.5 --merge_conflicting_duplicates majority")
    assert "Cleaning the training split" in result.stdout
    cleaned = tmp_path / "data-clean"
    info = RunInfo.read(tmp_path / "run")
    assert info.data_file("train") == str(cleaned / "train.csv")
    assert info.data_rows("train") == len(pd.read_csv(cleaned / "train.csv"))
    assert (cleaned / "cleaning.csv").is_file() and (cleaned / PROTOCOL).is_file()
    for split in ("validation", "test"):  # never touched
        assert (cleaned / f"{split}.csv").read_bytes() == (tmp_path / "data" / f"{split}.csv").read_bytes()


def test_train_imdb_scores_the_official_test_split(tmp_path, tiny_model):
    """IMDB's default predicts its test split with predict.py (PREDICT_WITH), into the files --do_predict writes."""
    raw = tmp_path / "raw"
    raw.mkdir()
    for split, count, seed in (("train", 200, 1), ("test", 40, 2)):
        write_csv(raw / f"{split}.csv", sentiment_rows(count, seed=seed), columns=["id", "label", "text"])
    # fp32 on every machine: on one with bf16 units (PRECISION=auto: bf16) this tiny model, at LR 2e-3, stayed at
    # 0.5 accuracy on these 200 rows (seen 2026-12-07); the test is about the test split's path, not bf16.
    settings = dict(MAX_TRAIN_SAMPLES="", MAX_EVAL_SAMPLES="", TRUNCATION_TAIL_TOKENS="8", PRECISION="fp32")
    result = run_script("train_imdb.sh", tmp_path, tiny_model, raw, **settings)
    assert "Predicting the test split with predict.py" in result.stdout
    test_metrics = pd.read_json(tmp_path / "run/test_results.json", typ="series")
    assert test_metrics["test_samples"] == 40 and test_metrics["test_accuracy"] >= 0.8
    predictions = pd.read_csv(tmp_path / "run/predictions.csv")
    assert list(predictions.columns) == ["id", "label", "prediction", "prob_negative", "prob_positive"]
    assert set(predictions["label"]) == {"negative", "positive"}
    report = (tmp_path / "run/report.md").read_text()
    assert "## Test results (40 rows of `" + str(tmp_path / "data/test.csv") in report
    assert "| PREDICT_WITH | `predict.py` |" in report
    assert_analysis_sections(report, "### Precision, recall and the decision threshold")

    # Stopped after training, before the test split was predicted: the same command predicts it, no training.
    (tmp_path / "run/predictions.csv").unlink()
    result = run_script("train_imdb.sh", tmp_path, tiny_model, raw, **settings)
    assert "trained earlier; its test split is not predicted yet" in result.stdout
    assert "***** train metrics *****" not in result.stdout + result.stderr
    assert pd.read_csv(tmp_path / "run/predictions.csv").equals(predictions)


def test_train_agnews_carves_splits_from_the_test_file(tmp_path, tiny_model):
    raw = tmp_path / "raw"
    raw.mkdir()
    words = {1: "storm", 2: "team", 3: "market", 4: "news"}
    with open(raw / "test.csv", "w", newline="") as file:
        writer = csv.writer(file, quoting=csv.QUOTE_ALL)
        for index in range(160):
            label = index % 4 + 1
            writer.writerow([label, f"{words[label]} day {index}", f"the {words[label]} was a day"])
    result = run_script("train_agnews.sh", tmp_path, tiny_model, raw)
    assert "NOT comparable to published AG News results" in result.stdout + result.stderr
    report = (tmp_path / "run/report.md").read_text()
    assert "4 classes: Business, Sci/Tech, Sports, World" in report
    assert_analysis_sections(report, "### Most confused classes")


def test_repeat_splits_scores_the_recipe_on_each_seeded_split(tmp_path, tiny_model):
    raw = tmp_path / "raw"
    write_raw_tweets(raw, test_count=10)
    root = tmp_path / "splits"
    result = run_script("repeat_splits.sh", tmp_path, tiny_model, raw, OUTPUT_ROOT=str(root), SPLIT_SEEDS="1 2")
    validations = [pd.read_csv(root / f"data-split{seed}/validation.csv") for seed in (1, 2)]
    assert set(validations[0]["id"]) != set(validations[1]["id"])  # two different draws
    table = (root / "splits.md").read_text()
    assert table in result.stdout
    rows = [line for line in table.splitlines() if line.startswith(("| 1 |", "| 2 |", "| **mean**", "| sd |"))]
    assert len(rows) == 4 and "TF-IDF positive_f1" in table
    model_f1 = [float(line.split("|")[4]) for line in rows[:2]]
    assert min(model_f1) >= 0.8  # each split's run really trained on its own data
