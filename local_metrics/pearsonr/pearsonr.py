"""Pearson correlation coefficient: a local copy of the hub `pearsonr` metric for `evaluate.load`."""

import evaluate
from scipy.stats import pearsonr

from ._shared import correlation_result, metric_info

_DESCRIPTION = """
The Pearson correlation coefficient measures the linear relationship between predictions and
references: from -1 (exact negative linear relationship) through 0 (none) to +1 (exact positive
linear relationship). The p-value is that of a test whose null hypothesis is no correlation.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `float`): Predicted values.
    references (`list` of `float`): Ground truth values.
    return_pvalue (`bool`): If True, also return the p-value under "p-value". Defaults to False.
Returns:
    pearsonr (`float`): between -1 and 1.
    p-value (`float`): only with return_pvalue=True.
"""


class Pearsonr(evaluate.Metric):
    def _info(self):
        return metric_info(self, "correlation", "pearsonr", _DESCRIPTION, _KWARGS_DESCRIPTION)

    def _compute(self, predictions, references, return_pvalue=False):
        return correlation_result("pearsonr", pearsonr(references, predictions), "p-value" if return_pvalue else None)
