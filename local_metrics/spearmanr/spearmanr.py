"""Spearman rank correlation: a local copy of the hub `spearmanr` metric for `evaluate.load`."""

import evaluate
from scipy.stats import spearmanr

from ._shared import correlation_result, metric_info

_DESCRIPTION = """
The Spearman rank-order correlation coefficient is the Pearson correlation of the ranks of
predictions and references: it measures how well their relationship is monotonic, from -1
through 0 (none) to +1. The p-value is that of a test whose null hypothesis is no correlation.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `float`): Predicted values.
    references (`list` of `float`): Ground truth values.
    return_pvalue (`bool`): If True, also return the p-value under "spearmanr_pvalue"
        (the key the hub metric uses). Defaults to False.
Returns:
    spearmanr (`float`): between -1 and 1.
    spearmanr_pvalue (`float`): only with return_pvalue=True.
"""


class Spearmanr(evaluate.Metric):
    def _info(self):
        return metric_info(self, "correlation", "spearmanr", _DESCRIPTION, _KWARGS_DESCRIPTION)

    def _compute(self, predictions, references, return_pvalue=False):
        pvalue_key = "spearmanr_pvalue" if return_pvalue else None
        return correlation_result("spearmanr", spearmanr(references, predictions), pvalue_key)
