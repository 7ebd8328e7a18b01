"""Accuracy: a local copy of the hub `accuracy` metric for `evaluate.load`."""

import evaluate
from sklearn.metrics import accuracy_score

from ._shared import metric_info

_DESCRIPTION = """
Accuracy is the proportion of correct predictions among the total number of cases processed:
(TP + TN) / (TP + TN + FP + FN). With config_name="multilabel" it is the subset accuracy:
a sample counts as correct only if its whole multi-hot label vector is predicted exactly.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): Predicted labels (multi-hot lists with config_name="multilabel").
    references (`list` of `int`): Ground truth labels, shaped like `predictions`.
    normalize (`bool`): If False, return the number of correctly classified samples
        instead of their fraction. Defaults to True.
    sample_weight (`list` of `float`): Sample weights. Defaults to None.
Returns:
    accuracy (`float`): between 0 and 1 (or a count with normalize=False), higher is better.
"""


class Accuracy(evaluate.Metric):
    def _info(self):
        return metric_info(self, "classification", "accuracy_score", _DESCRIPTION, _KWARGS_DESCRIPTION)

    def _compute(self, predictions, references, normalize=True, sample_weight=None):
        score = accuracy_score(references, predictions, normalize=normalize, sample_weight=sample_weight)
        return {"accuracy": float(score)}
