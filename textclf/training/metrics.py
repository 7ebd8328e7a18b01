"""Resolve `--metric_name` to our own evaluate modules and turn logits into metric values.

Upstream `evaluate.load("accuracy")` fetches the metric script from the hub at every run, which
fails behind a firewall. Standard names resolve to `local_metrics/<name>/<name>.py` instead; any
path to a metric script or folder works as with evaluate itself.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from textclf import REPO_ROOT, UserInputError
from textclf.models.offline import hub_is_reachable
from textclf.problem_types import MULTI_LABEL, SINGLE_LABEL, logits_of, logits_to_predictions

logger = logging.getLogger(__name__)

LOCAL_METRICS_DIR = REPO_ROOT / "local_metrics"


def local_metric_names() -> list[str]:
    return sorted(p.name for p in LOCAL_METRICS_DIR.iterdir() if (p / f"{p.name}.py").exists())


def resolve_metric(name: str) -> tuple[str, bool]:
    """Return (what evaluate.load receives, whether it is local)."""
    path = Path(name)
    if not path.exists() and (REPO_ROOT / name).exists():
        path = REPO_ROOT / name  # `local_metrics/accuracy` works from any working directory
    if path.is_file():
        return str(path.resolve()), True
    if path.is_dir():
        if not (path / f"{path.name}.py").exists():
            raise UserInputError(f"--metric_name {name}: a metric folder must contain {path.name}.py")
        return str(path.resolve()), True
    looks_like_path = name.endswith(".py") or name.startswith((".", "/")) or name.count("/") > 1
    if looks_like_path:
        raise UserInputError(f"--metric_name {name}: no such metric script or folder")
    local_script = LOCAL_METRICS_DIR / name / f"{name}.py"
    if local_script.exists():
        return str(local_script), True
    return name, False


def load_metric(name: str, problem_type: str, cache_dir: str | None = None):
    """Load a metric with evaluate, the multilabel config for multi-label tasks as upstream does."""
    import evaluate

    target, is_local = resolve_metric(name)
    if not is_local and not hub_is_reachable():
        raise UserInputError(
            f"--metric_name {name}: not one of our local metrics ({', '.join(local_metric_names())}) nor a "
            "metric script path, and the Hugging Face Hub cannot be reached to fetch it"
        )
    config_name = "multilabel" if problem_type == MULTI_LABEL else None
    try:
        metric = evaluate.load(target, config_name=config_name, cache_dir=cache_dir)
    except (ValueError, KeyError) as error:
        raise UserInputError(f"--metric_name {name}: could not load it ({error})") from error
    logger.info("Using metric %s from %s", name, target)
    return metric


def metric_compute_kwargs(metric, problem_type: str, label_list: list[str] | None) -> dict:
    """Averaging for metrics that take `average`.

    sklearn-style f1/precision/recall default to `average="binary"`, which crashes on more than two
    classes; upstream passes nothing and crashes. Multi-class single-label runs use macro averaging,
    multi-label runs micro averaging (as upstream). Binary runs keep the score of the class with
    id 1. Other metrics with an `average` (matthews_correlation) get macro on multi-label data.
    """
    average = inspect.signature(metric._compute).parameters.get("average")
    if average is None:
        return {}
    binary_by_default = average.default == "binary"
    if problem_type == MULTI_LABEL:
        return {"average": "micro" if binary_by_default else "macro"}
    if problem_type == SINGLE_LABEL and binary_by_default and label_list is not None:
        if len(label_list) > 2:
            logger.info("%s on %d classes: using macro averaging", metric.name, len(label_list))
            return {"average": "macro"}
        logger.info("%s on two classes: scoring the positive class %r (id 1)", metric.name, label_list[1])
    return {}


def make_compute_metrics(metric, problem_type: str, label_list: list[str] | None) -> Callable:
    kwargs = metric_compute_kwargs(metric, problem_type, label_list)

    def compute_metrics(prediction) -> dict:
        predictions = logits_to_predictions(logits_of(prediction.predictions), problem_type)
        result = metric.compute(predictions=predictions, references=prediction.label_ids, **kwargs)
        if len(result) > 1:
            result["combined_score"] = float(np.mean([v for v in result.values() if np.isscalar(v)]))
        return result

    return compute_metrics
