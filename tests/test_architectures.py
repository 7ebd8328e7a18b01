"""Every architecture the course handout names trains, predicts and serves, and texts in any language do.

Tiny models of each architecture (tests/architectures.py) are fine-tuned through run_classification.py
on a learnable toy task, then served by every Predictor variant, the web demo and a Space bundle.
A Chinese run goes through the command line and the demo. Fast checks of the parts come first.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from architectures import (
    ARCHITECTURES,
    BY_NAME,
    CHINESE_LABELS,
    build_chinese_bert,
    build_tiny_model,
    chinese_rows,
    toy_corpus,
    train_tokenizer,
)
from conftest import (
    FILLER_WORDS,
    NEGATIVE_WORDS,
    POSITIVE_WORDS,
    QUICK_TRAINING,
    hub_offline_flags_restored,
    run_classification,
    sentiment_rows,
    write_csv,
)
from test_app import confidences, serving, write_tiny_run

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:gradio.queueing")

NAMES = [architecture.name for architecture in ARCHITECTURES]
LABELS = ("negative", "positive")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> Callable[[str], Path]:
    """Builds an architecture's tiny model on first use (a second or less), then reuses it."""
    built: dict[str, Path] = {}

    def model(name: str) -> Path:
        if name not in built:
            built[name] = build_tiny_model(BY_NAME[name], tmp_path_factory.mktemp(f"tiny-{name}"))
        return built[name]

    return model


@pytest.fixture(scope="module")
def toy_files(tmp_path_factory) -> Path:
    """train/validation/test CSV files of the toy task; test.csv has ids and no labels, as Kaggle's."""
    directory = tmp_path_factory.mktemp("toy-data")
    rows = sentiment_rows(240, seed=1, labels=LABELS)
    write_csv(directory / "train.csv", rows[:160])
    write_csv(directory / "validation.csv", rows[160:])
    write_csv(directory / "test.csv", toy_test_rows(), columns=["id", "text"])
    return directory


def toy_test_rows() -> list[dict]:
    return sentiment_rows(40, seed=9, labels=LABELS)


def boundary_texts() -> list[str]:
    """Toy texts with a word of each class (every pair), and with none: where a model is least sure."""
    rng = random.Random(12)
    texts = []
    for positive in POSITIVE_WORDS:
        for negative in NEGATIVE_WORDS:
            words = rng.sample(FILLER_WORDS, 3) + [positive, negative]
            rng.shuffle(words)
            texts.append(" ".join(words))
    return texts + [" ".join(rng.sample(FILLER_WORDS, 4)) for _ in range(8)]


BOUNDARY_TEXTS = boundary_texts()
# Largest |log p(variant) - log p(fp32)| over a run's test rows and BOUNDARY_TEXTS. Measured on 2026-12-07
# (AMD EPYC, AVX-512 VNNI), int8 and onnx-int8: T5 0.214 and 0.164; the others 0.002 (electra) to 0.083
# (mpnet); the unquantized export under 1e-5. The int8 bounds leave about twice the largest measured
# error for other CPUs' int8 kernels; logits scaled by 0.8 exceed them on 8 architectures of 10.
INT8_LOG_PROBABILITY_TOLERANCE = {"t5": 0.5}
INT8_DEFAULT_LOG_PROBABILITY_TOLERANCE = 0.2


def log_probability_tolerance(architecture: str, variant: str) -> float:
    if variant in ("fp32", "onnx"):
        return 1e-4
    return INT8_LOG_PROBABILITY_TOLERANCE.get(architecture, INT8_DEFAULT_LOG_PROBABILITY_TOLERANCE)


def log_probabilities(probabilities: np.ndarray) -> np.ndarray:
    return np.log(probabilities.astype(np.float64))


def log_odds(probabilities: np.ndarray) -> np.ndarray:
    """log p(positive) - log p(negative): the logit margin, which decides the class."""
    logs = log_probabilities(probabilities)
    return logs[:, 1] - logs[:, 0]


@pytest.fixture(scope="module")
def trained_runs(tiny_models, toy_files, tmp_path_factory) -> Callable[[str], Path]:
    """Fine-tunes an architecture through run_classification.py (in-process) on first use, then reuses the run."""
    import run_classification as cli

    runs: dict[str, Path] = {}
    with hub_offline_flags_restored():

        def run(name: str) -> Path:
            if name not in runs:
                output = tmp_path_factory.mktemp(f"run-{name}")
                cli.main([
                    "--model_name_or_path", str(tiny_models(name)), "--train_file", str(toy_files / "train.csv"),
                    "--validation_file", str(toy_files / "validation.csv"), "--test_file", str(toy_files / "test.csv"),
                    "--do_train", "--do_eval", "--do_predict", "--output_dir", str(output),
                    *QUICK_TRAINING, "--num_train_epochs", "4", "--learning_rate", "5e-3",
                    "--per_device_train_batch_size", "16",
                ])
                runs[name] = output
            return runs[name]

        yield run


# --- The parts, fast --------------------------------------------------------------------------------


def test_predictions_of_a_model_with_several_outputs_come_back_in_data_order():
    """T5ForSequenceClassification returns its logits with the encoder's hidden states: the Trainer
    hands both on, and putting them back in data order failed (TypeError: only integer scalar arrays...)."""
    import datasets
    from transformers.trainer_utils import PredictionOutput

    from textclf.training.trainer import logits_only, predict_in_length_order

    lengths = [2, 5, 3, 5, 1]
    dataset = datasets.Dataset.from_dict({"input_ids": [[7] * length for length in lengths], "label": [0, 1, 0, 1, 0]})

    class TrainerReturningTwoOutputs:
        def predict(self, rows, metric_key_prefix):
            logits = np.array([[float(len(ids)), -float(len(ids))] for ids in rows["input_ids"]])
            hidden_states = np.zeros((len(rows), 5, 4))
            metrics = {f"{metric_key_prefix}_loss": 0.1}
            return PredictionOutput((logits, hidden_states), np.array(rows["label"]), metrics)

    output = predict_in_length_order(TrainerReturningTwoOutputs(), dataset, "test")
    assert output.predictions[:, 0].tolist() == lengths  # each row's own logits, in data order
    assert output.label_ids.tolist() == [0, 1, 0, 1, 0]
    assert logits_only((np.ones((2, 2)), np.zeros((2, 3, 4))), None).shape == (2, 2)


@pytest.mark.parametrize("name", NAMES)
def test_head_and_tail_truncation_keeps_each_tokenizers_own_special_tokens(name):
    """A long text keeps its first and last tokens between the architecture's own special tokens:
    [CLS] ... [SEP] for the BERT family, <s> ... </s> for RoBERTa, and only </s> at the end for T5."""
    from textclf.tokenization import tokenize

    architecture = BY_NAME[name]
    tokenizer = train_tokenizer(architecture, toy_corpus())
    assert type(tokenizer).__name__ == architecture.tokenizer_class
    text = "good " + "the movie was a day " * 6 + "bad"
    full = tokenizer.convert_ids_to_tokens(tokenizer(text)["input_ids"])
    encoded = tokenize(tokenizer, [text], max_length=12, tail_tokens=4)
    tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"][0])
    assert {key: len(values[0]) for key, values in encoded.items()} == {key: 12 for key in encoded}
    opening, closing = architecture.ends
    leading = [opening] if opening else []
    assert tokens[:len(leading)] == leading and tokens[-1] == closing
    assert full[:len(leading)] == leading and full[-1] == closing  # the tokenizer's own, not ours
    head = 12 - len(leading) - 4 - 1
    assert tokens[len(leading):len(leading) + head] == full[len(leading):len(leading) + head]  # the text's first tokens
    assert tokens[-5:-1] == full[-5:-1]  # and its last 4
    assert tokens[len(leading)].endswith("good") and tokens[-2].endswith("bad")
    # Cut at the end only (upstream's truncation), the closing special token stays too.
    assert tokenizer.convert_ids_to_tokens(tokenize(tokenizer, [text], max_length=12)["input_ids"][0])[-1] == closing


@pytest.mark.parametrize("name, takes_token_types", [("bert", True), ("distilbert", False), ("deberta-v2", True),
                                                     ("mpnet", False), ("t5", False), ("modernbert", False)])
def test_token_type_ids_go_only_to_models_that_take_them(tiny_models, name, takes_token_types):
    """transformers gives distilbert-base-uncased BERT's tokenizer, which returns token_type_ids."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from textclf.serving.predictor import model_input_names

    tokenizer = AutoTokenizer.from_pretrained(tiny_models(name))
    model = AutoModelForSequenceClassification.from_pretrained(tiny_models(name), num_labels=2)
    names = model_input_names(model, tokenizer)
    assert names[:2] == ["input_ids", "attention_mask"]
    assert ("token_type_ids" in names) == takes_token_types
    if name == "distilbert":
        assert "token_type_ids" in tokenizer.model_input_names


@pytest.fixture(scope="module")
def small_run(tmp_path_factory, tiny_model) -> Path:
    return write_tiny_run(tmp_path_factory.mktemp("project"), tiny_model)


def served(run: Path, variant: str, caplog) -> tuple[str, list[str]]:
    """The variant a Predictor actually serves, and the warnings it logged on the way."""
    from textclf.serving.predictor import Predictor

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="textclf.serving.predictor"):
        predictor = Predictor.from_run(run, variant=variant)
    assert predictor.predict_one("good")["positive"] > 0.5
    return predictor.variant, [r.getMessage() for r in caplog.records if r.name == "textclf.serving.predictor"]


@pytest.mark.parametrize("variant, fallback", [("onnx", "fp32"), ("onnx-int8", "int8")])
def test_a_model_the_exporter_cannot_trace_is_served_by_the_nearest_variant(small_run, tmp_path, monkeypatch, caplog,
                                                                             variant, fallback):
    import torch

    def exporter_fails(*args, **kwargs):
        raise RuntimeError("Exporting the operator 'aten::made_up' to ONNX opset version 17 is not supported.")

    run = shutil.copytree(small_run, tmp_path / "run")
    monkeypatch.setattr(torch.onnx, "export", exporter_fails)
    served_variant, warnings = served(run, variant, caplog)
    assert served_variant == fallback
    assert warnings == [f"{run}: variant {variant} is not available for this bert model: it cannot be exported to "
                        f"ONNX (Exporting the operator 'aten::made_up' to ONNX opset version 17 is not supported.); "
                        f"serving {fallback} instead"]
    assert not list((run / "onnx").glob("*"))  # nothing half-made is cached


def test_an_export_that_scores_differently_is_not_served(small_run, tmp_path, monkeypatch, caplog):
    """A graph traced wrong (fixed to one length, blind to the attention mask) is caught before it serves."""
    from textclf.serving import predictor

    run = shutil.copytree(small_run, tmp_path / "run")
    traced = predictor.LogitsOnly.forward
    monkeypatch.setattr(predictor.LogitsOnly, "forward", lambda self, *inputs: -traced(self, *inputs))
    served_variant, warnings = served(run, "onnx", caplog)
    assert served_variant == "fp32"
    assert len(warnings) == 1 and "scores texts differently from the PyTorch model" in warnings[0]
    assert not (run / "onnx" / "model.onnx").exists()


def test_quantizers_that_fail_fall_back_to_the_unquantized_variant(small_run, tmp_path, monkeypatch, caplog):
    import onnxruntime.quantization

    from textclf.serving import predictor

    def quantizer_fails(*args, **kwargs):
        raise ValueError("unsupported operator for quantization")

    run = shutil.copytree(small_run, tmp_path / "run")
    monkeypatch.setattr(onnxruntime.quantization, "quantize_dynamic", quantizer_fails)
    monkeypatch.setattr(predictor, "quantize_linear_layers", quantizer_fails)
    assert served(run, "onnx-int8", caplog) == ("onnx", [
        f"{run}: variant onnx-int8 is not available for this bert model: ONNX Runtime cannot quantize its export "
        "(unsupported operator for quantization); serving onnx instead"])
    assert (run / "onnx" / "model.onnx").exists() and not (run / "onnx" / "model.int8.per-channel.onnx").exists()
    variant, warnings = served(run, "int8", caplog)
    assert variant == "fp32" and len(warnings) == 1 and "PyTorch cannot quantize it" in warnings[0]


def test_report_to_an_integration_that_is_not_installed_names_the_package(capsys, tmp_path):
    """One error line before anything is loaded (the model path does not even exist), not a traceback."""
    import run_classification as cli

    from textclf import exit_code_of

    for integration, package in (("wandb", "wandb"), ("comet_ml", "comet-ml")):
        arguments = ["--model_name_or_path", str(tmp_path / "no-model"), "--train_file", "train.csv", "--do_train",
                     "--output_dir", str(tmp_path / "out"), "--report_to", integration]
        assert exit_code_of(lambda: cli.main(arguments)) == 2
        error = capsys.readouterr().err
        assert error.startswith(f"error: --report_to {integration} needs the {package} package")
        assert error.count("\n") == 1
        assert f"pip install {package}" in error
    assert exit_code_of(lambda: cli.main([*arguments[:-1], "made_up"])) == 2
    assert "not an integration transformers knows" in capsys.readouterr().err


# --- Each architecture end to end, slow --------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_architecture_trains_predicts_and_every_variant_agrees(trained_runs, name):
    """run_classification.py fine-tunes it (train, evaluate, predict); every Predictor variant then
    gives the probabilities predictions.csv holds, rows in file order."""
    from textclf.serving.predictor import VARIANTS, Predictor

    run = trained_runs(name)
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    assert config["model_type"] == BY_NAME[name].model_type
    assert config["id2label"] == {"0": "negative", "1": "positive"}
    assert json.loads((run / "eval_results.json").read_text())["eval_accuracy"] >= 0.9
    rows = toy_test_rows()
    table = pd.read_csv(run / "predictions.csv")
    assert list(table.columns) == ["id", "prediction", "prob_negative", "prob_positive"]
    assert table["id"].tolist() == [row["id"] for row in rows]
    assert (table["prediction"] == [row["label"] for row in rows]).mean() >= 0.9  # each row's own prediction
    predict_results = (run / "predict_results.txt").read_text(encoding="utf-8").splitlines()[1:]
    assert [line.split("\t")[1] for line in predict_results] == table["prediction"].tolist()

    # The test rows, and texts with words of both classes or of neither: the model is least sure of these.
    texts = [row["text"] for row in rows] + BOUNDARY_TEXTS
    expected = table[["prob_negative", "prob_positive"]].to_numpy()
    reference = Predictor.from_run(run, variant="fp32").predict_proba(texts)
    assert np.abs(reference[: len(rows)] - expected).max() < 1e-4  # the model predictions.csv came from
    margins = log_odds(reference)
    assert np.abs(margins[len(rows) :]).min() <= np.abs(margins[: len(rows)]).min()  # the least sure is one of them
    for variant in VARIANTS:
        predictor = Predictor.from_run(run, variant=variant)
        # Every variant works for every architecture; auto serves one of the two exports.
        assert predictor.variant in (("onnx-int8", "onnx") if variant == "auto" else (variant,))
        assert predictor.labels == list(LABELS)
        probabilities = predictor.predict_proba(texts)
        # Log-probabilities, not probabilities: where a model is sure, a large logit error moves a
        # probability very little (int8 logits scaled by 0.8 would move no probability of these runs by
        # 0.1, the former tolerance, computed from the measured outputs).
        tolerance = log_probability_tolerance(name, predictor.variant)
        error = np.abs(log_probabilities(probabilities) - log_probabilities(reference)).max()
        assert error < tolerance, f"{variant}: log-probabilities differ from fp32's by up to {error:.4f}"
        decided = np.abs(margins) > 2 * tolerance  # texts whose class an error within the tolerance cannot flip
        assert (probabilities.argmax(1) == reference.argmax(1))[decided].all(), variant


@pytest.mark.slow
def test_sentencepiece_model_in_the_demo_and_its_space(trained_runs, tmp_path):
    """A T5 run (Unigram tokenizer, encoder-decoder) served by app.py, and by the Space build_space.py
    bundles: the bundle has every tokenizer file it needs and scores texts as the run does."""
    import app
    import build_space
    from gradio_client import Client
    from spaces import served_space
    from transformers import AutoTokenizer

    run = trained_runs("t5")
    rows = toy_test_rows()[:6]
    expected = pd.read_csv(run / "predictions.csv").head(len(rows))
    with serving(app.create_app(run, run.parent, variant="onnx")) as url:  # the exact scores (auto may pick int8)
        client = Client(url, verbose=False)
        for row, (_, prediction) in zip(rows, expected.iterrows()):
            result = client.predict(row["text"], api_name="/predict")
            assert result["label"] == prediction["prediction"]
            assert confidences(result)["positive"] == pytest.approx(prediction["prob_positive"], abs=1e-4)

    build_space.build_space(run, tmp_path / "space", "t5-demo", "📝")
    bundled = tmp_path / "space" / "experiments" / run.name
    bundled_files = {path.name for path in bundled.iterdir()}
    assert {"tokenizer.json", "tokenizer_config.json", "config.json", "model.safetensors"} <= bundled_files
    assert type(AutoTokenizer.from_pretrained(bundled)).__name__ == "T5Tokenizer"
    # The bundle run as Spaces runs it (tests/spaces.py), its own app.py and textclf/, scoring as the run does.
    with served_space(tmp_path / "space") as client:
        for row, (_, prediction) in zip(rows[:3], expected.iterrows()):
            result = client.predict(row["text"], api_name="/predict")
            assert result["label"] == prediction["prediction"]
            assert confidences(result)["positive"] == pytest.approx(prediction["prob_positive"], abs=1e-4)


@pytest.mark.slow
def test_task_script_trains_a_non_bert_model_given_as_a_directory(tiny_models, tmp_path):
    """`MODEL=<dir> bash scripts/train_tweets.sh` with a T5: the script's bf16 and length-grouped batches included."""
    from test_scripts import run_script, write_raw_tweets

    raw = tmp_path / "raw"
    test_rows_written = write_raw_tweets(raw, test_count=30)
    run_script("train_tweets.sh", tmp_path, tiny_models("t5"), raw, EPOCHS="4", LR="3e-3")
    assert json.loads((tmp_path / "run/config.json").read_text())["model_type"] == "t5"
    assert json.loads((tmp_path / "run/validation_metrics.json").read_text())["accuracy"] >= 0.8
    submission = pd.read_csv(tmp_path / "run/submission.csv")
    assert submission["id"].tolist() == [row["id"] for row in test_rows_written]


@pytest.mark.slow
def test_report_to_tensorboard_writes_event_files_into_the_run(tiny_model, toy_files, tmp_path, offline_mode_undone):
    """As the Hugging Face docs show it: `--report_to tensorboard`, then `tensorboard --logdir <run>`."""
    import run_classification as cli
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    output = tmp_path / "run"
    cli.main(["--model_name_or_path", str(tiny_model), "--train_file", str(toy_files / "train.csv"), "--do_train",
              "--output_dir", str(output), *QUICK_TRAINING, "--num_train_epochs", "1", "--logging_steps", "5",
              "--report_to", "tensorboard"])
    event_files = list(output.glob("runs/*/events.out.tfevents.*"))
    assert len(event_files) == 1
    events = EventAccumulator(str(event_files[0].parent))
    events.Reload()
    assert len(events.Scalars("train/loss")) == 4  # 160 rows, batches of 8, a loss every 5 steps


# --- Chinese ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chinese_run(tmp_path_factory) -> Path:
    """A tiny Chinese BERT fine-tuned on Chinese texts with Chinese label names, through the command line."""
    directory = tmp_path_factory.mktemp("chinese")
    model = build_chinese_bert(directory / "bert-chinese")
    rows = chinese_rows(240, seed=1)
    write_csv(directory / "train.csv", rows[:160])
    write_csv(directory / "validation.csv", rows[160:])
    write_csv(directory / "test.csv", chinese_rows(40, seed=9), columns=["id", "text"])
    result = run_classification(
        "--model_name_or_path", str(model), "--train_file", "train.csv", "--validation_file", "validation.csv",
        "--test_file", "test.csv", "--do_train", "--do_eval", "--do_predict", "--output_dir", "out",
        *QUICK_TRAINING, "--num_train_epochs", "4", cwd=directory,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return directory / "out"


@pytest.mark.slow
def test_chinese_texts_and_labels_through_the_command_line(chinese_run):
    """Label names are readable in every file a student opens, never \\u-escaped."""
    first, second = sorted(CHINESE_LABELS)  # class ids in sorted order, as for any label names
    config = (chinese_run / "config.json").read_text(encoding="utf-8")
    assert f'"0": "{first}"' in config and f'"1": "{second}"' in config and "\\u" not in config
    assert json.loads((chinese_run / "eval_results.json").read_text())["eval_accuracy"] >= 0.9
    table = pd.read_csv(chinese_run / "predictions.csv", encoding="utf-8")
    assert list(table.columns) == ["id", "prediction", f"prob_{first}", f"prob_{second}"]
    expected = [row["label"] for row in chinese_rows(40, seed=9)]
    assert (table["prediction"] == expected).mean() >= 0.9
    predict_results = (chinese_run / "predict_results.txt").read_text(encoding="utf-8").splitlines()
    assert predict_results[1:] == [f"{index}\t{label}" for index, label in enumerate(table["prediction"])]
    assert f"2 classes: {first}, {second}" in (chinese_run / "report.md").read_text(encoding="utf-8")
    metrics = (chinese_run / "validation_metrics.json").read_text(encoding="utf-8")
    assert first in metrics and second in metrics and "\\u" not in metrics
    assert first in (chinese_run / "run_info.json").read_text(encoding="utf-8")


@pytest.mark.slow
def test_chinese_run_in_the_demo_and_its_csv_tab(chinese_run, tmp_path):
    import app
    from gradio_client import Client, handle_file

    negative, positive = CHINESE_LABELS
    with serving(app.create_app(chinese_run, chinese_run.parent)) as url:
        client = Client(url, verbose=False)
        result = client.predict("今天，天气，很好。", api_name="/predict")
        assert result["label"] == positive and set(confidences(result)) == set(CHINESE_LABELS)
        assert client.predict("这个饭店，让我很失望", api_name="/predict")["label"] == negative
        rows = [{"编号": 1, "评论": "朋友，喜欢，电影"}, {"编号": 2, "评论": "新闻，讨厌"}]
        upload = write_csv(tmp_path / "评论.csv", rows)
        path, _preview = client.predict(handle_file(str(upload)), "评论", chinese_run.name, api_name="/predict_csv")
    table = pd.read_csv(path, encoding="utf-8")
    assert list(table.columns) == ["编号", "评论", "prediction", *(f"prob_{label}" for label in sorted(CHINESE_LABELS))]
    assert table["prediction"].tolist() == [positive, negative]


@pytest.mark.slow
def test_chinese_run_as_a_space(chinese_run, tmp_path):
    import build_space
    import yaml
    from spaces import served_space

    negative, positive = CHINESE_LABELS
    build_space.build_space(chinese_run, tmp_path / "space", "chinese-demo", "📝")
    readme = (tmp_path / "space" / "README.md").read_text(encoding="utf-8")
    description = yaml.safe_load(readme.split("---\n")[1])["short_description"]
    assert description == f"{', '.join(sorted(CHINESE_LABELS))} classifier"
    # The bundle run as Spaces runs it (tests/spaces.py), its own app.py and textclf/.
    with served_space(tmp_path / "space") as client:
        scores = confidences(client.predict("朋友，很好，今天", api_name="/predict"))
    assert set(scores) == set(CHINESE_LABELS) and max(scores, key=scores.get) == positive


# Where each architecture keeps its encoder's layers.
LAYER_PREFIXES = {"bert": "bert.encoder.layer.", "distilbert": "distilbert.transformer.layer.",
                  "roberta": "roberta.encoder.layer.", "xlm-roberta": "roberta.encoder.layer.",
                  "electra": "electra.encoder.layer.", "deberta-v2": "deberta.encoder.layer.",
                  "mpnet": "mpnet.encoder.layer.", "t5": "transformer.encoder.block.", "modernbert": "model.layers."}


@pytest.mark.parametrize("name", NAMES)
def test_freezing_the_lower_layers_leaves_only_the_layers_above_them_to_train(tiny_models, name):
    """--freeze_lower_layers 1 freezes the embeddings and the encoder's first layer, whatever the layers are called."""
    from transformers import AutoModelForSequenceClassification

    from textclf import UserInputError
    from textclf.training.trainer import freeze_lower_layers

    model = AutoModelForSequenceClassification.from_pretrained(tiny_models(name), num_labels=2)
    if name == "albert":  # its layers share one set of weights: only the embeddings can be frozen
        with pytest.raises(UserInputError, match="no stack of 2 layers"):
            freeze_lower_layers(model, 1)
        assert freeze_lower_layers(model, 0) > 0
        return
    frozen = freeze_lower_layers(model, 1)
    requires_grad = {parameter_name: parameter.requires_grad for parameter_name, parameter in model.named_parameters()}
    first, second = (
        [parameter_name for parameter_name in requires_grad if parameter_name.startswith(f"{LAYER_PREFIXES[name]}{index}.")]
        for index in (0, 1)
    )
    assert first and second
    assert not any(requires_grad[parameter_name] for parameter_name in first)
    assert all(requires_grad[parameter_name] for parameter_name in second)
    assert model.get_input_embeddings().weight.requires_grad is False
    assert frozen == sum(parameter.numel() for parameter in model.parameters() if not parameter.requires_grad)
    outside_the_encoder = [n for n, trainable in requires_grad.items() if trainable and not n.startswith(LAYER_PREFIXES[name])]
    assert outside_the_encoder  # the classification head, at least
    with pytest.raises(UserInputError, match="has 2 layers"):
        freeze_lower_layers(model, 3)


@pytest.mark.parametrize("name", [name for name in NAMES if name != "albert"])
def test_no_gradient_flows_through_the_frozen_layers(tiny_models, name):
    """What --freeze_lower_layers saves is the backward pass of the frozen layers: nothing trainable may
    feed them. MPNet and DeBERTa-v2 hand every layer a position bias their encoder computes once, and
    ELECTRA projects its embeddings outside them: left trainable, their gradient ran back down through
    every frozen layer."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from textclf.training.trainer import freeze_lower_layers

    model = AutoModelForSequenceClassification.from_pretrained(tiny_models(name), num_labels=2).train()
    freeze_lower_layers(model, 1)
    outputs_needing_gradients = []
    first_layer = model.get_submodule(LAYER_PREFIXES[name] + "0")
    first_layer.register_forward_hook(lambda module, inputs, output: outputs_needing_gradients.append(
        any(tensor.requires_grad for tensor in torch.utils._pytree.tree_leaves(output) if isinstance(tensor, torch.Tensor))))
    batch = AutoTokenizer.from_pretrained(tiny_models(name))(["one short text", "and another, longer text"],
                                                              padding=True, return_tensors="pt")
    model(**batch)
    assert outputs_needing_gradients == [False]
