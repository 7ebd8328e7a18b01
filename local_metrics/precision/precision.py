"""Precision: a local copy of the hub `precision` metric for `evaluate.load`."""

import evaluate
from sklearn.metrics import precision_score

from ._shared import precision_recall_f1_compute, precision_recall_f1_info


class Precision(evaluate.Metric):
    def _info(self):
        return precision_recall_f1_info(
            self, "precision", "Precision is the fraction of positive predictions that are correct: TP / (TP + FP)."
        )

    # compute(predictions, references, labels=None, pos_label=1, average="binary", sample_weight=None,
    # zero_division="warn") -> {"precision": float, or list of floats when average=None}
    _compute = precision_recall_f1_compute(precision_score, "precision")
