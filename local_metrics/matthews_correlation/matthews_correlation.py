"""Matthews correlation coefficient: a local copy of the hub `matthews_correlation` metric."""

import evaluate
import numpy as np
from sklearn.metrics import matthews_corrcoef

from ._shared import metric_info

_DESCRIPTION = """
The Matthews correlation coefficient (MCC) measures the quality of binary and multiclass
classifications, taking true and false positives and negatives into account. It is a
correlation between -1 (total disagreement) and +1 (perfect prediction); 0 is no better than
random. With config_name="multilabel" it is computed per label (column of the multi-hot vectors).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): Predicted labels (multi-hot lists with config_name="multilabel").
    references (`list` of `int`): Ground truth labels, shaped like `predictions`.
    sample_weight (`list` of `float`): Sample weights. Defaults to None.
    average (`str` or `None`): multilabel config only: None (default) for one score per label,
        "macro" for their mean.
Returns:
    matthews_correlation (`float`, or `list` of `float` per label): between -1 and 1, higher is better.
"""


class MatthewsCorrelation(evaluate.Metric):
    def _info(self):
        return metric_info(self, "classification", "matthews_corrcoef", _DESCRIPTION, _KWARGS_DESCRIPTION)

    def _compute(self, predictions, references, sample_weight=None, average=None):
        if self.config_name != "multilabel":
            score = matthews_corrcoef(references, predictions, sample_weight=sample_weight)
            return {"matthews_correlation": float(score)}
        references, predictions = np.asarray(references), np.asarray(predictions)
        if references.ndim != 2 or predictions.ndim != 2:
            raise ValueError("For multi-label inputs, both references and predictions should be 2-dimensional")
        scores = [
            float(matthews_corrcoef(references[:, i], predictions[:, i], sample_weight=sample_weight))
            for i in range(references.shape[1])
        ]
        if average == "macro":
            return {"matthews_correlation": float(np.mean(scores))}
        if average is not None:
            raise ValueError("Invalid `average`: expected `macro`, or None")
        return {"matthews_correlation": scores}
