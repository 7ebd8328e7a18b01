"""Understanding a run: class names, calibration and the decision threshold on known cases, token
explanations of a tiny model trained here, and the report's analysis section."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import NEGATIVE_WORDS, POSITIVE_WORDS, QUICK_TRAINING, run_classification, sentiment_rows, write_csv
from datasets import Dataset, DatasetDict
from scipy.special import softmax
from test_app import LABELS, write_tiny_run

from textclf import UserInputError
from textclf.reports.analysis import threshold_as_trained
from textclf.runs.data_files import validation_texts
from textclf.runs.calibration import Calibration, best_threshold, cross_fit, fit, fit_temperature, measure_calibration
from textclf.serving.explain import Explanation, explain, markdown_highlight, segments
from textclf.data.labels import apply_class_names, read_class_names
from textclf.runs.predictions import write_prediction_table
from textclf.problem_types import SINGLE_LABEL
from textclf.reports.report import write_run_report, write_submission
from textclf.runs.scores import decision_scores, expected_calibration_error, probability_scores
from textclf.runs.folder import RunInfo
from textclf.tasks import TASKS, shell_assignments

TWEET_NAMES = {"0": "not disaster", "1": "disaster"}


def calibrated_sample(rows: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels drawn from softmax(logits): probabilities that are right by construction."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(rows, classes))
    labels = np.array([rng.choice(classes, p=p) for p in softmax(logits, axis=1)])
    return logits, labels


def temperature_by_hand(logits: np.ndarray, label_ids: np.ndarray) -> float:
    """The maximum-likelihood temperature, worked out apart from textclf: with b = 1/T the mean negative
    log-likelihood is convex in b and its slope is the mean, over rows, of the logit expected under
    softmax(b * logits) less the logit of the true class; T is 1 / the root of that slope (scipy's brentq)."""
    from scipy.optimize import brentq

    logits = np.asarray(logits, dtype=np.float64)
    true_logits = logits[np.arange(len(label_ids)), label_ids]

    def slope(b: float) -> float:
        return float(np.mean((softmax(b * logits, axis=1) * logits).sum(axis=1) - true_logits))

    return 1 / brentq(slope, 1 / 20, 1 / 0.05, xtol=1e-14, rtol=1e-12)


def best_cut_by_brute_force(positive_probabilities: np.ndarray, is_positive: np.ndarray, metric: str) -> float:
    """Every cut halfway between neighbouring distinct probabilities (and one beyond each end) scored
    on its own: F1 of the positive class or accuracy; of the best, the cut nearest 0.5."""
    scores, truth = np.asarray(positive_probabilities, dtype=np.float64), np.asarray(is_positive).astype(bool)
    distinct = np.unique(scores)
    cuts = np.concatenate([[(1 + distinct[-1]) / 2], (distinct[1:] + distinct[:-1]) / 2, [distinct[0] / 2]])
    predicted = scores[None, :] >= cuts[:, None]  # one row per cut
    tp, fp = (predicted & truth).sum(axis=1), (predicted & ~truth).sum(axis=1)
    fn, tn = truth.sum() - tp, (~truth).sum() - fp
    values = 2 * tp / (2 * tp + fp + fn) if metric == "f1" else (tp + tn) / len(truth)
    best = cuts[values >= values.max() - 1e-12]
    return float(best[np.argmin(np.abs(best - 0.5))])


# --- Calibration and the decision threshold --------------------------------------------------------


def test_temperature_scaling_cannot_improve_a_perfectly_calibrated_input():
    logits, labels = calibrated_sample(20_000, 3, seed=0)
    assert fit_temperature(logits, labels) == pytest.approx(1.0, abs=0.04)
    content = measure_calibration(logits, labels, ["a", "b", "c"], "accuracy", seed=0)
    as_trained, scaled = (way["validation"] for way in content["measured"])
    assert scaled["log_loss"] >= as_trained["log_loss"] - 1e-3  # cross-fitted: no better than as trained
    assert as_trained["ece"] < 0.02


def test_temperature_scaling_undoes_overconfidence():
    logits, labels = calibrated_sample(20_000, 2, seed=1)
    assert fit_temperature(3 * logits, labels) == pytest.approx(3.0, rel=0.05)
    content = measure_calibration(3 * logits, labels, list(LABELS), "f1", seed=1)
    as_trained, scaled = (way["validation"] for way in content["measured"][:2])
    assert scaled["ece"] < as_trained["ece"] / 3 and scaled["log_loss"] < as_trained["log_loss"]
    assert scaled["accuracy"] == as_trained["accuracy"]  # a temperature moves no argmax


def test_threshold_search_finds_the_known_best_threshold():
    # Every row right only between 0.30 and 0.35: the cut lies halfway.
    probabilities = np.array([0.10, 0.30, 0.35, 0.45, 0.60, 0.80])
    is_positive = np.array([0, 0, 1, 1, 1, 1])
    for metric in ("f1", "accuracy", "matthews_correlation"):
        assert best_threshold(probabilities, is_positive, metric) == pytest.approx(0.325)
    # F1 prefers calling all three middle rows positive (F1 0.857 against 0.8), accuracy does not.
    probabilities = np.array([0.1, 0.2, 0.3, 0.4, 0.9])
    is_positive = np.array([0, 0, 1, 0, 1])
    assert best_threshold(probabilities, is_positive, "f1") == pytest.approx(0.25)
    assert best_threshold(probabilities, is_positive, "accuracy") == pytest.approx(0.65)
    # Ties: the cut nearest 0.5 (accuracy 3/4 from 0.8 up, and from 0.225 up).
    assert best_threshold(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1]), "f1") == pytest.approx(0.5)
    assert best_threshold(np.array([0.1, 0.35, 0.7, 0.9]), np.array([0, 1, 0, 1]), "accuracy") == pytest.approx(0.225)


def test_calibration_divides_logits_and_applies_the_threshold():
    logits = np.array([[0.0, 1.0], [0.0, -1.0], [2.0, 0.0]])
    calibration = Calibration(temperature=2.0, threshold=0.3)
    probabilities = calibration.probabilities(logits, SINGLE_LABEL)
    np.testing.assert_allclose(probabilities, softmax(logits / 2, axis=1))
    assert calibration.predictions(logits, SINGLE_LABEL).tolist() == [1, 1, 0]  # P(1) 0.62, 0.38, 0.27
    assert Calibration(2.0).predictions(logits, SINGLE_LABEL).tolist() == [1, 0, 0]
    assert Calibration().changes_nothing and not calibration.changes_nothing
    # The report's plots show the model as trained: the applied cut, moved to its probabilities.
    raw = threshold_as_trained(Calibration(1.7, 0.42))
    logits = np.array([[0.0, np.log(raw / (1 - raw))]])  # P(1) = raw as trained
    assert Calibration(1.7).probabilities(logits, SINGLE_LABEL)[0, 1] == pytest.approx(0.42)
    assert threshold_as_trained(Calibration(1.7)) is None


def test_cross_fit_scores_each_fold_with_what_the_other_folds_fitted():
    from sklearn.model_selection import StratifiedKFold

    logits, labels = calibrated_sample(300, 2, seed=2)
    logits = 2.5 * logits
    result = cross_fit(logits, labels, "both", True, True, "f1", folds=3, seed=7)
    splits = StratifiedKFold(n_splits=3, shuffle=True, random_state=7).split(logits, labels)
    for fold, (fit_rows, held_out) in zip(result.folds, splits):
        assert fold == fit(logits[fit_rows], labels[fit_rows], True, True, "f1")
        assert fold != fit(logits[held_out], labels[held_out], True, True, "f1")
        np.testing.assert_allclose(result.probabilities[held_out], fold.probabilities(logits[held_out], SINGLE_LABEL))
        np.testing.assert_array_equal(result.predicted_ids[held_out], fold.predicted_ids(result.probabilities[held_out]))
    assert result.final == fit(logits, labels, True, True, "f1")


def test_calibration_applied_is_what_was_asked():
    logits, labels = calibrated_sample(2000, 2, seed=3)
    content = measure_calibration(2 * logits, labels, list(LABELS), "f1", seed=0, apply_temperature=True)
    assert content["applied"]["temperature"] == pytest.approx(2.0, rel=0.2) and content["applied"]["threshold"] is None
    # fitted on all rows: the maximum-likelihood temperature of this sample
    assert content["applied"]["temperature"] == pytest.approx(temperature_by_hand(2 * logits, labels), rel=1e-4)
    names = [way["name"] for way in content["measured"]]
    assert names == ["as trained", "temperature scaling", "temperature scaling + tuned threshold"]
    content = measure_calibration(2 * logits, labels, list(LABELS), "f1", seed=0, apply_threshold=True)
    assert content["applied"]["temperature"] == 1.0
    # fitted on all rows: the cut on P(class id 1) with the best F1 of class id 1
    best_cut = best_cut_by_brute_force(softmax(2 * logits, axis=1)[:, 1], labels == 1, "f1")
    assert content["applied"]["threshold"] == pytest.approx(best_cut, abs=1e-9)
    assert content["measured"][-1]["name"] == "tuned threshold"
    # By hand: P(class id 1) 0.1, 0.2, 0.3, 0.4, 0.9 for classes 0, 0, 1, 0, 1. F1 is best calling the top three
    # positive (cut 0.25: F1 4/5; cut 0.65: 2/3); accuracy is 4/5 at both cuts, and 0.65 is the one nearer 0.5.
    # Metrics a threshold cannot maximise (precision) tune F1.
    few = np.log(np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.6, 0.4], [0.1, 0.9]]))
    few_labels = np.array([0, 0, 1, 0, 1])
    for metric, cut in [("f1", 0.25), ("accuracy", 0.65), ("precision", 0.25)]:
        applied = measure_calibration(few, few_labels, list(LABELS), metric, seed=0, apply_threshold=True)["applied"]
        assert applied == {"temperature": 1.0, "threshold": pytest.approx(cut)}, metric
    assert measure_calibration(logits, labels, list(LABELS), "f1", seed=0)["applied"] == {"temperature": 1.0, "threshold": None}
    assert measure_calibration(logits[:3], np.array([0, 0, 1]), list(LABELS), "f1", seed=0) is None  # one row of class 1


def test_expected_calibration_error_on_known_cases():
    # Ten rows at 0.9 of which 7 are right: off by 0.2.
    assert expected_calibration_error(np.full(10, 0.9), np.array([1] * 7 + [0] * 3)) == pytest.approx(0.2)
    # Two bins: 0.55 with half right (off by 0.05) for 2 rows, 0.95 with 3 of 4 right (off by 0.2) for 4.
    confidence = np.array([0.55, 0.55, 0.95, 0.95, 0.95, 0.95])
    assert expected_calibration_error(confidence, np.array([1, 0, 1, 1, 1, 0])) == pytest.approx((2 * 0.05 + 4 * 0.2) / 6)
    scores = decision_scores(np.array([0, 1, 1]), np.array([[0.8, 0.2], [0.4, 0.6], [0.7, 0.3]]), np.array([0, 1, 0]), "f1")
    assert scores["accuracy"] == pytest.approx(2 / 3) and scores["positive_f1"] == pytest.approx(2 / 3)


def roc_auc_by_pairs(is_positive: np.ndarray, positive_probabilities: np.ndarray) -> float:
    """ROC-AUC as its definition: the share of (positive, negative) row pairs the probability puts in the
    right order, a tie counting half."""
    truth = np.asarray(is_positive).astype(bool)
    difference = positive_probabilities[truth][:, None] - positive_probabilities[~truth][None, :]
    return float(((difference > 0) + 0.5 * (difference == 0)).mean())


def test_roc_auc_and_average_precision_on_a_hand_made_table():
    # P(positive), surest first: 0.9 pos, 0.7 neg, 0.6 pos, 0.4 pos, 0.4 neg, 0.1 neg. Of the 9 (pos, neg) pairs,
    # 0.9 beats all three negatives, 0.6 two, 0.4 one and ties one: ROC-AUC (3 + 2 + 1.5) / 9. Precision at each
    # positive, down the list (the two at 0.4 taken together): 1/1, 2/3, 3/5; average precision their mean.
    positive = [0.9, 0.7, 0.6, 0.4, 0.4, 0.1]
    truth = ["positive", "negative", "positive", "positive", "negative", "negative"]
    table = pd.DataFrame({"label": truth, "prediction": [LABELS[int(p >= 0.5)] for p in positive],
                          "prob_negative": [1 - p for p in positive], "prob_positive": positive})
    scores = probability_scores(table, SINGLE_LABEL, list(LABELS))
    assert scores["roc_auc"] == pytest.approx(6.5 / 9, abs=1e-12)
    assert scores["pr_auc"] == pytest.approx((1 + 2 / 3 + 3 / 5) / 3, abs=1e-12)
    assert roc_auc_by_pairs(np.array(truth) == "positive", np.array(positive)) == pytest.approx(6.5 / 9)


# --- Class names ----------------------------------------------------------------------------------


def label_splits(values: dict[str, list]) -> DatasetDict:
    return DatasetDict({split: Dataset.from_dict({"label": labels}) for split, labels in values.items()})


def test_class_names_rename_values_and_keep_the_positive_class_second(tmp_path):
    data = label_splits({"train": ["0", "1", "1"], "validation": ["1", None]})
    data, order = apply_class_names(data, SINGLE_LABEL, ["train", "validation"], TWEET_NAMES, None)
    assert order == ["not disaster", "disaster"]  # not alphabetical: "disaster" stays id 1
    assert data["train"]["label"] == ["not disaster", "disaster", "disaster"]
    assert data["validation"]["label"] == ["disaster", None]
    path = tmp_path / "names.json"
    path.write_text(json.dumps(TWEET_NAMES))
    assert read_class_names(str(path)) == read_class_names(json.dumps(TWEET_NAMES)) == TWEET_NAMES
    assert read_class_names(None) == {}


@pytest.mark.parametrize("value, message", [
    ("{not json", "not valid JSON"),
    ('["disaster"]', "expected a JSON object"),
    ("no-such-file.json", "neither a JSON object"),
    ('{"0": "same", "1": "same"}', "the same name"),
    ('{"yes": "a", "no": "b"}', "none of"),
])
def test_bad_class_names_are_one_line_errors(value, message):
    data = label_splits({"train": ["0", "1"]})
    with pytest.raises(UserInputError, match=message):
        apply_class_names(data, SINGLE_LABEL, ["train"], read_class_names(value), None)


def test_submission_maps_names_back_to_kaggle_values(tmp_path):
    write_prediction_table(str(tmp_path / "predictions.csv"), ["disaster", "not disaster"], np.array([[0.2, 0.8], [0.9, 0.1]]),
                           SINGLE_LABEL, {0: "not disaster", 1: "disaster"}, ids=[7, 3])
    assert write_submission(tmp_path, "target", TWEET_NAMES)
    assert (tmp_path / "submission.csv").read_text().splitlines() == ["id,target", "7,1", "3,0"]


def test_the_tweets_task_names_its_classes():
    assert TASKS["tweets"].class_names == TWEET_NAMES
    assert "TASK_CLASS_NAMES='{\"0\": \"not disaster\", \"1\": \"disaster\"}'" in shell_assignments(TASKS["tweets"])
    assert "TASK_CLASS_NAMES=''" in shell_assignments(TASKS["imdb"])


# --- Token explanations ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, tiny_model):
    """The tiny BERT trained (in-process, a second) on texts whose class is given away by one word."""
    return write_tiny_run(tmp_path_factory.mktemp("explained"), tiny_model)


def test_explanation_puts_the_giveaway_word_on_top(trained_run):
    from textclf.serving.predictor import Predictor

    for variant in ("fp32", "onnx"):
        predictor = Predictor.from_run(shutil.copytree(trained_run, trained_run.parent / f"copy-{variant}",
                                                       dirs_exist_ok=True), variant=variant)
        # This model learnt to spot the positive words (a text without one is negative).
        for text, label, giveaway in [("the movie was a great day", "positive", "great"),
                                      ("storm news lost fine team", "positive", "fine")]:
            explanation = explain(predictor, text)
            assert explanation.label == label and explanation.variant == variant
            assert explanation.top(1)[0][0] == giveaway
            assert "".join(piece for piece, _ in explanation.pieces) == text
            highlighted = dict(explanation.highlighted())
            assert highlighted[giveaway] == 1.0 and highlighted[" "] is None


def test_explanation_shows_the_words_that_matter():
    pieces = [("big", 0.5), (" ", None), ("tiny", 0.01), (" ", None), ("against", -0.2), (" ", None), ("*x*", 0.0)]
    explanation = Explanation("big tiny against *x*", "positive", 0.9, pieces, "onnx")
    assert explanation.notable(3) == [("big", 0.5)] and explanation.notable(3, against=True) == [("against", -0.2)]
    assert markdown_highlight(explanation, 100) == "**big** tiny _against_ \\*x\\*"
    assert explanation.highlighted() == [("big", 1.0), (" ", None), ("tiny", 0.02), (" ", None), ("against", -0.4),
                                         (" ", None), ("*x*", None)]


def test_long_texts_are_explained_in_a_bounded_number_of_groups():
    text = " ".join(f"word{i}" for i in range(500))
    spans = segments(text, max_segments=48)
    assert len(spans) <= 48 and spans[0][0] == 0 and spans[-1][1] == len(text)
    assert segments("Forest fire near La Ronge!! #wildfire") == [(0, 6), (7, 11), (12, 16), (17, 19), (20, 25),
                                                                 (25, 27), (28, 29), (29, 37)]


# --- The report's analysis section on a tiny run --------------------------------------------------


def add_validation_predictions(run_dir, calibrate: bool) -> pd.DataFrame:
    """eval_predictions.csv of the run's own validation file, as run_classification.py writes it."""
    from textclf.serving.predictor import Predictor

    validation = pd.read_csv(run_dir.parent.parent / "data/validation.csv")
    validation.loc[:4, "label"] = validation.loc[:4, "label"].map({"positive": "negative", "negative": "positive"})
    validation.to_csv(run_dir.parent.parent / "data/validation.csv", index=False)  # five planted errors
    probabilities = Predictor.from_run(run_dir).predict_proba(validation["text"].tolist())
    predicted = [LABELS[i] for i in probabilities.argmax(axis=1)]
    write_prediction_table(str(run_dir / "eval_predictions.csv"), predicted, probabilities, SINGLE_LABEL,
                           dict(enumerate(LABELS)), ids=validation["id"].tolist(), references=validation["label"].tolist())
    if calibrate:
        from textclf.runs.calibration import write_calibration

        label_ids = validation["label"].map(LABELS.index).to_numpy()
        content = measure_calibration(np.log(probabilities), label_ids, list(LABELS), "accuracy", 0, True, True)
        write_calibration(run_dir, content)
    return validation


def test_report_analyses_the_validation_predictions(tmp_path, tiny_model):
    run_dir = write_tiny_run(tmp_path / "project", tiny_model)
    add_validation_predictions(run_dir, calibrate=True)
    report = write_run_report(run_dir).read_text()
    metrics = json.loads((run_dir / "validation_metrics.json").read_text())
    assert 0 <= metrics["ece"] <= 1
    # ROC-AUC and PR-AUC of `positive` from the probabilities the run wrote, worked out here
    from sklearn.metrics import average_precision_score

    table = pd.read_csv(run_dir / "eval_predictions.csv")
    is_positive, positive = (table["label"] == "positive").to_numpy(), table["prob_positive"].to_numpy()
    assert metrics["roc_auc"] == pytest.approx(roc_auc_by_pairs(is_positive, positive), abs=1e-9)
    assert metrics["pr_auc"] == pytest.approx(average_precision_score(is_positive, positive), abs=1e-9)
    assert 0.5 < metrics["roc_auc"] < 1  # the five planted errors are confident ones
    errors = report[report.index("### Most confident errors"):report.index("### Precision, recall")]
    planted = pd.read_csv(tmp_path / "project/data/validation.csv").head(5)
    for text in planted["text"]:
        assert f"| {text} |" in errors  # the planted errors are the confident ones
    for section in ("### Reliability", "![reliability diagram](reliability.png)", "precision_recall.png", "### Calibration",
                    "| validation, cross-fitted | as trained | temperature scaling |", "### Token explanations",
                    "The test predictions (predictions.csv, submission.csv) and the demo apply the calibration"):
        assert section in report
    assert (run_dir / "reliability.png").stat().st_size > 5000 and (run_dir / "precision_recall.png").stat().st_size > 5000
    explained = report[report.index("### Token explanations"):].split("\n- row ")[1:]
    assert len(explained) == 5  # three errors, a right row of each class
    giveaways = [word for word in POSITIVE_WORDS + NEGATIVE_WORDS if any(f"**{word}**" in row for row in explained)]
    assert len(giveaways) >= 2  # the words that decide the class are the ones in bold


def test_report_shows_no_texts_when_the_validation_file_changed(tmp_path, tiny_model):
    run_dir = write_tiny_run(tmp_path / "project", tiny_model)
    add_validation_predictions(run_dir, calibrate=False)
    info = RunInfo.read(run_dir)
    table = pd.read_csv(run_dir / "eval_predictions.csv", dtype=str, keep_default_na=False)
    assert validation_texts(run_dir, info, table)[0] is not None
    validation = pd.read_csv(tmp_path / "project/data/validation.csv")
    validation.iloc[::-1].to_csv(tmp_path / "project/data/validation.csv", index=False)  # same rows, other order
    texts, why = validation_texts(run_dir, info, table)
    assert texts is None and "no longer match" in why
    report = write_run_report(run_dir).read_text()
    assert "Texts are not shown" in report and "### Token explanations" not in report and "### Calibration" not in report


def test_multi_class_report_names_the_most_confused_pairs(tmp_path):
    labels = ["Business", "Sci/Tech", "Sports", "World"]
    truth = ["Business"] * 6 + ["Sci/Tech"] * 6 + ["Sports"] * 4 + ["World"] * 4
    predicted = ["Sci/Tech"] * 4 + ["Business"] * 2 + ["Business"] * 1 + ["Sci/Tech"] * 5 + ["Sports"] * 4 + ["World"] * 3 + ["Sports"]
    probabilities = np.full((20, 4), 0.1)
    for row, label in enumerate(predicted):
        probabilities[row, labels.index(label)] = 0.7
    (tmp_path / "data").mkdir()
    write_csv(tmp_path / "data/validation.csv", [{"text": f"article {i}", "label": t} for i, t in enumerate(truth)])
    run_dir = tmp_path / "experiments/agnews"
    run_dir.mkdir(parents=True)
    write_prediction_table(str(run_dir / "eval_predictions.csv"), predicted, probabilities, SINGLE_LABEL,
                           dict(enumerate(labels)), references=truth)
    RunInfo(model="m", problem_type=SINGLE_LABEL, labels=labels, metric="accuracy", text_columns=["text"], label_column="label",
            data={"validation": {"file": "data/validation.csv", "rows": 20}}).write(run_dir)
    report = write_run_report(run_dir).read_text()
    pairs = report[report.index("### Most confused classes"):report.index("### Reliability")]
    assert pairs.splitlines()[4].startswith("| Business | Sci/Tech | 4 | article 0 (0.70)")
    assert "| Sci/Tech | Business | 1 |" in pairs and "| World | Sports | 1 | article 19 (0.70) |" in pairs
    assert "roc_auc" not in json.loads((run_dir / "validation_metrics.json").read_text())


# --- End to end -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_run_names_classes_calibrates_and_serves_the_calibration(tmp_path, tiny_model):
    rows = [{"id": r["id"], "text": r["text"], "target": r["label"]} for r in sentiment_rows(240, seed=11)]
    write_csv(tmp_path / "train.csv", rows[:160])
    for row in rows[160::8]:  # planted errors (ten `not disaster` texts labelled 1): something for the fits to fit
        row["target"] = {"0": "1", "1": "0"}[row["target"]]
    write_csv(tmp_path / "validation.csv", rows[160:])
    write_csv(tmp_path / "test.csv", [{"id": 500 + r["id"], "text": r["text"]} for r in sentiment_rows(20, seed=12)])
    result = run_classification(
        "--model_name_or_path", str(tiny_model), "--train_file", "train.csv", "--validation_file", "validation.csv",
        "--test_file", "test.csv", "--label_column_name", "target", "--metric_name", "f1",
        "--class_names", json.dumps(TWEET_NAMES), "--calibrate_temperature", "--tune_threshold",
        "--do_train", "--do_eval", "--do_predict", "--output_dir", "run", *QUICK_TRAINING, "--num_train_epochs", "4",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run_dir = tmp_path / "run"
    assert json.loads((run_dir / "config.json").read_text())["id2label"] == {"0": "not disaster", "1": "disaster"}
    assert RunInfo.read(run_dir).class_names == TWEET_NAMES
    assert set(pd.read_csv(run_dir / "eval_predictions.csv")["label"]) == {"not disaster", "disaster"}
    predictions = pd.read_csv(run_dir / "predictions.csv")
    assert list(predictions.columns) == ["id", "prediction", "prob_not disaster", "prob_disaster"]
    submission = pd.read_csv(run_dir / "submission.csv")
    assert submission["target"].tolist() == predictions["prediction"].map({"not disaster": 0, "disaster": 1}).tolist()
    assert (run_dir / "predict_results.txt").read_text().splitlines()[1].split("\t")[1] in TWEET_NAMES.values()
    calibration = json.loads((run_dir / "calibration.json").read_text())
    applied = Calibration(**calibration["applied"])
    # Fitted on every validation row, worked out here from their probabilities as trained (their logits less a
    # constant per row): the maximum-likelihood temperature, then the cut with the best F1 of `disaster`.
    evaluated = pd.read_csv(run_dir / "eval_predictions.csv")
    log_probabilities = np.log(evaluated[["prob_not disaster", "prob_disaster"]].to_numpy())
    is_disaster = (evaluated["label"] == "disaster").to_numpy()
    temperature = temperature_by_hand(log_probabilities, is_disaster.astype(int))
    assert applied.temperature == pytest.approx(temperature, rel=1e-4)
    calibrated = softmax(log_probabilities / temperature, axis=1)[:, 1]
    # rows are about 1e-5 apart here; the file's probabilities have 6 decimals
    assert applied.threshold == pytest.approx(best_cut_by_brute_force(calibrated, is_disaster, "f1"), abs=2e-6)
    assert calibration["positive_class"] == "disaster" and calibration["threshold_metric"] == "f1"
    # The test predictions and the Predictor apply the run's calibration, on the same logits.
    from textclf.serving.predictor import Predictor

    predictor = Predictor.from_run(run_dir)
    assert predictor.calibration == applied
    texts = pd.read_csv(tmp_path / "test.csv")["text"].tolist()
    probabilities = predictor.predict_proba(texts)
    np.testing.assert_allclose(probabilities, predictions[["prob_not disaster", "prob_disaster"]], atol=1e-5)
    decided = [predictor.labels[i] for i in predictor.predicted_ids(probabilities)]
    assert decided == predictions["prediction"].tolist()
    report = (run_dir / "report.md").read_text()
    assert "(2 classes: not disaster, disaster)" in report and "### Token explanations" in report
    assert f"`disaster` predicted from P >= {applied.threshold:.2f}" in report

    # Predicting again with the run as the model keeps its names and its calibration.
    result = run_classification("--model_name_or_path", "run", "--test_file", "test.csv", "--do_predict",
                                "--label_column_name", "target", "--output_dir", "again", "--report_to", "none", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    again = pd.read_csv(tmp_path / "again/predictions.csv")
    pd.testing.assert_frame_equal(again, predictions, check_exact=False, atol=1e-5)
    assert pd.read_csv(tmp_path / "again/submission.csv").equals(submission)
    assert Calibration.applied_in(tmp_path / "again") == applied
