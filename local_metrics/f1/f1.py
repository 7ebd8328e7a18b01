"""F1 score: a local copy of the hub `f1` metric for `evaluate.load`."""

import evaluate
from sklearn.metrics import f1_score

from ._shared import precision_recall_f1_compute, precision_recall_f1_info


class F1(evaluate.Metric):
    def _info(self):
        return precision_recall_f1_info(
            self, "f1", "F1 score is the harmonic mean of precision and recall: 2 * P * R / (P + R)."
        )

    # compute(predictions, references, labels=None, pos_label=1, average="binary", sample_weight=None,
    # zero_division="warn") -> {"f1": float, or list of floats when average=None}
    _compute = precision_recall_f1_compute(f1_score, "f1")
