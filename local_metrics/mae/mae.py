"""Mean absolute error: a local copy of the hub `mae` metric for `evaluate.load`."""

import evaluate
from sklearn.metrics import mean_absolute_error

from ._shared import REGRESSION_INPUTS_DESCRIPTION, metric_info, to_python

_DESCRIPTION = """
Mean Absolute Error (MAE) is the average of the absolute differences between the predicted and
the actual values. With config_name="multilist" each prediction/reference is a list of values
(one per output).
"""

_KWARGS_DESCRIPTION = REGRESSION_INPUTS_DESCRIPTION.format(key="mae", extra_args="")


class Mae(evaluate.Metric):
    def _info(self):
        return metric_info(self, "regression", "mean_absolute_error", _DESCRIPTION, _KWARGS_DESCRIPTION)

    def _compute(self, predictions, references, sample_weight=None, multioutput="uniform_average"):
        error = mean_absolute_error(references, predictions, sample_weight=sample_weight, multioutput=multioutput)
        return {"mae": to_python(error)}
