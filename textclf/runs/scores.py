"""Scores of a run's probabilities: accuracy and F1 of its decisions, log loss, calibration error, ROC-AUC.

Shared by the calibration (which compares decisions before and after it) and the report's analysis.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from textclf.problem_types import SINGLE_LABEL

RELIABILITY_BINS = 10


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = RELIABILITY_BINS) -> float:
    """Mean |accuracy - confidence| over equal-width confidence bins, weighted by their rows.

    The per-bin figures are scikit-learn's calibration_curve; the weights count rows the same way
    (its bins: np.linspace(0, 1, bins + 1), a row goes to the bin its confidence falls in).
    """
    from sklearn.calibration import calibration_curve

    confidence = np.clip(np.asarray(confidence, dtype=np.float64), 0.0, 1.0)
    correct = np.asarray(correct).astype(int)
    if len(correct) == 0:
        return float("nan")
    accuracy, mean_confidence = calibration_curve(correct, confidence, n_bins=bins, strategy="uniform")
    counts = np.bincount(np.searchsorted(np.linspace(0.0, 1.0, bins + 1)[1:-1], confidence), minlength=bins)
    weights = counts[counts > 0] / len(correct)
    return float(np.sum(weights * np.abs(accuracy - mean_confidence)))


def decision_scores(label_ids: np.ndarray, probabilities: np.ndarray, predicted_ids: np.ndarray, metric: str) -> dict:
    """Accuracy, macro F1, F1 of class id 1 (binary), the run's metric when it is another, log loss
    and expected calibration error (of the probability of the predicted class)."""
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

    classes = list(range(probabilities.shape[1]))
    scores = {
        "accuracy": float(accuracy_score(label_ids, predicted_ids)),
        "macro_f1": float(f1_score(label_ids, predicted_ids, labels=classes, average="macro", zero_division=0)),
    }
    if len(classes) == 2:
        scores["positive_f1"] = float(f1_score(label_ids, predicted_ids, pos_label=1, zero_division=0))
    if metric == "matthews_correlation":
        scores["matthews_correlation"] = float(matthews_corrcoef(label_ids, predicted_ids))
    return scores | calibration_scores(label_ids, probabilities, predicted_ids)


def calibration_scores(label_ids: np.ndarray, probabilities: np.ndarray, predicted_ids: np.ndarray) -> dict:
    """Log loss, and the expected calibration error of the probability of the predicted class."""
    from sklearn.metrics import log_loss

    confidence = probabilities[np.arange(len(predicted_ids)), predicted_ids]
    return {
        "log_loss": float(log_loss(label_ids, np.clip(probabilities, 1e-15, 1.0), labels=list(range(probabilities.shape[1])))),
        "ece": expected_calibration_error(confidence, predicted_ids == label_ids),
    }


def probability_table(table: pd.DataFrame, labels: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(true ids, probabilities, predicted ids) of a prediction table, or None without probabilities."""
    columns = [f"prob_{label}" for label in labels]
    if not labels or "label" not in table.columns or not set(columns) <= set(table.columns):
        return None
    index = {label: i for i, label in enumerate(labels)}
    truth = table["label"].astype(str).map(index)
    predicted = table["prediction"].astype(str).map(index)
    if truth.isna().any() or predicted.isna().any():
        return None
    return truth.to_numpy(int), table[columns].to_numpy(np.float64), predicted.to_numpy(int)


def probability_scores(table: pd.DataFrame, problem_type: str, labels: list[str]) -> dict:
    """For validation_metrics.json: log loss and calibration error; ROC-AUC and PR-AUC (average
    precision) of the positive class for two classes."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    arrays = probability_table(table, labels) if problem_type == SINGLE_LABEL else None
    if arrays is None:
        return {}
    truth, probabilities, predicted = arrays
    scores = calibration_scores(truth, probabilities, predicted)
    if len(labels) == 2 and len(set(truth)) == 2:
        scores["roc_auc"] = float(roc_auc_score(truth == 1, probabilities[:, 1]))
        scores["pr_auc"] = float(average_precision_score(truth == 1, probabilities[:, 1]))
    return scores
