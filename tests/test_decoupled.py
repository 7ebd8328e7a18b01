"""The decoupled edition (decoupled/): its pieces, its errors (run_classification.py's), and its runs,
trained in seconds on the tiny model and served by the Predictor, the web demo and a Space."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import REPO_ROOT, hub_offline_flags_restored, sentiment_rows, write_csv

from textclf import UserInputError
from textclf.runs import RunInfo, is_finished

DECOUPLED_DIR = REPO_ROOT / "decoupled"
sys.path.insert(0, str(DECOUPLED_DIR))  # its three files import each other by name, as when run as a script
import main as decoupled  # noqa: E402
import modeling  # noqa: E402
import utils_data  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:gradio.queueing")

LABELS = ("negative", "positive")
# A few seconds on the tiny model: enough epochs and a learning rate that learn the toy task.
QUICK = ["--learning_rate", "3e-3", "--num_train_epochs", "6", "--early_stopping_patience", "6",
         "--per_device_train_batch_size", "8", "--bf16", "false", "--logging_steps", "5", "--seed", "1"]


def write_data(directory: Path) -> Path:
    """Train, validation, and a test file without labels whose ids are not in row order (Kaggle's)."""
    directory.mkdir(parents=True, exist_ok=True)
    rows = sentiment_rows(120, seed=7, labels=LABELS)
    write_csv(directory / "train.csv", rows[:80])
    write_csv(directory / "validation.csv", rows[80:100])
    write_csv(directory / "test.csv", [{"id": 5000 - row["id"], "text": row["text"]} for row in rows[100:]])
    return directory


def train(data: Path, output_dir: Path, model: Path, *flags: str) -> Path:
    with hub_offline_flags_restored():
        decoupled.main(["--model_name_or_path", str(model), "--train_file", str(data / "train.csv"),
                        "--validation_file", str(data / "validation.csv"), "--test_file", str(data / "test.csv"),
                        "--output_dir", str(output_dir), *QUICK, *flags])
    return output_dir


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_data(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def cls_run(tmp_path_factory, data, tiny_model) -> Path:
    return train(data, tmp_path_factory.mktemp("experiments") / "tiny-cls", tiny_model)


@pytest.fixture(scope="module")
def mean_run(tmp_path_factory, data, tiny_model) -> Path:
    """The docs' two worked changes together: mean pooling and a class-weighted loss."""
    return train(data, tmp_path_factory.mktemp("experiments") / "tiny-mean", tiny_model,
                 "--pooling", "mean", "--class_weights", "balanced")


def probabilities_of(run: Path, table: str = "predictions.csv") -> np.ndarray:
    return pd.read_csv(run / table)[[f"prob_{label}" for label in LABELS]].to_numpy()


# --- The pieces ------------------------------------------------------------------------------------


def test_collate_pads_each_batch_to_its_own_longest_row(tiny_model):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    rows = [dict(tokenizer(text), label=label) for text, label in (("good", 1), ("the storm was sad news", 0))]
    batch = utils_data.collate(tokenizer)(rows)
    assert batch["input_ids"].shape == (2, len(rows[1]["input_ids"]))  # 7 tokens, not max_length
    assert batch["attention_mask"].sum(1).tolist() == [3, 7]
    assert batch["labels"].tolist() == [1, 0]
    assert utils_data.collate(tokenizer, pad_to_multiple_of=8)(rows)["input_ids"].shape == (2, 8)


def test_training_batches_group_similar_lengths_in_a_seeded_order():
    from datasets import Dataset

    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 60, size=800)
    dataset = Dataset.from_dict({"input_ids": [[1] * int(n) for n in lengths]})

    def batches(seed: int) -> list[list[int]]:  # the lengths of each batch's rows
        return list(utils_data.train_batches(dataset, 8, lambda rows: [len(row["input_ids"]) for row in rows], seed))

    first, again, other = batches(1), batches(1), batches(2)
    assert first == again and first != other
    assert sorted(n for batch in first for n in batch) == sorted(lengths.tolist())  # every row once
    spread = np.mean([max(batch) - min(batch) for batch in first])
    assert spread < 5  # a random batch of 8 spans about 45 tokens


def test_pooling_ignores_padding_and_the_model_round_trips_through_save_pretrained(tiny_model, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    alone = tokenizer(["good day"], return_tensors="pt")
    padded = tokenizer(["good day", "the storm was a sad day at the market"], padding=True, return_tensors="pt")
    for pooling in modeling.POOLINGS:
        torch.manual_seed(0)
        model = modeling.DecoupledClassifier.from_encoder(str(tiny_model), list(LABELS), pooling=pooling).eval()
        with torch.no_grad():
            torch.testing.assert_close(model(**alone).logits[0], model(**padded).logits[0], atol=1e-5, rtol=1e-4)
            model.save_pretrained(tmp_path / pooling)
            loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / pooling, trust_remote_code=True)
            torch.testing.assert_close(loaded.eval()(**padded).logits, model(**padded).logits)
        assert loaded.config.pooling == pooling and loaded.config.id2label == {0: "negative", 1: "positive"}


def test_balanced_class_weights_make_a_rare_class_count_more():
    weights = modeling.balanced_class_weights([0, 0, 0, 1], 2)
    assert weights == pytest.approx([4 / 6, 4 / 2])
    logits, labels = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, 0.0]]), torch.tensor([0, 0, 0, 1])
    per_row = -torch.log_softmax(logits, dim=1)[torch.arange(4), labels]
    row_weights = torch.tensor(weights)[labels]
    expected = (row_weights * per_row).sum() / row_weights.sum()
    assert modeling.classification_loss(logits, labels, weights).item() == pytest.approx(expected.item())
    assert modeling.classification_loss(logits, labels, None).item() == pytest.approx(per_row.mean().item())


# --- Bad input: the same one-line errors as run_classification.py ---------------------------------


@pytest.fixture
def bad_files(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    rows = sentiment_rows(12, seed=0)
    write_csv(tmp_path / "train.csv", rows)
    write_csv(tmp_path / "one_class.csv", [dict(row, label="1") for row in rows])
    write_csv(tmp_path / "tweets.csv", [{"tweet": row["text"], "label": row["label"]} for row in rows])
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "train.txt").write_text("good\n")
    return tmp_path


@pytest.mark.parametrize("train_file, validation_file, flags", [
    ("missing.csv", "train.csv", []),
    ("train.txt", "train.csv", []),
    ("empty.csv", "train.csv", []),
    ("train.csv", "missing.csv", []),
    ("train.csv", "train.csv", ["--text_column_names", "tweet"]),
    ("train.csv", "tweets.csv", []),  # the validation file lacks the training file's text column
    ("train.csv", "train.csv", ["--label_column_name", "target"]),
    ("one_class.csv", "one_class.csv", []),
    ("train.csv", "train.csv", ["--metric_name", "my/metric.py"]),
])
def test_bad_input_gives_run_classifications_one_line_error(bad_files, tiny_model, train_file, validation_file, flags,
                                                            offline_mode_undone):
    import run_classification

    common = ["--model_name_or_path", str(tiny_model), "--output_dir", "out", "--train_file", train_file,
              "--validation_file", validation_file, *flags]
    with pytest.raises(UserInputError) as expected:
        run_classification.main([*common, "--do_train", "--do_eval"])
    with pytest.raises(UserInputError) as error:
        decoupled.main(common)
    assert str(error.value) == str(expected.value)
    assert "\n" not in str(error.value)


def test_labels_that_mean_regression_are_refused_in_one_line(bad_files, tiny_model, offline_mode_undone):
    write_csv(bad_files / "scores.csv", [{"text": row["text"], "label": index / 7} for index, row in enumerate(sentiment_rows(8, 0))])
    with pytest.raises(UserInputError, match="scores.csv: the labels mean regression; the decoupled edition does single-label"):
        decoupled.main(["--model_name_or_path", str(tiny_model), "--train_file", "scores.csv",
                        "--validation_file", "scores.csv", "--output_dir", "out"])


@pytest.mark.slow
def test_command_line_error_is_one_line_and_exit_code_2(bad_files, tiny_model):
    result = subprocess.run(
        [sys.executable, str(DECOUPLED_DIR / "main.py"), "--model_name_or_path", str(tiny_model),
         "--train_file", "train.csv", "--validation_file", "train.csv", "--text_column_names", "tweet", "--output_dir", "out"],
        cwd=bad_files, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "error: train.csv: no column 'tweet' (--text_column_names); columns are: id, text, label")


# --- Training, and serving what it wrote ----------------------------------------------------------


@pytest.mark.slow
def test_it_learns_the_toy_task_and_leaves_a_run_the_toolkit_reads(cls_run, data):
    assert is_finished(cls_run)
    metrics = json.loads((cls_run / "validation_metrics.json").read_text())
    assert metrics["accuracy"] >= 0.9 and metrics["rows"] == 20
    info = RunInfo.read(cls_run)
    assert info.labels == list(LABELS) and info.model_code == "modeling.py"
    assert (cls_run / "modeling.py").read_bytes() == (DECOUPLED_DIR / "modeling.py").read_bytes()
    assert info.hyperparameters["pooling"] == "cls" and info.hyperparameters["num_train_epochs"] == 6
    results = json.loads((cls_run / "all_results.json").read_text())
    assert results["eval_accuracy"] == metrics["accuracy"] and results["train_samples"] == 80
    assert results["train_samples_per_second"] > 0
    report = (cls_run / "report.md").read_text()
    assert "## Validation results (20 rows" in report and "## Learning curves" in report
    test = pd.read_csv(data / "test.csv")
    predictions = pd.read_csv(cls_run / "predictions.csv")
    assert predictions["id"].tolist() == test["id"].tolist()  # file order, each row with its own id
    assert pd.read_csv(cls_run / "submission.csv").columns.tolist() == ["id", "label"]
    # Each test text's class is given away by one word: the predictions follow it.
    positive = test["text"].str.contains("good|great|happy|fine")
    assert (predictions["prediction"] == positive.map({True: "positive", False: "negative"})).mean() >= 0.9


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["fp32", "onnx"])
@pytest.mark.parametrize("run_name", ["cls_run", "mean_run"])
def test_predictor_gives_the_probabilities_of_predictions_csv(request, data, run_name, variant):
    from textclf.predictor import Predictor

    run = request.getfixturevalue(run_name)
    predictor = Predictor.from_run(run, variant=variant)
    scores = predictor.predict_proba(pd.read_csv(data / "test.csv")["text"].tolist(), batch_size=4)
    np.testing.assert_allclose(scores, probabilities_of(run), atol=2e-6)  # the file keeps 6 decimals
    validation = pd.read_csv(data / "validation.csv")["text"].tolist()
    np.testing.assert_allclose(predictor.predict_proba(validation), probabilities_of(run, "eval_predictions.csv"), atol=2e-6)


@pytest.mark.slow
def test_mean_pooling_and_class_weights_reach_the_saved_model(mean_run):
    config = json.loads((mean_run / "config.json").read_text())
    assert config["pooling"] == "mean" and config["class_weights"] == pytest.approx([1.0, 1.0])  # 40 rows of each
    assert config["auto_map"]["AutoModelForSequenceClassification"] == "modeling.DecoupledClassifier"
    assert json.loads((mean_run / "validation_metrics.json").read_text())["accuracy"] >= 0.9


@pytest.mark.slow
def test_web_demo_serves_the_run(cls_run, data):
    import app
    from gradio_client import Client
    from test_app import confidences, serving

    text = pd.read_csv(data / "test.csv")["text"][0]
    with serving(app.create_app(cls_run, cls_run.parent, variant="onnx")) as url:  # exact scores (auto may pick int8)
        result = Client(url, verbose=False).predict(text, api_name="/predict")
    scores = confidences(result)
    assert [scores[label] for label in LABELS] == pytest.approx(probabilities_of(cls_run)[0], abs=1e-4)  # onnx


@pytest.mark.slow
def test_space_carries_the_model_code_and_runs_from_its_own_folder(cls_run, data, tmp_path):
    """The Space of a run with its own model code, run as Spaces runs it (tests/spaces.py): a fresh
    environment from its requirements.txt that cannot see this checkout, asked through /predict."""
    import build_space
    from spaces import served_space
    from test_app import confidences

    space = tmp_path / "space"
    files = build_space.build_space(cls_run, space, "tiny-decoupled", "📝")
    bundled = space / "experiments" / cls_run.name
    assert bundled / "modeling.py" in files
    texts = pd.read_csv(data / "test.csv")["text"].tolist()[:3]
    with served_space(space) as client:
        served = [confidences(client.predict(text, api_name="/predict")) for text in texts]
    # The Space carries no data to check int8 weights on, so it serves the unquantized ONNX export.
    np.testing.assert_allclose([[scores[label] for label in LABELS] for scores in served],
                               probabilities_of(cls_run)[:3], atol=1e-4)


@pytest.mark.slow
def test_same_seed_gives_the_same_run(data, tiny_model, tmp_path):
    short = ["--num_train_epochs", "2", "--max_train_samples", "32"]
    first, again, other = (train(data, tmp_path / name, tiny_model, *short, "--seed", seed)
                           for name, seed in (("first", "1"), ("again", "1"), ("other", "2")))
    for table in ("predictions.csv", "eval_predictions.csv"):
        assert (again / table).read_bytes() == (first / table).read_bytes()
        assert (other / table).read_bytes() != (first / table).read_bytes()


@pytest.mark.slow
def test_early_stopping_stops_when_the_score_stops_improving(data, tiny_model, tmp_path):
    # A learning rate of 0: the score never improves on the first epoch's.
    run = train(data, tmp_path / "stopped", tiny_model, "--learning_rate", "0", "--num_train_epochs", "5",
                "--early_stopping_patience", "2", "--max_train_samples", "16")
    state = json.loads((run / "trainer_state.json").read_text())
    assert [entry["epoch"] for entry in state["log_history"] if "eval_accuracy" in entry] == [1, 2, 3]
    assert json.loads((run / "all_results.json").read_text())["epoch"] == 3
    assert RunInfo.read(run).hyperparameters["best_epoch"] == 1


@pytest.mark.slow
def test_benchmark_quick_mode_trains_both_editions_through_the_task_script(tmp_path, tiny_model):
    """`TRAINER=decoupled bash scripts/train_tweets.sh` beside the Trainer's run; the figures are not checked."""
    from test_bench import write_prepared_tweets

    write_prepared_tweets(tmp_path / "data")
    results = tmp_path / "RESULTS.md"
    command = [sys.executable, str(REPO_ROOT / "bench/decoupled_speed.py"), "--quick", "--model", str(tiny_model),
               "--data_dir", str(tmp_path / "data"), "--work_dir", str(tmp_path / "runs"), "--results", str(results)]
    completed = subprocess.run(command, cwd=tmp_path, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
                               capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    text = results.read_text()
    assert "## Decoupled edition (--quick)" in text
    for figure in ("| (t) | run_classification.py", "| (d) | decoupled/main.py", "F1 of d minus F1 of t = ",
                   "samples/s of d / t = ", "GFLOP/s", "TRAINER=decoupled"):
        assert figure in text
    assert RunInfo.read(tmp_path / "runs/d").model_code == "modeling.py"
    assert RunInfo.read(tmp_path / "runs/t").model_code is None
    assert pd.read_csv(tmp_path / "runs/d/submission.csv").columns.tolist() == ["id", "target"]


def test_frozen_lower_layers_keep_their_pretrained_weights(data, tiny_model, tmp_path):
    from safetensors.torch import load_file

    run = train(data, tmp_path / "tiny-frozen", tiny_model, "--freeze_lower_layers", "1")
    before, after = load_file(tiny_model / "model.safetensors"), load_file(run / "model.safetensors")

    def moved(name: str) -> bool:
        return not np.allclose(before[name].numpy(), after[f"encoder.{name}"].numpy())

    assert not moved("embeddings.word_embeddings.weight")
    assert not moved("encoder.layer.0.output.dense.weight")
    assert moved("encoder.layer.1.output.dense.weight")
    assert json.loads((run / "run_info.json").read_text())["hyperparameters"]["freeze_lower_layers"] == 1


def test_layer_lr_decay_slows_each_layer_down_from_the_top(tiny_model):
    """--layer_lr_decay 0.5: the head at the learning rate, the top layer at half, the next at a quarter,
    the embeddings slowest."""
    from textclf.training import layer_depths

    model = modeling.DecoupledClassifier.from_encoder(str(tiny_model), list(LABELS))
    layers = model.config.encoder.num_hidden_layers
    optimizer = model.configure_optimizer(1e-3, 0.01, 0.5, layer_depths(model.encoder))
    rate_of = {id(parameter): group["lr"] for group in optimizer.param_groups for parameter in group["params"]}

    def expected(name: str) -> float:
        if name.startswith("encoder.embeddings."):
            return 1e-3 * 0.5 ** (layers + 1)
        if name.startswith("encoder.encoder.layer."):
            return 1e-3 * 0.5 ** (layers - int(name.split(".")[3]))
        return 1e-3  # the head (and the encoder's unused pooler)

    rates = {name: rate_of[id(parameter)] for name, parameter in model.named_parameters()}
    assert rates == pytest.approx({name: expected(name) for name in rates})
    assert {group["weight_decay"] for group in optimizer.param_groups} == {0.0, 0.01}


def test_ema_keeps_the_average_of_the_weights(data, tiny_model, tmp_path):
    """--ema_decay: the run keeps a moving average of the weights; with decay 0 the average is the last
    step's weights, the same run as without it."""
    from safetensors.torch import load_file

    plain = load_file(train(data, tmp_path / "plain", tiny_model) / "model.safetensors")
    last_step = load_file(train(data, tmp_path / "ema0", tiny_model, "--ema_decay", "0") / "model.safetensors")
    run = train(data, tmp_path / "ema", tiny_model, "--ema_decay", "0.9")
    averaged = load_file(run / "model.safetensors")
    name = "classifier.weight"
    assert np.allclose(plain[name].numpy(), last_step[name].numpy())
    assert not np.allclose(plain[name].numpy(), averaged[name].numpy())
    assert json.loads((run / "run_info.json").read_text())["hyperparameters"]["ema_decay"] == 0.9


def test_r_drop_loss_adds_the_divergence_between_the_two_passes():
    """R-Drop's loss: the two copies' mean cross-entropy, plus alpha x their symmetric KL divergence,
    which is 0 where the copies agree."""
    import torch

    labels = torch.tensor([0, 1])
    same = torch.tensor([[2.0, -1.0], [0.5, 0.5]])
    different = torch.tensor([[-1.0, 2.0], [3.0, 0.0]])
    cross_entropy = modeling.classification_loss(same, labels, None)
    assert modeling.r_drop_loss(torch.cat([same, same]), labels, None, 4.0).item() == pytest.approx(cross_entropy.item())
    both = torch.cat([same, different])
    mean_cross_entropy = (cross_entropy + modeling.classification_loss(different, labels, None)) / 2
    p, q = same.softmax(-1), different.softmax(-1)
    symmetric_kl = ((p * (p / q).log()).sum(-1) + (q * (q / p).log()).sum(-1)).mean() / 2
    assert modeling.r_drop_loss(both, labels, None, 0.0).item() == pytest.approx(mean_cross_entropy.item())
    assert modeling.r_drop_loss(both, labels, None, 2.0).item() == pytest.approx(
        (mean_cross_entropy + 2.0 * symmetric_kl).item(), rel=1e-5)


def test_r_drop_flag_changes_the_training(data, tiny_model, tmp_path):
    """--rdrop_alpha: a different run from the plain one (the loss changed), recorded in the run; what
    the loss computes is test_r_drop_loss_adds_the_divergence_between_the_two_passes's."""
    from safetensors.torch import load_file

    plain = load_file(train(data, tmp_path / "plain", tiny_model) / "model.safetensors")
    run = train(data, tmp_path / "rdrop", tiny_model, "--rdrop_alpha", "1.0")
    name = "classifier.weight"
    assert not np.allclose(plain[name].numpy(), load_file(run / "model.safetensors")[name].numpy())
    assert json.loads((run / "run_info.json").read_text())["hyperparameters"]["rdrop_alpha"] == 1.0
