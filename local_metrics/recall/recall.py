"""Recall: a local copy of the hub `recall` metric for `evaluate.load`."""

import evaluate
from sklearn.metrics import recall_score

from ._shared import precision_recall_f1_compute, precision_recall_f1_info


class Recall(evaluate.Metric):
    def _info(self):
        return precision_recall_f1_info(
            self, "recall", "Recall is the fraction of positive references that are predicted positive: TP / (TP + FN)."
        )

    # compute(predictions, references, labels=None, pos_label=1, average="binary", sample_weight=None,
    # zero_division="warn") -> {"recall": float, or list of floats when average=None}
    _compute = precision_recall_f1_compute(recall_score, "recall")
