"""The decoupled edition (decoupled/): its pieces, its errors (run_classification.py's), and its runs,
trained in seconds on the tiny model and served by the Predictor, the web demo and a Space."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import REPO_ROOT, hub_offline_flags_restored, sentiment_rows, write_csv

from textclf import UserInputError
from textclf.runs.folder import RunInfo, is_finished

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
    from textclf.serving.predictor import Predictor

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
    from textclf.training.trainer import layer_depths

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


def test_ema_keeps_the_average_of_the_weights(data, tiny_model, tmp_path, monkeypatch):
    """--ema_decay 0.8 over three steps: the run keeps a1 = w1, a2 = 0.8 a1 + 0.2 w2, a3 = 0.8 a2 + 0.2 w3,
    worked out here from the weights w1, w2, w3 trained at each step; w3 are the weights of the same run
    without the average."""
    from safetensors.torch import load_file
    from torch.optim.swa_utils import AveragedModel

    trained = []  # the head's weights after each step, as the loop hands them to the average

    class Recorded(AveragedModel):
        def update_parameters(self, model):
            trained.append(model.classifier.weight.detach().clone())
            super().update_parameters(model)

    monkeypatch.setattr(decoupled, "AveragedModel", Recorded)
    three_steps = ["--num_train_epochs", "1", "--max_train_samples", "24"]  # 3 batches of 8
    plain = load_file(train(data, tmp_path / "plain", tiny_model, *three_steps) / "model.safetensors")
    run = train(data, tmp_path / "ema", tiny_model, *three_steps, "--ema_decay", "0.8")
    assert len(trained) == 3
    w1, w2, w3 = trained
    torch.testing.assert_close(w3, plain["classifier.weight"])  # the weights the average was given are the trained ones
    a1 = w1
    a2 = 0.8 * a1 + 0.2 * w2
    a3 = 0.8 * a2 + 0.2 * w3
    kept = load_file(run / "model.safetensors")["classifier.weight"]
    torch.testing.assert_close(kept, a3)
    assert not torch.allclose(kept, w3, atol=1e-4)  # an average, not the last step's weights
    assert json.loads((run / "run_info.json").read_text())["hyperparameters"]["ema_decay"] == 0.8


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


def test_r_drop_flag_trains_on_r_drop_loss_with_its_alpha(data, tiny_model, tmp_path, monkeypatch):
    """--rdrop_alpha 0.5: each step's loss is the two copies' mean cross-entropy plus 0.5 x their symmetric KL
    divergence, worked out here from the step's logits; and it is the loss the loop trains on (its learning curve)."""
    steps = []  # (logits, labels, alpha, loss) of every step

    def recorded(logits, labels, class_weights, alpha):
        loss = modeling.r_drop_loss(logits, labels, class_weights, alpha)
        steps.append((logits.detach().float(), labels, alpha, loss.item()))
        return loss

    monkeypatch.setattr(decoupled, "r_drop_loss", recorded)
    run = train(data, tmp_path / "rdrop", tiny_model, "--rdrop_alpha", "0.5", "--num_train_epochs", "1")
    assert len(steps) == 10  # 80 rows in batches of 8
    for logits, labels, alpha, loss in steps:
        first, second = logits.chunk(2)
        assert len(first) == len(labels) and not torch.allclose(first, second)  # the batch twice, other dropout masks
        cross_entropy = (torch.nn.functional.cross_entropy(first, labels)
                         + torch.nn.functional.cross_entropy(second, labels)) / 2
        p, q = first.softmax(-1), second.softmax(-1)
        symmetric_kl = ((p * (p / q).log()).sum(-1) + (q * (q / p).log()).sum(-1)).mean() / 2
        assert alpha == 0.5
        assert loss == pytest.approx((cross_entropy + 0.5 * symmetric_kl).item(), rel=1e-6)
    losses = [loss for *_, loss in steps]
    curve = [entry["loss"] for entry in json.loads((run / "trainer_state.json").read_text())["log_history"] if "loss" in entry]
    assert curve == pytest.approx([np.mean(losses[:5]), np.mean(losses[5:])])  # --logging_steps 5
    assert json.loads((run / "run_info.json").read_text())["hyperparameters"]["rdrop_alpha"] == 0.5


# --- The task scripts' settings: refused in one line, or done (resuming, calibration) ---------------


@pytest.mark.parametrize("flags, message", [
    (["--optim", "adafactor"], "--optim adafactor (OPTIM in the task scripts): the decoupled edition takes "
                               "adamw_torch or adamw_torch_fused"),
    (["--train_sampling_strategy", "sequential"], "--train_sampling_strategy sequential (SAMPLING in the task scripts): "
                                                  "the decoupled edition takes group_by_length or random"),
    (["--eval_strategy", "steps"], "--eval_strategy steps (EVAL_STRATEGY in the task scripts): the decoupled edition "
                                   "takes epoch or no"),
    (["--save_strategy", "steps"], "--save_strategy steps (SAVE_STRATEGY in the task scripts): the decoupled edition "
                                   "takes no or epoch"),
    (["--calibrate_temperature", "maybe"], "--calibrate_temperature maybe (CALIBRATE in the task scripts): the decoupled "
                                           "edition takes true or false"),
    (["--fp16", "true", "--bf16", "true"], "--bf16 and --fp16 together: choose one precision (PRECISION in the task "
                                           "scripts)"),
    (["--save_every_minutes", "-1"], "--save_every_minutes -1 (SAVE_EVERY_MINUTES in the task scripts): a number of "
                                     "minutes, 0 or more"),
])
def test_settings_it_does_not_do_are_refused_before_any_work(tmp_path, flags, message):
    """Refused before anything is read: the training file does not even exist."""
    with pytest.raises(UserInputError) as error:
        decoupled.main(["--train_file", str(tmp_path / "missing.csv"), "--validation_file", str(tmp_path / "missing.csv"),
                        "--output_dir", str(tmp_path / "run"), *flags])
    assert str(error.value) == message
    assert not (tmp_path / "run").exists()


def run_tweets_script(data: Path, output_dir: Path, model: Path, kill_at: str | None = None,
                      **settings: str) -> subprocess.CompletedProcess:
    """`TRAINER=decoupled bash scripts/train_tweets.sh` on the prepared toy tweets: 10 steps an epoch, 2 epochs."""
    from textclf.faults import KILL_AT

    env = {**os.environ, "TRAINER": "decoupled", "MODEL": str(model), "DATA_DIR": str(data), "OUTPUT_DIR": str(output_dir),
           "EPOCHS": "2", "LR": "3e-3", "BATCH_SIZE": "8", "WARMUP_STEPS": "0", "MAX_SEQ_LENGTH": "32",
           "FREEZE_LOWER_LAYERS": "", "BF16": "false", "LOGGING_STEPS": "5", "TOKENIZERS_PARALLELISM": "false",
           **settings, **({KILL_AT: kill_at} if kill_at else {})}
    return subprocess.run(["bash", str(REPO_ROOT / "scripts/train_tweets.sh")], env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def tweets(tmp_path_factory) -> Path:
    from test_bench import write_prepared_tweets

    write_prepared_tweets(directory := tmp_path_factory.mktemp("tweets") / "data")
    return directory


@pytest.mark.slow
def test_a_refused_setting_is_one_error_line_and_exit_code_2(tweets, tiny_model, tmp_path):
    command = [sys.executable, str(DECOUPLED_DIR / "main.py"), "--train_file", str(tweets / "train.csv"),
               "--validation_file", str(tweets / "validation.csv"), "--output_dir", str(tmp_path / "direct"),
               "--optim", "sgd"]
    direct = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert direct.returncode == 2
    assert direct.stderr.splitlines() == [
        "error: --optim sgd (OPTIM in the task scripts): the decoupled edition takes adamw_torch or adamw_torch_fused"]
    # The task script passes the setting on, and stops before any training.
    script = run_tweets_script(tweets, tmp_path / "run", tiny_model, SAMPLING="sequential")
    assert script.returncode == 2, script.stdout[-2000:] + script.stderr[-2000:]
    assert script.stderr.strip().splitlines()[-1] == ("error: --train_sampling_strategy sequential (SAMPLING in the "
                                                      "task scripts): the decoupled edition takes group_by_length or random")
    assert [line for line in script.stderr.splitlines() if line.startswith("error:")] == [script.stderr.strip().splitlines()[-1]]
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_a_killed_run_continues_from_its_last_checkpoint(tweets, tiny_model, tmp_path):
    """The task script, killed twice (SIGKILL) and run again each time, continues from its last checkpoint
    (a checkpoint after every step, SAVE_EVERY_MINUTES=0, and at every epoch's end, SAVE_STRATEGY=epoch):
    from the end of epoch 1, then from the middle of epoch 2; and ends with the uninterrupted run's
    predictions, to the last digit."""
    import signal

    killed = 128 + signal.SIGKILL  # what bash reports for a command killed by SIGKILL
    saving = {"SAVE_EVERY_MINUTES": "0", "SAVE_STRATEGY": "epoch"}
    reference, run = tmp_path / "reference", tmp_path / "run"
    uninterrupted = run_tweets_script(tweets, reference, tiny_model)
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]
    # Killed after step 11, before saving it: the last checkpoint is epoch 1's end (step 10, which saves no other).
    first = run_tweets_script(tweets, run, tiny_model, kill_at="train:step-11", **saving)
    assert first.returncode == killed, first.stderr[-3000:]
    assert [path.name for path in run.glob("checkpoint-*")] == ["checkpoint-10"]
    # Run again: continues from step 10; killed after step 15, the last checkpoint is step 14's.
    second = run_tweets_script(tweets, run, tiny_model, kill_at="train:step-15", **saving)
    assert second.returncode == killed, second.stderr[-3000:]
    assert [path.name for path in run.glob("checkpoint-*")] == ["checkpoint-14"]
    third = run_tweets_script(tweets, run, tiny_model, **saving)
    assert third.returncode == 0, third.stderr[-3000:]

    def started_at(result: subprocess.CompletedProcess) -> list[int]:  # the step a process resumed at, as it logs it
        return [int(step) for step in re.findall(r"Resumed from \S+ at step (\d+)", result.stderr)]

    assert (started_at(first), started_at(second), started_at(third)) == ([], [10], [14])
    for table in ("predictions.csv", "eval_predictions.csv", "submission.csv"):
        assert (run / table).read_bytes() == (reference / table).read_bytes(), table
    assert RunInfo.read(run).resumed_from == "checkpoint-14" and is_finished(run)
    assert not list(run.glob("*checkpoint-*")) and not (run / "progress.json").exists()


def test_calibrate_and_tune_threshold_write_calibration_json_that_the_predictor_applies(data, tiny_model, tmp_path):
    """--calibrate_temperature --tune_threshold (CALIBRATE, TUNE_THRESHOLD): as run_classification.py, the
    calibration is measured on the validation predictions and written to calibration.json; the test
    predictions apply it, and so does the Predictor (the demo, a Space). Without the flags it is measured
    and written but applies nothing."""
    from textclf.runs.calibration import Calibration, read_calibration
    from textclf.serving.predictor import Predictor

    plain = train(data, tmp_path / "plain", tiny_model, "--num_train_epochs", "2")
    run = train(data, tmp_path / "calibrated", tiny_model, "--num_train_epochs", "2",
                "--calibrate_temperature", "true", "--tune_threshold", "true")
    assert read_calibration(plain)["applied"] == {"temperature": 1.0, "threshold": None}
    applied = read_calibration(run)["applied"]
    assert applied["temperature"] != 1.0 and applied["threshold"] is not None
    texts = pd.read_csv(data / "test.csv")["text"].tolist()
    predictor = Predictor.from_run(run)
    assert predictor.calibration == Calibration(applied["temperature"], applied["threshold"])
    probabilities = predictor.predict_proba(texts)
    np.testing.assert_allclose(probabilities, probabilities_of(run), atol=2e-6)  # what predictions.csv gives
    assert not np.allclose(probabilities_of(run), probabilities_of(plain), atol=1e-3)  # the same weights, uncalibrated
    predicted = [predictor.labels[index] for index in predictor.predicted_ids(probabilities)]
    assert predicted == pd.read_csv(run / "predictions.csv")["prediction"].tolist()
    assert predicted == [LABELS[int(p >= applied["threshold"])] for p in probabilities[:, 1]]  # the tuned threshold
    assert "apply the calibration" in (run / "report.md").read_text()


def test_eval_strategy_no_scores_once_and_keeps_the_last_epoch(data, tiny_model, tmp_path):
    """--eval_strategy no: no score until the last epoch, whose weights are kept (nothing to stop early on);
    with random batches (--train_sampling_strategy random) and the plain AdamW (--optim adamw_torch)."""
    run = train(data, tmp_path / "run", tiny_model, "--num_train_epochs", "2", "--eval_strategy", "no",
                "--train_sampling_strategy", "random", "--optim", "adamw_torch")
    state = json.loads((run / "trainer_state.json").read_text())
    assert [entry["epoch"] for entry in state["log_history"] if "eval_accuracy" in entry] == [2]
    hyperparameters = RunInfo.read(run).hyperparameters
    assert hyperparameters["best_epoch"] == 2 and hyperparameters["optim"] == "adamw_torch"
    assert hyperparameters["train_sampling_strategy"] == "random"


def test_random_sampling_shuffles_rows_in_a_seeded_order():
    """--train_sampling_strategy random: batches of any lengths (group_by_length's span about 5 tokens here)."""
    from datasets import Dataset

    lengths = np.random.default_rng(0).integers(1, 60, size=800)
    dataset = Dataset.from_dict({"input_ids": [[1] * int(n) for n in lengths]})

    def batches(seed: int) -> list[list[int]]:  # the lengths of each batch's rows
        return list(utils_data.train_batches(dataset, 8, lambda rows: [len(row["input_ids"]) for row in rows], seed, "random"))

    first = batches(1)
    assert first == batches(1) and first != batches(2)
    assert sorted(n for batch in first for n in batch) == sorted(lengths.tolist())  # every row once
    assert np.mean([max(batch) - min(batch) for batch in first]) > 20  # a random batch of 8 spans about 45 tokens


@pytest.mark.slow
def test_fp16_trains_with_loss_scaling(data, tiny_model, tmp_path, monkeypatch):
    """PRECISION=fp16 (GPUs without bf16, a T4): fp16 autocast, the loss scaled by a GradScaler; driven on the CPU here."""
    scaled = []
    original = torch.amp.GradScaler.scale
    monkeypatch.setattr(torch.amp.GradScaler, "scale", lambda self, loss: scaled.append(self.is_enabled()) or original(self, loss))
    run = train(data, tmp_path / "fp16", tiny_model, "--fp16", "true", "--bf16", "false", "--num_train_epochs", "1",
                "--max_train_samples", "32")
    hyperparameters = RunInfo.read(run).hyperparameters
    assert hyperparameters["fp16"] is True and hyperparameters["bf16"] is False
    assert scaled and all(scaled)  # every step's loss went through an enabled scaler
