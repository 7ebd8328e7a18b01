"""End-to-end runs of run_classification.py as a user types them, on a tiny BERT and small files."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import (
    FILLER_WORDS,
    NEGATIVE_WORDS,
    POSITIVE_WORDS,
    QUICK_TRAINING,
    REPO_ROOT,
    network_namespace_or_skip,
    run_classification,
    sentiment_rows,
    write_csv,
    write_jsonl,
)

from textclf.runs.folder import RunInfo


def handout_command(model: str, metric: str = "accuracy") -> list[str]:
    """The course handout's command, verbatim apart from the model and the metric."""
    return [
        "--model_name_or_path", model,
        "--train_file", "data/train.csv", "--validation_file", "data/val.csv", "--test_file", "data/test.csv",
        "--shuffle_train_dataset", "--metric_name", metric,
        "--text_column_name", "text", "--text_column_delimiter", "\\n", "--label_column_name", "target",
        "--do_train", "--do_eval", "--do_predict", "--max_seq_length", "512",
        "--per_device_train_batch_size", "32", "--learning_rate", "2e-5", "--num_train_epochs", "1",
        "--output_dir", "experiments/",
    ]


def write_tweets_like_data(directory: Path, train: int = 160, val: int = 40, test: int = 30) -> list[dict]:
    """Kaggle Disaster Tweets layout: id,keyword,location,text,target; test.csv has no target."""
    (directory / "data").mkdir(parents=True, exist_ok=True)
    rows = [
        {"id": r["id"], "keyword": "fire" if i % 3 else "", "location": "", "text": r["text"], "target": r["label"]}
        for i, r in enumerate(sentiment_rows(train + val, seed=0))
    ]
    write_csv(directory / "data/train.csv", rows[:train])
    write_csv(directory / "data/val.csv", rows[train:])
    test_rows = sentiment_rows(test, seed=7)
    write_csv(directory / "data/test.csv", test_rows, columns=["id", "text"])
    return test_rows


def read_predictions(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "index\tprediction"
    assert [line.split("\t")[0] for line in lines[1:]] == [str(i) for i in range(len(lines) - 1)]
    return [line.split("\t", 1)[1] for line in lines[1:]]


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def assert_ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("metric", ["accuracy", "local_metrics/accuracy/accuracy.py", "local_metrics/accuracy"])
def test_handout_command_with_unlabelled_test_file(tmp_path, tiny_model, metric):
    test_rows = write_tweets_like_data(tmp_path)
    result = run_classification(*handout_command(str(tiny_model), metric), "--max_train_samples", "64", cwd=tmp_path)
    assert_ok(result)
    output = tmp_path / "experiments"
    config = read_json(output / "config.json")
    # The test file has no `target` column: two classes, no phantom `None` class.
    assert config["id2label"] == {"0": "0", "1": "1"}
    assert config["problem_type"] == "single_label_classification"
    predictions = read_predictions(output / "predict_results.txt")
    assert len(predictions) == len(test_rows)
    assert set(predictions) <= {"0", "1"}
    results = read_json(output / "all_results.json")
    assert results["eval_accuracy"] == pytest.approx(read_json(output / "validation_metrics.json")["accuracy"])
    assert results["train_samples"] == 64 and results["eval_samples"] == 40
    for name in ("train_results.json", "eval_results.json", "trainer_state.json", "README.md",
                 "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        assert (output / name).exists(), name
    assert "switched to offline mode" in result.stdout
    # Kaggle's submission format: id,target, every test row in file order.
    submission = pd.read_csv(output / "submission.csv")
    assert list(submission.columns) == ["id", "target"]
    assert submission["id"].tolist() == [row["id"] for row in test_rows]
    assert submission["target"].astype(str).tolist() == predictions


@pytest.mark.slow
def test_training_learns_and_predicts_in_file_order(tmp_path, tiny_model):
    """String labels end up in id2label and predict_results.txt, one prediction per test row in order."""
    rows = sentiment_rows(320, seed=1, labels=("negative", "positive"))
    write_csv(tmp_path / "train.csv", rows[:240])
    write_csv(tmp_path / "validation.csv", rows[240:])
    test_rows = sentiment_rows(40, seed=9, labels=("negative", "positive"))
    write_csv(tmp_path / "test.csv", test_rows, columns=["id", "text"])
    result = run_classification(
        "--model_name_or_path", str(tiny_model), "--train_file", "train.csv", "--validation_file", "validation.csv",
        "--test_file", "test.csv", "--do_train", "--do_eval", "--do_predict", "--output_dir", "out",
        *QUICK_TRAINING, "--num_train_epochs", "4", cwd=tmp_path,
    )
    assert_ok(result)
    config = read_json(tmp_path / "out/config.json")
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    assert read_json(tmp_path / "out/eval_results.json")["eval_accuracy"] >= 0.9
    predictions = read_predictions(tmp_path / "out/predict_results.txt")
    expected = [row["label"] for row in test_rows]
    agreement = sum(p == e for p, e in zip(predictions, expected)) / len(expected)
    assert len(predictions) == len(expected) and agreement >= 0.9

    # predictions.csv: the same predictions with ids and class probabilities.
    table = pd.read_csv(tmp_path / "out/predictions.csv")
    assert list(table.columns) == ["id", "prediction", "prob_negative", "prob_positive"]
    assert table["prediction"].tolist() == predictions
    assert np.allclose(table[["prob_negative", "prob_positive"]].sum(axis=1), 1.0, atol=1e-5)
    assert ((table["prob_positive"] > 0.5) == (table["prediction"] == "positive")).all()
    # The report: metrics agree with the Trainer's, the confusion matrix counts every validation row.
    metrics = read_json(tmp_path / "out/validation_metrics.json")
    assert metrics["accuracy"] == pytest.approx(read_json(tmp_path / "out/eval_results.json")["eval_accuracy"])
    assert metrics["positive_class"] == "positive" and 0.9 <= metrics["positive_f1"] <= 1.0
    assert sum(map(sum, metrics["confusion_matrix"]["counts"])) == 80
    report = (tmp_path / "out/report.md").read_text()
    for section in ("## Validation results (80 rows", "### Per class", "![confusion matrix]", "![learning curves]",
                    "## Hyperparameters", "## Command"):
        assert section in report
    for picture in ("confusion_matrix.png", "learning_curves.png"):
        assert (tmp_path / "out" / picture).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_multiclass_f1_uses_macro_average(tmp_path, tiny_model):
    rows = [
        {"title": f"{word} news", "body": f"the {word} team", "topic": topic}
        for i in range(60)
        for word, topic in [(["good", "bad", "fire"][i % 3], ["Sports", "World", "Sci/Tech"][i % 3])]
    ]
    write_csv(tmp_path / "train.csv", rows[:45])
    write_csv(tmp_path / "val.csv", rows[45:])
    result = run_classification(
        "--model_name_or_path", str(tiny_model), "--train_file", "train.csv", "--validation_file", "val.csv",
        "--text_column_names", "title,body", "--label_column_name", "topic", "--metric_name", "f1",
        "--do_train", "--do_eval", "--output_dir", "out", *QUICK_TRAINING, cwd=tmp_path,
    )
    assert_ok(result)
    assert "using macro averaging" in result.stdout
    macro_f1 = read_json(tmp_path / "out/validation_metrics.json")["macro_f1"]
    assert read_json(tmp_path / "out/eval_results.json")["eval_f1"] == pytest.approx(macro_f1)
    assert read_json(tmp_path / "out/config.json")["id2label"] == {"0": "Sci/Tech", "1": "Sports", "2": "World"}


@pytest.mark.slow
def test_regression_from_float_labels_with_json_arguments_file(tmp_path, tiny_model):
    rows = [{"sentence": r["text"], "label": float(r["label"]) * 4.5 + 0.25} for r in sentiment_rows(60, seed=2)]
    write_jsonl(tmp_path / "train.json", rows[:40])
    write_jsonl(tmp_path / "test.json", rows[40:])
    arguments = {
        "model_name_or_path": str(tiny_model), "train_file": "train.json", "test_file": "test.json",
        "do_train": True, "do_eval": True, "do_predict": True, "output_dir": "out", "num_train_epochs": 1,
        "per_device_train_batch_size": 8, "save_strategy": "no", "report_to": "none",
    }
    (tmp_path / "args.json").write_text(json.dumps(arguments))
    result = run_classification("args.json", cwd=tmp_path)
    assert_ok(result)
    config = read_json(tmp_path / "out/config.json")
    assert config["problem_type"] == "regression" and len(config["id2label"]) == 1
    # No validation file: evaluation falls back to the labelled test file, with a warning.
    assert "Falling back to test dataset" in result.stdout
    assert read_json(tmp_path / "out/eval_results.json")["eval_mse"] == pytest.approx(
        read_json(tmp_path / "out/validation_metrics.json")["mse"], rel=1e-4)
    # The test file has labels on every row: it is scored as well.
    assert read_json(tmp_path / "out/test_results.json")["test_samples"] == 20
    assert "## Test results (20 rows" in (tmp_path / "out/report.md").read_text()
    predictions = [float(p) for p in read_predictions(tmp_path / "out/predict_results.txt")]
    table = pd.read_csv(tmp_path / "out/predictions.csv")
    assert len(predictions) == 20 and np.allclose(predictions, table["prediction"], atol=1e-3)


@pytest.mark.slow
def test_multi_label_json(tmp_path, tiny_model):
    """Label lists in JSON lines train a multi-label model; a row's prediction is every label whose sigmoid
    is over 0.5, as the saved model's own logits give them."""
    import torch
    from sklearn.metrics import f1_score
    from sklearn.preprocessing import MultiLabelBinarizer
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    others = [word for word in FILLER_WORDS if word != "fire"]
    rows = sentiment_rows(140, seed=3, words=(others, POSITIVE_WORDS, NEGATIVE_WORDS), fillers=3)
    labelled = []
    for index, row in enumerate(rows):  # "fire" in every other pair of rows, whatever the sentiment
        fire = index % 4 >= 2
        labelled.append({"text": row["text"] + (" fire" if fire else ""),
                         "label": (["fire"] if fire else []) + (["pos"] if row["label"] == "1" else ["neg"])})
    write_jsonl(tmp_path / "train.json", labelled[:120])
    write_jsonl(tmp_path / "val.json", labelled[120:130])
    write_jsonl(tmp_path / "test.json", [{"text": r["text"]} for r in labelled[130:]])
    result = run_classification(
        "--model_name_or_path", str(tiny_model), "--train_file", "train.json", "--validation_file", "val.json",
        "--test_file", "test.json", "--do_train", "--do_eval", "--do_predict", "--output_dir", "out",
        *QUICK_TRAINING, "--num_train_epochs", "3", "--learning_rate", "5e-3", cwd=tmp_path,
    )
    assert_ok(result)
    config = read_json(tmp_path / "out/config.json")
    assert config["problem_type"] == "multi_label_classification"
    assert config["id2label"] == {"0": "fire", "1": "neg", "2": "pos"}
    # The saved model's logits for the test texts, computed here: a sigmoid per label, every label over 0.5.
    texts = [row["text"] for row in labelled[130:]]
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "out").eval()
    batch = AutoTokenizer.from_pretrained(tmp_path / "out")(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**batch).logits
    probabilities = torch.sigmoid(logits).numpy()
    expected = [[name for name, p in zip(["fire", "neg", "pos"], row) if p > 0.5] for row in probabilities]
    predictions = [ast.literal_eval(p) for p in read_predictions(tmp_path / "out/predict_results.txt")]
    assert predictions == expected
    assert any(len(labels) > 1 for labels in predictions)  # a label set, not the most probable label
    assert [("fire" in labels) for labels in predictions] == [text.endswith(" fire") for text in texts]  # learnt
    table = pd.read_csv(tmp_path / "out/predictions.csv", keep_default_na=False)
    assert table["prediction"].tolist() == ["|".join(labels) for labels in expected]
    np.testing.assert_allclose(table[["prob_fire", "prob_neg", "prob_pos"]], probabilities, atol=1e-5)
    # eval_f1: micro-averaged F1 of the validation rows' label sets, as eval_predictions.csv lists them
    evaluated = pd.read_csv(tmp_path / "out/eval_predictions.csv", dtype=str, keep_default_na=False)
    assert evaluated["label"].tolist() == ["|".join(row["label"]) for row in labelled[120:130]]
    binarizer = MultiLabelBinarizer(classes=["fire", "neg", "pos"])
    truth, predicted = (binarizer.fit_transform([cell.split("|") if cell else [] for cell in evaluated[column]])
                        for column in ("label", "prediction"))
    expected_f1 = f1_score(truth, predicted, average="micro")
    assert read_json(tmp_path / "out/eval_results.json")["eval_f1"] == pytest.approx(expected_f1, abs=1e-9)


@pytest.mark.slow
def test_offline_namespace_with_installed_minilm(tmp_path):
    """A full train/eval/predict with no network at all, the default model found by name."""
    network_namespace_or_skip()
    write_tweets_like_data(tmp_path, train=48, val=16, test=12)
    command = handout_command("all-MiniLM-L6-v2")
    command[command.index("512")] = "64"
    result = run_classification(*command, "--max_train_samples", "32", cwd=tmp_path, launcher=("unshare", "-n", sys.executable))
    assert_ok(result)
    assert read_json(tmp_path / "experiments/config.json")["hidden_size"] == 384
    assert len(read_predictions(tmp_path / "experiments/predict_results.txt")) == 12
    assert "sentence-transformers/all-MiniLM-L6-v2" in (tmp_path / "experiments/README.md").read_text()


@pytest.mark.slow
def test_unreachable_hub_model_fails_fast(tmp_path):
    network_namespace_or_skip()
    write_tweets_like_data(tmp_path, train=10, val=4, test=4)
    command = handout_command("google-bert/bert-base-uncased")
    started = time.monotonic()
    result = run_classification(*command, cwd=tmp_path, launcher=("unshare", "-n", "env", f"HF_HOME={tmp_path}/hf", sys.executable))
    elapsed = time.monotonic() - started
    assert result.returncode == 2
    assert "Hugging Face Hub cannot be reached" in result.stderr and "all-MiniLM-L6-v2" in result.stderr
    assert "Traceback" not in result.stderr
    assert elapsed < 60


@pytest.mark.slow
def test_two_process_cpu_run_writes_results_once(tmp_path, tiny_model):
    test_rows = write_tweets_like_data(tmp_path, train=64, val=20, test=17)
    command = handout_command(str(tiny_model))
    result = run_classification(
        *command, "--per_device_train_batch_size", "8", "--save_strategy", "no",
        "--train_sampling_strategy", "group_by_length", "--per_device_eval_batch_size", "4", cwd=tmp_path,
        launcher=("env", "OMP_NUM_THREADS=1", sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"),
    )
    assert_ok(result)
    assert "distributed training: True" in result.stdout + result.stderr
    output = tmp_path / "experiments"
    assert len(read_predictions(output / "predict_results.txt")) == len(test_rows)
    # Gathered from both processes, predictions come back in data order, each with its row.
    validation = pd.read_csv(tmp_path / "data/val.csv")
    evaluated = pd.read_csv(output / "eval_predictions.csv")
    assert evaluated["id"].tolist() == validation["id"].tolist()
    assert evaluated["label"].tolist() == validation["target"].tolist()
    results = read_json(output / "all_results.json")
    assert results["eval_samples"] == 20 and results["train_samples"] == 64
    state = read_json(output / "trainer_state.json")
    # 64 rows, 2 processes x 8 per step: 4 optimizer steps for the epoch.
    assert state["global_step"] == 4
    # Written after the processes left their group: the record still knows there were two, and is finished.
    info = RunInfo.read(output)
    assert info.device.endswith(" x 2") and info.finished


@pytest.mark.slow
def test_bad_input_is_one_line_without_traceback(tmp_path, tiny_model):
    write_csv(tmp_path / "train.csv", sentiment_rows(10, seed=0))
    result = run_classification(
        "--model_name_or_path", str(tiny_model), "--train_file", "train.csv", "--text_column_names", "tweet",
        "--do_train", "--output_dir", "out", cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "error: train.csv: no column 'tweet' (--text_column_names); columns are: id, text, label"
    )


@pytest.mark.slow
def test_legacy_arguments_from_older_tutorials_are_accepted(tmp_path, tiny_model):
    write_tweets_like_data(tmp_path, train=16, val=8, test=4)
    command = handout_command(str(tiny_model))
    result = run_classification(
        *command, "--overwrite_output_dir", "--evaluation_strategy", "epoch", "--group_by_length", cwd=tmp_path
    )
    assert_ok(result)
    args = read_json(tmp_path / "experiments/trainer_state.json")
    assert args["global_step"] == 1
    assert "--evaluation_strategy is now called --eval_strategy" in result.stdout + result.stderr


@pytest.mark.slow
def test_predictions_stay_with_their_rows_when_training_groups_by_length(tmp_path, tiny_model):
    """The scripts train with --train_sampling_strategy group_by_length; transformers then also reads
    evaluation rows grouped by length, in a shuffled order, and returned predictions in that order."""
    from textclf.serving.predictor import Predictor

    rows = sentiment_rows(200, seed=5, labels=("negative", "positive"))
    for index, row in enumerate(rows):  # a few lengths, many rows of each: ties are what got shuffled
        row["text"] = " ".join([row["text"]] * (1 + index % 3))
    write_csv(tmp_path / "train.csv", rows[:120])
    write_csv(tmp_path / "validation.csv", rows[120:160])
    write_csv(tmp_path / "test.csv", rows[160:], columns=["id", "text"])
    result = run_classification(
        "--model_name_or_path", str(tiny_model), "--train_file", "train.csv", "--validation_file", "validation.csv",
        "--test_file", "test.csv", "--do_train", "--do_eval", "--do_predict", "--output_dir", "out",
        "--train_sampling_strategy", "group_by_length", *QUICK_TRAINING, "--num_train_epochs", "1", cwd=tmp_path,
    )
    assert_ok(result)
    evaluated = pd.read_csv(tmp_path / "out/eval_predictions.csv")
    assert evaluated["id"].tolist() == [row["id"] for row in rows[120:160]]
    assert evaluated["label"].tolist() == [row["label"] for row in rows[120:160]]
    predicted = pd.read_csv(tmp_path / "out/predictions.csv")
    assert predicted["id"].tolist() == [row["id"] for row in rows[160:]]
    probabilities = Predictor.from_run(tmp_path / "out").predict_proba([row["text"] for row in rows[160:]])
    assert np.allclose(probabilities, predicted[["prob_negative", "prob_positive"]].to_numpy(), atol=1e-4)
    names = np.array(["negative", "positive"])
    assert read_predictions(tmp_path / "out/predict_results.txt") == names[probabilities.argmax(axis=1)].tolist()


@pytest.mark.slow
def test_predict_only_with_a_trained_run(tmp_path, tiny_model):
    """A finished run predicts new files on its own, with its labels."""
    write_tweets_like_data(tmp_path, train=32, val=8, test=6)
    assert_ok(run_classification(*handout_command(str(tiny_model)), cwd=tmp_path))
    shutil.copy(tmp_path / "data/test.csv", tmp_path / "new.csv")
    result = run_classification(
        "--model_name_or_path", "experiments", "--test_file", "new.csv", "--do_predict", "--output_dir", "again",
        cwd=tmp_path,
    )
    assert_ok(result)
    trained, again = tmp_path / "experiments", tmp_path / "again"
    # The run's classes in the run's order, and for the same rows the very predictions the run made.
    assert RunInfo.read(again).labels == RunInfo.read(trained).labels == ["0", "1"]
    predictions = read_predictions(again / "predict_results.txt")
    assert len(predictions) == 6 and predictions == read_predictions(trained / "predict_results.txt")
    table = pd.read_csv(again / "predictions.csv")
    pd.testing.assert_frame_equal(table, pd.read_csv(trained / "predictions.csv"), check_exact=False, atol=1e-5)
    assert table["prediction"].astype(str).tolist() == predictions


def test_readme_commands_match_ci():
    """The README's test command is the one .ci/run runs."""
    readme = (REPO_ROOT / "README.md").read_text()
    ci = (REPO_ROOT / ".ci/run").read_text()
    test_command = next(line.strip() for line in ci.splitlines() if line.strip().startswith("bash scripts/test.sh"))
    assert test_command in readme


@pytest.mark.parametrize("as_json", [False, True])
def test_bf16_without_a_gpu_trains_on_the_cpu_instead_of_failing(tmp_path, as_json):
    """transformers refuses --bf16 without a GPU unless --use_cpu is given too; here it just works."""
    import torch

    from run_classification import parse_arguments

    if torch.accelerator.is_available():
        pytest.skip("only machines without an accelerator hit this")
    arguments = {"model_name_or_path": "m", "train_file": "t.csv", "output_dir": str(tmp_path), "bf16": True}
    if as_json:
        (tmp_path / "args.json").write_text(json.dumps(arguments))
        argv = [str(tmp_path / "args.json")]
    else:
        argv = ["--model_name_or_path", "m", "--train_file", "t.csv", "--output_dir", str(tmp_path), "--bf16", "True"]
    _, _, training_args = parse_arguments(argv)
    assert training_args.bf16 and training_args.use_cpu
    argv_fp32 = ["--model_name_or_path", "m", "--train_file", "t.csv", "--output_dir", str(tmp_path)]
    assert not parse_arguments(argv_fp32)[2].use_cpu  # nothing changes without --bf16


@pytest.mark.slow
@pytest.mark.parametrize("tail_tokens", [0, 2])
def test_head_tail_truncation_keeps_the_verdict_at_the_end_of_long_texts(tmp_path, tiny_model, tail_tokens):
    """The class word comes last, after 12 filler words; texts are cut to 8 tokens. Only a run that keeps
    the tail can learn it, and the Predictor (the web demo) and a later predict-only run cut texts the same
    way as the run did."""
    from conftest import FILLER_WORDS

    from textclf.serving.predictor import Predictor

    rows = sentiment_rows(320, seed=4, labels=("negative", "positive"))
    for row in rows:
        verdict = next(word for word in row["text"].split() if word not in FILLER_WORDS)
        row["text"] = " ".join(FILLER_WORDS) + " " + verdict
    write_csv(tmp_path / "train.csv", rows[:240])
    write_csv(tmp_path / "validation.csv", rows[240:])
    result = run_classification(
        "--model_name_or_path", str(tiny_model), "--train_file", "train.csv", "--validation_file", "validation.csv",
        "--test_file", "validation.csv", "--do_train", "--do_eval", "--do_predict", "--output_dir", "out",
        "--max_seq_length", "8", "--truncation_tail_tokens", str(tail_tokens),
        *QUICK_TRAINING, "--num_train_epochs", "4", cwd=tmp_path,
    )
    assert_ok(result)
    accuracy = read_json(tmp_path / "out/eval_results.json")["eval_accuracy"]
    assert read_json(tmp_path / "out/run_info.json")["hyperparameters"]["truncation_tail_tokens"] == tail_tokens
    if tail_tokens:
        assert accuracy >= 0.9
    else:
        assert accuracy <= 0.7  # the head holds only filler words
    predictor = Predictor.from_run(tmp_path / "out")
    table = pd.read_csv(tmp_path / "out/predictions.csv")
    probabilities = predictor.predict_proba([row["text"] for row in rows[240:]])
    assert np.allclose(probabilities, table[["prob_negative", "prob_positive"]].to_numpy(), atol=1e-4)
    # Predicting later with the run as the model, without the flag, cuts texts as the run was trained.
    result = run_classification(
        "--model_name_or_path", "out", "--test_file", "validation.csv", "--do_predict", "--output_dir", "again",
        "--max_seq_length", "8", cwd=tmp_path,
    )
    assert_ok(result)
    again = pd.read_csv(tmp_path / "again/predictions.csv")
    assert np.allclose(again[["prob_negative", "prob_positive"]], table[["prob_negative", "prob_positive"]], atol=1e-4)


@pytest.mark.slow
def test_freeze_lower_layers_trains_only_the_layers_above_them(tmp_path, tiny_model):
    """--freeze_lower_layers 1: the saved model keeps the pretrained embeddings and first layer, the
    second layer has moved, and run_info.json records the setting."""
    from safetensors.torch import load_file

    rows = sentiment_rows(64, seed=5)
    write_csv(tmp_path / "train.csv", rows)
    result = run_classification(
        "--model_name_or_path", str(tiny_model), "--train_file", "train.csv", "--do_train", "--output_dir", "out",
        "--freeze_lower_layers", "1", *QUICK_TRAINING, cwd=tmp_path,
    )
    assert_ok(result)
    before, after = load_file(tiny_model / "model.safetensors"), load_file(tmp_path / "out/model.safetensors")

    def moved(name: str) -> bool:
        trained = after.get(f"bert.{name}", after.get(name))
        return not np.allclose(before[name].numpy(), trained.numpy())

    assert not moved("embeddings.word_embeddings.weight")
    assert not moved("encoder.layer.0.attention.self.query.weight")
    assert moved("encoder.layer.1.attention.self.query.weight")
    assert read_json(tmp_path / "out/run_info.json")["hyperparameters"]["freeze_lower_layers"] == 1
