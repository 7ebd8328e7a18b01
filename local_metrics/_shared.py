"""Pieces shared by the local `evaluate` metric scripts in this folder.

evaluate 0.4.6 imports a local metric script from a copy in its modules cache.
It copies along only the files the script imports as ``from .<name> import ...``
and looks for them next to the script (``..`` imports are not supported), so
each metric folder holds a symlink ``_shared.py -> ../_shared.py``.
"""

import datasets
import evaluate
import numpy as np

SKLEARN_CITATION = """\
@article{scikit-learn,
  title={Scikit-learn: Machine Learning in {P}ython},
  author={Pedregosa, F. and Varoquaux, G. and Gramfort, A. and Michel, V.
          and Thirion, B. and Grisel, O. and Blondel, M. and Prettenhofer, P.
          and Weiss, R. and Dubourg, V. and Vanderplas, J. and Passos, A. and
          Cournapeau, D. and Brucher, M. and Perrot, M. and Duchesnay, E.},
  journal={Journal of Machine Learning Research},
  volume={12},
  pages={2825--2830},
  year={2011}
}
"""

SCIPY_CITATION = """\
@article{2020SciPy-NMeth,
  author  = {Virtanen, Pauli and Gommers, Ralf and Oliphant, Travis E. and others},
  title   = {{{SciPy} 1.0: Fundamental Algorithms for Scientific Computing in Python}},
  journal = {Nature Methods},
  year    = {2020},
  volume  = {17},
  pages   = {261--272},
  doi     = {10.1038/s41592-019-0686-2},
}
"""

SKLEARN_URL = "https://scikit-learn.org/stable/modules/generated/sklearn.metrics.{}.html"
SCIPY_URL = "https://docs.scipy.org/doc/scipy/reference/generated/scipy.stats.{}.html"

PRF_DESCRIPTION = """
{definition}
For multi-class or multilabel (config_name="multilabel") data, `average` selects how the
per-label scores are combined.
"""

PRF_INPUTS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): Predicted labels (multi-hot lists with config_name="multilabel").
    references (`list` of `int`): Ground truth labels, shaped like `predictions`.
    labels (`list` of `int`): Labels to include when `average != "binary"`, in the order used
        when `average=None`. Defaults to all labels present.
    pos_label (`int`): The class to report when `average="binary"`. Defaults to 1.
    average (`str` or `None`): "binary" (default), "micro", "macro", "weighted", "samples"
        (multilabel only) or None for one score per label.
    sample_weight (`list` of `float`): Sample weights. Defaults to None.
    zero_division ("warn", 0, 1 or nan): Value used when the score is undefined
        (0 with a warning for "warn", the default).
Returns:
    {key} (`float`, or `list` of `float` when `average=None`): between 0 and 1, higher is better.
"""

REGRESSION_INPUTS_DESCRIPTION = """
Args:
    predictions (`list` of `float`): Estimated target values (lists of floats with config_name="multilist").
    references (`list` of `float`): Ground truth target values, shaped like `predictions`.
    sample_weight (`list` of `float`): Sample weights. Defaults to None.
    multioutput ("uniform_average", "raw_values" or a list of output weights): how the errors of
        several outputs are combined. Defaults to "uniform_average".{extra_args}
Returns:
    {key} (`float`, or `list` of `float` with multioutput="raw_values"): 0 or more, lower is better.
"""


# kind -> (feature dtype, name of the config with sequence features, citation, reference URL pattern)
_KINDS = {
    "classification": ("int32", "multilabel", SKLEARN_CITATION, SKLEARN_URL),
    "regression": ("float", "multilist", SKLEARN_CITATION, SKLEARN_URL),
    "correlation": ("float", None, SCIPY_CITATION, SCIPY_URL),
}


def metric_info(metric, kind, function, description, inputs_description):
    """MetricInfo for a metric of `kind` computed by the library function named `function`.

    `predictions`/`references` are single values for the default config and
    sequences (multi-hot vectors, several outputs) for the kind's sequence
    config; any other config name is an error, not a silent fallback.
    """
    dtype, sequence_config, citation, url = _KINDS[kind]
    known = ["default"] + ([sequence_config] if sequence_config else [])
    if metric.config_name not in known:
        name = type(metric).__name__
        raise ValueError(f"{name}: unknown config_name {metric.config_name!r}; expected one of {known}")
    value = datasets.Value(dtype)
    if metric.config_name == sequence_config:
        value = datasets.Sequence(value)
    return evaluate.MetricInfo(
        description=description,
        citation=citation,
        inputs_description=inputs_description,
        features=datasets.Features({"predictions": value, "references": value}),
        reference_urls=[url.format(function)],
    )


def to_python(score):
    """A plain float, or a list of floats for per-label / per-output scores."""
    array = np.asarray(score, dtype=float)
    return array.tolist() if array.ndim else float(array)


def precision_recall_f1_info(metric, key, definition):
    """`_info()` of the f1, precision and recall metrics; `definition` opens the description."""
    description = PRF_DESCRIPTION.format(definition=definition)
    return metric_info(metric, "classification", f"{key}_score", description, PRF_INPUTS_DESCRIPTION.format(key=key))


def precision_recall_f1_compute(score_fn, key):
    """The `_compute` method of the f1, precision and recall metrics, around `score_fn`."""

    def _compute(
        self,
        predictions,
        references,
        labels=None,
        pos_label=1,
        average="binary",
        sample_weight=None,
        zero_division="warn",
    ):
        score = score_fn(
            references,
            predictions,
            labels=labels,
            pos_label=pos_label,
            average=average,
            sample_weight=sample_weight,
            zero_division=zero_division,
        )
        if np.size(score) == 1:  # as the hub metrics: a single per-label score is a float too
            score = np.ravel(score)[0]
        return {key: to_python(score)}

    return _compute


def correlation_result(key, result, pvalue_key=None):
    """`{key: statistic}`, plus `{pvalue_key: p-value}` when `pvalue_key` is given."""
    output = {key: float(result.statistic)}
    if pvalue_key:
        output[pvalue_key] = float(result.pvalue)
    return output
