"""The TF-IDF baseline, the comparison table and chart, and scripts/compare_models.sh end to end."""

from __future__ import annotations

import csv
import json
import os
import subprocess

import pandas as pd
import pytest
from conftest import REPO_ROOT, sentiment_rows, write_csv

import tfidf_baseline
from textclf import UserInputError
from textclf.reports.comparison import main as comparison_main
from textclf.reports.comparison import label_lifts, make_subsets, write_comparison
from textclf.problem_types import SINGLE_LABEL
from textclf.runs.folder import BASELINE_MODEL, RunInfo


def baseline(tmp_path, **files) -> list[str]:
    """tfidf_baseline.py's arguments for the given --<name>_file paths, output in tmp_path/run."""
    arguments = [item for name, path in files.items() for item in (f"--{name}", str(path))]
    return arguments + ["--text_column_names", "text", "--label_column_name", "label", "--output_dir", str(tmp_path / "run")]


def test_baseline_writes_the_files_a_transformer_run_writes(tmp_path):
    train = write_csv(tmp_path / "train.csv", sentiment_rows(120, seed=1))
    validation = write_csv(tmp_path / "validation.csv", sentiment_rows(40, seed=2))
    test_rows = [row | {"id": 500 - row["id"]} for row in sentiment_rows(30, seed=3)]
    test = write_csv(tmp_path / "test.csv", test_rows)
    tfidf_baseline.main(baseline(tmp_path, train_file=train, validation_file=validation, test_file=test))

    run = tmp_path / "run"
    info = json.loads((run / "run_info.json").read_text())
    assert info["model"] == "tfidf-logreg" and info["labels"] == ["0", "1"]
    assert info["parameters"] == info["hyperparameters"]["vocabulary_size"] + 1  # one coefficient per n-gram + bias
    assert {split: data["rows"] for split, data in info["data"].items()} == {"train": 120, "validation": 40, "test": 30}
    results = json.loads((run / "all_results.json").read_text())
    assert results["train_samples"] == 120 and results["train_runtime"] > 0 and results["test_samples"] == 30
    assert json.loads((run / "test_results.json").read_text())["test_runtime"] > 0
    assert json.loads((run / "validation_metrics.json").read_text())["accuracy"] >= 0.9
    assert json.loads((run / "test_metrics.json").read_text())["macro_f1"] >= 0.9
    predictions = pd.read_csv(run / "predictions.csv")
    assert predictions["id"].tolist() == [row["id"] for row in test_rows]  # file order, ids kept
    assert predictions[["prob_0", "prob_1"]].sum(axis=1).round(4).eq(1).all()
    assert (run / "model.joblib").stat().st_size > 0 and (run / "eval_predictions.csv").exists()
    report = (run / "report.md").read_text()
    assert "Trained **tfidf-logreg**" in report and "## Test results (30 rows" in report


def test_baseline_predicts_an_unlabelled_test_file_and_rejects_regression(tmp_path):
    names = ("negative", "positive")
    train = write_csv(tmp_path / "train.csv", sentiment_rows(80, seed=1, labels=names))
    test = write_csv(tmp_path / "test.csv", sentiment_rows(10, seed=2), columns=["id", "text"])
    tfidf_baseline.main(baseline(tmp_path, train_file=train, test_file=test))
    run = tmp_path / "run"
    assert set(pd.read_csv(run / "predictions.csv")["prediction"]) <= set(names)
    assert not (run / "test_metrics.json").exists() and not (run / "test_results.json").exists()
    assert "test_runtime" in json.loads((run / "all_results.json").read_text())

    scores = write_csv(tmp_path / "scores.csv", [{"text": "good day", "label": 0.5}, {"text": "bad day", "label": 1.5}])
    with pytest.raises(UserInputError, match="single-label classification only"):
        tfidf_baseline.main(baseline(tmp_path, train_file=scores))


def subset_arguments(tmp_path, train_rows: int | None) -> dict:
    rows = [{"id": index, "text": f"text {index}", "label": "a" if index % 5 < 3 else "b"} for index in range(100)]
    return {
        "task_dir": tmp_path / "out" / "task",
        "train_file": write_csv(tmp_path / "train.csv", rows),
        "eval_file": write_csv(tmp_path / "test.csv", rows[:30]),
        "label_column": "label",
        "train_rows": train_rows,
        "eval_rows": None,
        "seed": 42,
        "eval_description": "official test split",
        "budget": "1 epoch",
    }


def test_subsets_are_stratified_reused_and_guard_the_budget(tmp_path):
    record = make_subsets(**subset_arguments(tmp_path, train_rows=20))
    data = tmp_path / "out" / "task" / "data"
    train = pd.read_csv(data / "train.csv")
    assert train["label"].value_counts().to_dict() == {"a": 12, "b": 8}
    assert train["id"].is_monotonic_increasing  # file order kept
    assert len(pd.read_csv(data / "eval.csv")) == 30 and record["eval"]["rows"] == 30
    before = (data / "train.csv").read_bytes()
    assert make_subsets(**subset_arguments(tmp_path, train_rows=20)) == record
    assert (data / "train.csv").read_bytes() == before
    with pytest.raises(UserInputError, match="other settings \\(changed: train\\)"):
        make_subsets(**subset_arguments(tmp_path, train_rows=30))


def fake_run(directory, model: str, accuracy: float, train_seconds: float, test_seconds: float, weights: tuple[str, int],
             bf16=False, train_rows=50):
    directory.mkdir(parents=True)
    RunInfo(model=model, problem_type=SINGLE_LABEL, labels=["neg", "pos"], metric="accuracy", text_columns=["text"],
            label_column="label", data={"train": {"file": "train.csv", "rows": train_rows}},
            hyperparameters={"bf16": bf16}, parameters=22_700_000 if model != BASELINE_MODEL else 1_234,
            wall_time_seconds=9.0).write(directory)
    metrics = {"rows": 20, "accuracy": accuracy, "macro_f1": accuracy - 0.01}
    (directory / "test_metrics.json").write_text(json.dumps(metrics))
    results = {"train_runtime": train_seconds, "train_samples_per_second": train_rows / train_seconds,
               "test_runtime": test_seconds, "test_samples": 20}
    (directory / "all_results.json").write_text(json.dumps(results))
    (directory / weights[0]).write_bytes(b"0" * weights[1])


def test_chart_labels_of_close_points_move_apart_to_the_nearest_free_place():
    def overlap(a, b):
        return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]

    frame = (0, 0, 400, 300)
    labels = [(100, 100, 60, 10), (105, 103, 60, 10), (300, 100, 60, 10)]  # two overprint; one far away
    marker = (95, 102, 6, 6)  # the second label's point, under the first label's natural place
    lifts = label_lifts(labels, [marker], frame)
    moved = [(x, y + lift, w, h) for (x, y, w, h), lift in zip(labels, lifts)]
    assert not overlap(moved[0], moved[1])
    assert not any(overlap(box, marker) for box in moved)
    assert lifts[2] == 0  # nothing in its way
    assert max(abs(lift) for lift in lifts) <= 20  # the nearest free place, not anywhere free
    top_label = [(100, 295, 60, 10), (100, 295, 60, 10)]  # at the top of the frame: the second one goes below
    assert label_lifts(top_label, [], frame)[1] < 0


def test_comparison_table_and_chart(tmp_path, capsys):
    task = tmp_path / "imdb"
    fake_run(task / "tfidf", BASELINE_MODEL, 0.8, 0.5, 0.02, ("model.joblib", 2_000_000))
    fake_run(task / "tfidf-all", BASELINE_MODEL, 0.85, 5.0, 0.02, ("model.joblib", 9_000_000), train_rows=500)
    fake_run(task / "minilm-l6", "sentence-transformers/all-MiniLM-L6-v2", 0.9, 100.0, 2.0, ("model.safetensors", 91_000_000), bf16=True)
    (task / "unfinished").mkdir()
    (task / "unfinished" / "run_info.json").write_text("{}")
    record = {"seed": 42, "budget": "1 epoch", "train": {"source": "train.csv", "source_rows": 500, "rows": 50},
              "eval": {"source": "test.csv", "source_rows": 100, "rows": 20, "description": "official test split"}}
    (task / "task.json").write_text(json.dumps(record))

    report = write_comparison(tmp_path).read_text()
    rows = [line for line in report.splitlines() if line.startswith("| `")]
    assert [row.split("|")[1].strip() for row in rows] == ["`minilm-l6`", "`tfidf-all`", "`tfidf`"]  # best first
    cells = [cell.strip() for cell in rows[0].split("|")[1:-1]]
    assert cells[1:8] == ["22.7M", "50", "0.9000", "0.8900", "+10.0", "+5.0", "100.0"]
    assert cells[9:] == ["100.00", "91.0", "9", "bf16"]  # 2 s / 20 rows; MB; whole run; precision
    assert "official test split: 20 of its 100 rows (`test.csv`), a fixed stratified subset (seed 42)" in report
    assert (tmp_path / "comparison.png").read_bytes()[:4] == b"\x89PNG"

    assert comparison_main(["report", str(tmp_path / "nothing")]) == 2
    assert "no such folder" in capsys.readouterr().err


def write_raw_files(raw) -> None:
    """Tiny IMDB, AG News (headerless, one file) and tweets raw files in their original formats."""
    (raw / "imdb").mkdir(parents=True)
    for split, count, seed in (("train", 120, 1), ("test", 60, 2)):
        write_csv(raw / "imdb" / f"{split}.csv", sentiment_rows(count, seed=seed), columns=["id", "label", "text"])
    (raw / "tweets").mkdir()
    tweets = [{"id": r["id"], "keyword": "", "location": "", "text": r["text"], "target": r["label"]} for r in sentiment_rows(160, seed=4)]
    write_csv(raw / "tweets" / "train.csv", tweets)
    write_csv(raw / "tweets" / "test.csv", [{**row, "id": 1000 + row["id"]} for row in tweets[:20]], columns=["id", "keyword", "location", "text"])
    (raw / "ag_news").mkdir()
    words = {1: "storm", 2: "team", 3: "market", 4: "news"}
    with open(raw / "ag_news" / "test.csv", "w", newline="") as file:
        writer = csv.writer(file, quoting=csv.QUOTE_ALL)
        for index in range(200):
            label = index % 4 + 1
            writer.writerow([label, f"{words[label]} day {index}", f"the {words[label]} was a day"])


def compare_models(tmp_path, **overrides) -> subprocess.CompletedProcess:
    env = {
        **os.environ, "TINY": "1", "TASKS": "imdb ag_news tweets", "RAW_ROOT": str(tmp_path / "raw"),
        "DATA_ROOT": str(tmp_path / "data"), "OUTPUT": str(tmp_path / "comparison"), "TOKENIZERS_PARALLELISM": "false",
        **overrides,
    }
    return subprocess.run(["bash", str(REPO_ROOT / "scripts" / "compare_models.sh")], env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_compare_models_end_to_end_resumes_and_keeps_one_budget(tmp_path, tiny_model):
    write_raw_files(tmp_path / "raw")
    output = tmp_path / "comparison"
    first = compare_models(tmp_path, MODELS="tfidf")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    for task in ("imdb", "ag_news", "tweets"):
        assert (output / task / "tfidf" / "test_metrics.json").exists()
    report = (output / "comparison.md").read_text()
    assert "official test split: 20 of its 60 rows" in report
    assert "validation split carved from Kaggle's train.csv" in report
    assert "test split carved from the official test file" in report

    # A model added later trains on the same rows; a model that fails does not stop the others.
    models = f"tfidf {tiny_model}"
    second = compare_models(tmp_path, MODELS=f"{models} {tmp_path / 'no-such-model'}", TASKS="imdb")
    assert second.returncode == 1, second.stdout[-3000:] + second.stderr[-3000:]
    assert "[imdb] tfidf: finished earlier, skipped" in second.stdout
    assert "1 run(s) failed: imdb/no-such-model" in second.stderr
    report = (output / "comparison.md").read_text()
    assert f"| `{tiny_model.name}` |" in report and "## tweets" in report
    assert (output / "comparison.png").exists()
    finished = (output / "imdb" / tiny_model.name / "test_metrics.json").stat().st_mtime_ns

    third = compare_models(tmp_path, MODELS=models, TASKS="imdb")
    assert third.returncode == 0, third.stdout[-3000:] + third.stderr[-3000:]
    assert third.stdout.count("finished earlier, skipped") == 2
    assert (output / "imdb" / tiny_model.name / "test_metrics.json").stat().st_mtime_ns == finished

    fourth = compare_models(tmp_path, MODELS="tfidf", TASKS="imdb", IMDB_TRAIN_ROWS="30")
    assert fourth.returncode == 2
    assert "holds runs made with other settings (changed: train)" in fourth.stderr
