"""Mean squared error: a local copy of the hub `mse` metric for `evaluate.load`."""

import evaluate
from sklearn.metrics import mean_squared_error, root_mean_squared_error

from ._shared import REGRESSION_INPUTS_DESCRIPTION, metric_info, to_python

_DESCRIPTION = """
Mean Squared Error (MSE) is the average of the squared differences between the predicted and
the actual values; with squared=False its square root (RMSE). With config_name="multilist"
each prediction/reference is a list of values (one per output).
"""

_KWARGS_DESCRIPTION = REGRESSION_INPUTS_DESCRIPTION.format(
    key="mse",
    extra_args="\n    squared (`bool`): If False, return the RMSE (per output, then averaged). Defaults to True.",
)


class Mse(evaluate.Metric):
    def _info(self):
        return metric_info(self, "regression", "mean_squared_error", _DESCRIPTION, _KWARGS_DESCRIPTION)

    def _compute(self, predictions, references, sample_weight=None, multioutput="uniform_average", squared=True):
        # scikit-learn 1.6 dropped mean_squared_error(squared=False); root_mean_squared_error is its replacement
        error_fn = mean_squared_error if squared else root_mean_squared_error
        error = error_fn(references, predictions, sample_weight=sample_weight, multioutput=multioutput)
        return {"mse": to_python(error)}
