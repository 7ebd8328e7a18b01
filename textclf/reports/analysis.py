"""The analysis section of a run's report: where the model goes wrong, how far its probabilities can
be trusted, and which words it reads.

Built from the run folder's files, like the rest of the report: eval_predictions.csv (validation
rows in data order, with the probability of every class), the validation file named in
run_info.json (for the texts, matched by row order and checked against the labels),
calibration.json, and the model itself for the token explanations. For single-label classification;
multi-label and regression runs get their metrics only.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from textclf import UserInputError
from textclf.markdown import table_cell
from textclf.problem_types import SINGLE_LABEL
from textclf.runs.calibration import Calibration, read_calibration
from textclf.runs.data_files import validation_texts
from textclf.runs.folder import PRECISION_RECALL, RELIABILITY, RunInfo, has_transformer_model
from textclf.runs.scores import RELIABILITY_BINS, expected_calibration_error, probability_table

logger = logging.getLogger(__name__)

ERRORS_PER_CLASS = 3
CONFUSED_PAIRS = 3
EXAMPLES_PER_PAIR = 2
EXPLAINED_ERRORS = 3
EXPLAINED_CORRECT = 2
TOP_WORDS = 3
CELL_CHARS = 160  # texts in tables: one line each; IMDB reviews are cut


# --- Plots ----------------------------------------------------------------------------------------


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_precision_recall(truth: np.ndarray, positive_probabilities: np.ndarray, positive: str, path: Path,
                          threshold: float | None) -> None:
    """Precision against recall, and F1 of the positive class against the decision threshold."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    precision, recall, cuts = precision_recall_curve(truth == 1, positive_probabilities)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    plt = pyplot()
    figure, (curve_axes, f1_axes) = plt.subplots(1, 2, figsize=(10, 3.8))
    curve_axes.plot(recall, precision, drawstyle="steps-post")  # as scikit-learn's PrecisionRecallDisplay
    curve_axes.set_xlabel(f"recall of {positive}")
    curve_axes.set_ylabel(f"precision of {positive}")
    curve_axes.set_title(f"precision-recall (PR-AUC {average_precision_score(truth == 1, positive_probabilities):.3f})")
    f1_axes.plot(cuts, f1[:-1], drawstyle="steps-pre")  # F1 at a cut holds for every threshold up to it
    f1_axes.axvline(0.5, color="grey", linestyle=":", label="0.5 (most probable class)")
    if threshold is not None:
        f1_axes.axvline(threshold, color="tab:red", linestyle="--", label=f"applied threshold (here {threshold:.2f})")
    best = int(np.argmax(f1[:-1]))
    f1_axes.plot([cuts[best]], [f1[best]], "o", color="tab:orange", label=f"best on these rows: {cuts[best]:.2f}")
    f1_axes.set_xlabel(f"threshold on P({positive})")
    f1_axes.set_ylabel(f"F1 of {positive}")
    f1_axes.set_title("F1 against the decision threshold")
    f1_axes.legend(fontsize=8, loc="lower center")
    for axes in (curve_axes, f1_axes):
        axes.set_xlim(0, 1)
        axes.set_ylim(0, 1.02)
        axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def threshold_as_trained(calibration: Calibration) -> float | None:
    """The applied threshold on the probabilities of the model as trained, which the plots show.

    For two classes a temperature T turns P into sigmoid(logit(P) / T), so a threshold t on the
    calibrated probability is sigmoid(T * logit(t)) on the uncalibrated one.
    """
    from scipy.special import expit, logit

    if calibration.threshold is None:
        return None
    return float(expit(calibration.temperature * logit(np.clip(calibration.threshold, 1e-12, 1 - 1e-12))))


def plot_reliability(confidence: np.ndarray, correct: np.ndarray, path: Path, ece: float) -> None:
    """Accuracy against confidence per bin (scikit-learn's calibration_curve), and how many rows each bin holds."""
    from sklearn.calibration import calibration_curve

    accuracy, mean_confidence = calibration_curve(correct.astype(int), confidence, n_bins=RELIABILITY_BINS)
    plt = pyplot()
    figure, (curve_axes, count_axes) = plt.subplots(2, 1, figsize=(5, 5.6), height_ratios=(3, 1), sharex=True)
    curve_axes.plot([0, 1], [0, 1], ":", color="grey", label="perfectly calibrated")
    curve_axes.plot(mean_confidence, accuracy, "o-", label=f"model (ECE {ece:.3f})")
    curve_axes.set_ylabel("accuracy")
    curve_axes.set_title("Reliability (probability of the predicted class)")
    curve_axes.legend(loc="upper left", fontsize=8)
    curve_axes.grid(alpha=0.3)
    count_axes.hist(confidence, bins=np.linspace(0, 1, RELIABILITY_BINS + 1), color="tab:blue", alpha=0.6)
    count_axes.set_xlabel("confidence")
    count_axes.set_ylabel("rows")
    count_axes.set_xlim(0, 1)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# --- The validation texts -------------------------------------------------------------------------


def cell(text: str, limit: int = CELL_CHARS) -> str:
    """A text as one markdown table cell."""
    return table_cell(text, limit)


# --- The section ----------------------------------------------------------------------------------


def analysis_section(run_dir: Path, info: RunInfo, table: pd.DataFrame, metrics: dict) -> list[str]:
    """Markdown lines of the analysis of the validation predictions; writes its pictures into run_dir."""
    labels = info.labels or []
    arrays = probability_table(table, labels) if info.problem_type == SINGLE_LABEL else None
    if arrays is None:
        return []
    truth, probabilities, predicted = arrays
    confidence = probabilities[np.arange(len(predicted)), predicted]
    texts, why_no_texts = validation_texts(run_dir, info, table)
    calibration = read_calibration(run_dir)
    applied = Calibration.applied_by(calibration)
    lines = ["## Analysis of the validation predictions", ""]
    if texts is None:
        lines += [f"Texts are not shown: {why_no_texts}.", ""]
    lines += errors_lines(truth, predicted, confidence, labels, texts)
    if len(labels) == 2 and len(set(truth)) == 2:
        plot_precision_recall(truth, probabilities[:, 1], labels[1], run_dir / PRECISION_RECALL,
                              threshold_as_trained(applied))
        lines += [
            "### Precision, recall and the decision threshold", "",
            f"ROC-AUC {metrics.get('roc_auc', float('nan')):.4f}, PR-AUC (average precision) "
            f"{metrics.get('pr_auc', float('nan')):.4f} for `{labels[1]}`. The right plot's best threshold is "
            "chosen on the very rows it is scored on, so its F1 flatters"
            + ("; the calibration table below cross-fits it." if calibration else "."), "",
            f"![precision-recall and F1 against the threshold]({PRECISION_RECALL})", "",
        ]
    elif len(labels) > 2:
        lines += confused_pairs_lines(metrics.get("confusion_matrix"), truth, predicted, confidence, labels, texts)
    ece = expected_calibration_error(confidence, predicted == truth)
    plot_reliability(confidence, predicted == truth, run_dir / RELIABILITY, ece)
    lines += [
        "### Reliability", "",
        f"Expected calibration error {ece:.4f} ({RELIABILITY_BINS} equal-width bins of the probability of the "
        "predicted class): how far, on average, the confidence is from the share of rows that are right.", "",
        f"![reliability diagram]({RELIABILITY})", "",
    ]
    if calibration:
        lines += calibration_lines(calibration, labels)
    if texts is not None:
        lines += explanation_lines(run_dir, truth, predicted, confidence, labels, texts)
    return lines


def errors_lines(truth, predicted, confidence, labels, texts) -> list[str]:
    """The most confidently wrong rows of each true class."""
    rows = []
    for class_id, label in enumerate(labels):
        wrong = np.flatnonzero((truth == class_id) & (predicted != class_id))
        for row in wrong[np.argsort(-confidence[wrong], kind="stable")][:ERRORS_PER_CLASS]:
            text = cell(texts[row]) if texts is not None else ""
            rows.append(f"| {row} | {text} | {label} | {labels[predicted[row]]} | {confidence[row]:.3f} |")
    if not rows:
        return ["### Most confident errors", "", "No validation row is wrong.", ""]
    return [
        "### Most confident errors", "",
        f"Up to {ERRORS_PER_CLASS} per true class, surest first (row: 0-based row of eval_predictions.csv).", "",
        "| row | text | true | predicted | probability |", "|---|---|---|---|---|", *rows, "",
    ]


def confused_pairs_lines(matrix: dict | None, truth, predicted, confidence, labels, texts) -> list[str]:
    """The class pairs most often mistaken for each other, with the surest examples of each."""
    if not matrix:
        return []
    counts = np.array(matrix["counts"])
    np.fill_diagonal(counts, 0)
    if not counts.any():
        return ["### Most confused classes", "", "No class is mistaken for another.", ""]
    order = np.argsort(-counts, axis=None, kind="stable")[:CONFUSED_PAIRS]
    lines = ["### Most confused classes", "", "| true | predicted | rows | examples |", "|---|---|---|---|"]
    for true_id, predicted_id in zip(*np.unravel_index(order, counts.shape)):
        if counts[true_id, predicted_id] == 0:
            break
        rows = np.flatnonzero((truth == true_id) & (predicted == predicted_id))
        rows = rows[np.argsort(-confidence[rows], kind="stable")][:EXAMPLES_PER_PAIR]
        examples = "<br>".join(f"{cell(texts[row], 100)} ({confidence[row]:.2f})" for row in rows) if texts else ""
        lines.append(f"| {labels[true_id]} | {labels[predicted_id]} | {counts[true_id, predicted_id]} | {examples} |")
    return lines + [""]


def calibration_lines(calibration: dict, labels: list[str]) -> list[str]:
    """Each way of calibrating, cross-fitted, side by side with the model as trained."""
    measured = calibration.get("measured") or []
    if not measured:
        return []
    names = {"accuracy": "accuracy", "macro_f1": "macro F1",
             "positive_f1": f"F1 of `{calibration.get('positive_class')}`", "matthews_correlation": "Matthews correlation",
             "log_loss": "log loss (lower is better)", "ece": "calibration error (lower is better)"}
    header = ["validation, cross-fitted", *(way["name"] for way in measured)]
    rows = [[title, *(f"{way['validation'][key]:.4f}" for way in measured)]
            for key, title in names.items() if key in measured[0]["validation"]]
    rows.append(["temperature (fitted on all rows)", *(f"{way['temperature']:.3f}" for way in measured)])
    if calibration.get("positive_class"):
        rows.append(["threshold (fitted on all rows)",
                     *("0.5" if way["threshold"] is None else f"{way['threshold']:.3f}" for way in measured)])
    applied_text = Calibration.applied_by(calibration).describe(labels) or "nothing, the model as trained"
    lines = [
        "### Calibration", "",
        f"Measured on the {calibration['rows']:,} validation rows by cross-fitting: split into {calibration['folds']} "
        f"stratified folds (seed {calibration['seed']}), each fold is scored with the temperature and threshold "
        "fitted on the other folds, never on its own rows. "
        + (f"The threshold maximises {calibration['threshold_metric']}. " if calibration.get("threshold_metric") else "")
        + f"Applied to the test predictions and the demo: {applied_text}. `--calibrate_temperature` and "
        "`--tune_threshold` apply them, fitted on all validation rows.", "",
        "| " + " | ".join(header) + " |", "|" + "---|" * len(header),
        *("| " + " | ".join(row) + " |" for row in rows), "",
    ]
    return lines


def words_list(words) -> str:
    return ", ".join(f"{cell(word, 40)} ({effect:+.3g})" for word, effect in words)


def explanation_lines(run_dir: Path, truth, predicted, confidence, labels, texts) -> list[str]:
    """Token explanations of the surest errors and of a correct row of each class."""
    from textclf.serving.explain import explain_as_trained, markdown_highlight

    if not has_transformer_model(run_dir):  # the report is written before the run is marked finished
        return []
    wrong = np.flatnonzero(predicted != truth)
    rows = [int(r) for r in wrong[np.argsort(-confidence[wrong], kind="stable")][:EXPLAINED_ERRORS]]
    for class_id in range(len(labels))[:EXPLAINED_CORRECT]:  # the surest right row of the first classes
        right = np.flatnonzero((predicted == truth) & (truth == class_id))
        if len(right):
            rows.append(int(right[np.argmax(confidence[right])]))
    try:
        explanations = explain_as_trained(run_dir, [texts[row] for row in rows])
    except (UserInputError, OSError, ValueError) as error:  # a run whose model cannot be loaded here
        logger.warning("No token explanations in the report: %s", error)
        return []
    lines = [
        "### Token explanations", "",
        "Which words pushed the prediction which way: each word (a group of words in long texts) is masked in "
        "turn, and its effect is how much the probability of the predicted class drops without it "
        "(occlusion; the PyTorch model as trained, which made these predictions). **Bold**: pushed towards "
        "the prediction; _italic_: against it (the words with at least a tenth of the largest effect).", "",
    ]
    for row, explanation in zip(rows, explanations):
        verdict = "right" if truth[row] == predicted[row] else f"wrong, true label `{labels[truth[row]]}`"
        towards = words_list(explanation.notable(TOP_WORDS))
        against = words_list(explanation.notable(TOP_WORDS, against=True))
        lines += [
            f"- row {row}, predicted `{explanation.label}` ({explanation.probability:.3f}, {verdict}): "
            f"{markdown_highlight(explanation, CELL_CHARS * 2)}",
            f"  - towards `{explanation.label}`: {towards or 'none'}; against: {against or 'none'}",
        ]
    return lines + [""]
