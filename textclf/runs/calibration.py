"""Calibrated probabilities and an honest decision threshold.

A fine-tuned classifier's probabilities are often overconfident: of the tweets it calls 99% sure,
fewer than 99% are right. Temperature scaling (Guo et al., 2017, "On Calibration of Modern Neural
Networks") divides the logits by one number T fitted on held-out predictions; it never changes the
most probable class, only how sure the probabilities say the model is. For two classes, the decision
threshold on P(class id 1) that maximises the task's metric (tweets: F1 of `disaster`) can be chosen
instead of 0.5.

The honesty rule: never fit on the rows you then score. The "after" figures are cross-fitted: the
validation rows are split into stratified folds, T and the threshold are fitted on the other folds
and scored on the held-out one. What is saved and applied to the test predictions and the demo is
fitted on all validation rows (its own score on them would flatter it, so it is never reported).

run_classification.py measures this on every evaluated single-label run and writes calibration.json
(textclf.runs.folder.CALIBRATION); it is applied (predictions.csv, submission.csv, the Predictor, the demo)
only when asked: --calibrate_temperature, --tune_threshold. Serving needs only numpy (the Predictor,
also inside a Space); fitting imports scipy and scikit-learn.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textclf.problem_types import SINGLE_LABEL, logits_to_predictions, logits_to_probabilities
from textclf.runs.folder import CALIBRATION, read_optional_json, write_json_atomically

logger = logging.getLogger(__name__)

FOLDS = 5
TEMPERATURE_BOUNDS = (0.05, 20.0)
# Metrics a decision threshold can sensibly maximise; precision or recall alone would pick an extreme.
THRESHOLD_METRICS = ("f1", "accuracy", "matthews_correlation")
AS_TRAINED = "as trained"


@dataclass(frozen=True)
class Calibration:
    """What a run does to its logits: divide them by a temperature and, for two classes, predict
    class id 1 when its probability reaches a threshold. The default changes nothing."""

    temperature: float = 1.0
    threshold: float | None = None  # None: the most probable class

    @property
    def changes_nothing(self) -> bool:
        return self.temperature == 1.0 and self.threshold is None

    def probabilities(self, logits: np.ndarray, problem_type: str) -> np.ndarray:
        return logits_to_probabilities(np.asarray(logits, dtype=np.float64) / self.temperature, problem_type)

    def predictions(self, logits: np.ndarray, problem_type: str) -> np.ndarray:
        """As textclf.problem_types.logits_to_predictions, with the threshold where there is one."""
        if self.threshold is None or problem_type != SINGLE_LABEL or np.shape(logits)[1] != 2:
            return logits_to_predictions(logits, problem_type)  # dividing by T > 0 moves no argmax
        return self.predicted_ids(self.probabilities(logits, problem_type))

    def predicted_ids(self, probabilities: np.ndarray) -> np.ndarray:
        """Class ids from single-label probabilities (already temperature-scaled)."""
        if self.threshold is not None and probabilities.shape[1] == 2:
            return (probabilities[:, 1] >= self.threshold).astype(int)
        return probabilities.argmax(axis=1)

    def describe(self, labels: list[str]) -> str:
        parts = []
        if self.temperature != 1.0:
            parts.append(f"probabilities temperature-scaled (T = {self.temperature:.2f})")
        if self.threshold is not None:
            parts.append(f"`{labels[1]}` predicted from P >= {self.threshold:.2f}")
        return "; ".join(parts)

    @classmethod
    def applied_by(cls, record: dict) -> Calibration:
        """What a calibration.json record applies (its "applied"); nothing for an empty record."""
        applied = record.get("applied") or {}
        return cls(temperature=float(applied.get("temperature", 1.0)), threshold=applied.get("threshold"))

    @classmethod
    def applied_in(cls, run_dir: str | Path) -> Calibration:
        """What a run applies; nothing for a run without calibration.json."""
        return cls.applied_by(read_calibration(run_dir))


def fit_temperature(logits: np.ndarray, label_ids: np.ndarray) -> float:
    """The T that minimises the negative log-likelihood of softmax(logits / T) on these rows."""
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    logits = np.asarray(logits, dtype=np.float64)
    rows = np.arange(len(label_ids))

    def negative_log_likelihood(log_temperature: float) -> float:
        return float(-log_softmax(logits / math.exp(log_temperature), axis=1)[rows, label_ids].mean())

    bounds = tuple(math.log(bound) for bound in TEMPERATURE_BOUNDS)
    result = minimize_scalar(negative_log_likelihood, bounds=bounds, method="bounded")
    return float(math.exp(result.x))


def best_threshold(positive_probabilities: np.ndarray, is_positive: np.ndarray, metric: str) -> float:
    """The threshold on P(positive) that maximises `metric` (one of THRESHOLD_METRICS) on these rows.

    Every distinct cut is scored at once from scikit-learn's ROC counts; a cut lies halfway between
    two neighbouring probabilities, and among equally good cuts the one nearest 0.5 wins.
    """
    from sklearn.metrics import roc_curve

    scores = np.asarray(positive_probabilities, dtype=np.float64)
    truth = np.asarray(is_positive).astype(int)
    positives, negatives = truth.sum(), len(truth) - truth.sum()
    if positives == 0 or negatives == 0:
        return 0.5
    false_rate, true_rate, cuts = roc_curve(truth, scores, drop_intermediate=False)
    tp, fp = true_rate * positives, false_rate * negatives
    fn, tn = positives - tp, negatives - fp
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == "accuracy":
            values = (tp + tn) / len(truth)
        elif metric == "matthews_correlation":
            values = (tp * tn - fp * fn) / np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        else:
            values = 2 * tp / (2 * tp + fp + fn)
    values = np.nan_to_num(values, nan=-np.inf)
    # cuts[0] is +inf (nothing positive); cuts[i] predicts positive for scores >= cuts[i].
    midpoints = (np.minimum(cuts, 1.0) + np.append(cuts[1:], 0.0)) / 2
    if cuts[1] >= 1.0:  # the highest probability is 1: only a cut above 1 predicts nothing positive
        midpoints[0] = np.nextafter(1.0, 2.0)
    best = np.flatnonzero(values >= values.max() - 1e-12)
    return float(midpoints[best[np.argmin(np.abs(midpoints[best] - 0.5))]])


@dataclass
class CrossFit:
    """One way of calibrating, scored on the validation rows by cross-fitting."""

    name: str
    use_temperature: bool
    use_threshold: bool
    final: Calibration  # fitted on every validation row: what would be applied
    folds: list[Calibration]
    probabilities: np.ndarray  # out of fold: each row calibrated by what the other folds fitted
    predicted_ids: np.ndarray


def fit(logits: np.ndarray, label_ids: np.ndarray, use_temperature: bool, use_threshold: bool,
        threshold_metric: str) -> Calibration:
    temperature = fit_temperature(logits, label_ids) if use_temperature else 1.0
    threshold = None
    if use_threshold:
        probabilities = Calibration(temperature).probabilities(logits, SINGLE_LABEL)
        threshold = best_threshold(probabilities[:, 1], label_ids == 1, threshold_metric)
    return Calibration(temperature, threshold)


def cross_fit(logits: np.ndarray, label_ids: np.ndarray, name: str, use_temperature: bool, use_threshold: bool,
              threshold_metric: str, folds: int, seed: int) -> CrossFit:
    """Fit on all folds but one, apply to that one, for every fold; and once on all rows."""
    from sklearn.model_selection import StratifiedKFold

    probabilities = np.zeros(logits.shape, dtype=np.float64)
    predicted = np.zeros(len(label_ids), dtype=int)
    fitted = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fit_rows, held_out in splitter.split(logits, label_ids):
        calibration = fit(logits[fit_rows], label_ids[fit_rows], use_temperature, use_threshold, threshold_metric)
        probabilities[held_out] = calibration.probabilities(logits[held_out], SINGLE_LABEL)
        predicted[held_out] = calibration.predicted_ids(probabilities[held_out])
        fitted.append(calibration)
    final = fit(logits, label_ids, use_temperature, use_threshold, threshold_metric)
    return CrossFit(name, use_temperature, use_threshold, final, fitted, probabilities, predicted)


def threshold_metric_for(metric: str) -> str:
    """The run's metric if a threshold can maximise it, else F1 of the positive class."""
    return metric if metric in THRESHOLD_METRICS else "f1"


def measure_calibration(logits: np.ndarray, label_ids: np.ndarray, labels: list[str], metric: str, seed: int,
            apply_temperature: bool = False, apply_threshold: bool = False) -> dict | None:
    """calibration.json's content for a run's validation logits: each way of calibrating, cross-fitted
    and scored next to the model as trained, and what is applied. None when a class has fewer
    validation rows than two folds need (then nothing is applied either)."""
    from textclf.runs.scores import decision_scores

    logits = np.asarray(logits, dtype=np.float64)
    label_ids = np.asarray(label_ids).astype(int)
    counts = np.bincount(label_ids, minlength=len(labels))
    present = counts[counts > 0]
    if len(present) < 2 or present.min() < 2:
        logger.warning("Calibration not measured: a class has fewer than 2 validation rows to cross-fit on")
        return None
    folds = int(min(FOLDS, present.min()))
    threshold_metric = threshold_metric_for(metric)
    binary = len(labels) == 2
    if apply_threshold and not binary:
        logger.warning("--tune_threshold: %d classes, not 2; no threshold is tuned", len(labels))
        apply_threshold = False
    ways = [(AS_TRAINED, False, False), ("temperature scaling", True, False)]
    if binary:
        ways.append(("temperature scaling + tuned threshold", True, True))
        if apply_threshold and not apply_temperature:
            ways.append(("tuned threshold", False, True))
    results = [cross_fit(logits, label_ids, *way, threshold_metric, folds, seed) for way in ways]
    asked = (apply_temperature, apply_threshold)
    applied = next((r.final for r in results if (r.use_temperature, r.use_threshold) == asked), Calibration())
    logger.info("Calibration measured on %d validation rows (%d folds); applied: %s", len(label_ids), folds,
                applied.describe(labels) or "nothing")
    return {
        "applied": {"temperature": applied.temperature, "threshold": applied.threshold},
        "metric": metric,
        "threshold_metric": threshold_metric if binary else None,
        "positive_class": labels[1] if binary else None,
        "rows": int(len(label_ids)),
        "folds": folds,
        "seed": seed,
        "measured": [
            {
                "name": result.name,
                "temperature": result.final.temperature,
                "threshold": result.final.threshold,
                "folds": [{"temperature": c.temperature, "threshold": c.threshold} for c in result.folds],
                "validation": decision_scores(label_ids, result.probabilities, result.predicted_ids, metric),
            }
            for result in results
        ],
    }


def read_calibration(run_dir: str | Path) -> dict:
    """A run's calibration.json; {} for runs without one."""
    return read_optional_json(Path(run_dir) / CALIBRATION)


def write_calibration(run_dir: str | Path, content: dict) -> Path:
    return write_json_atomically(Path(run_dir) / CALIBRATION, content)
