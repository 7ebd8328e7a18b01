"""The three kinds of problem a run solves, and what its logits mean for each.

The names are transformers' `problem_type` values, recorded as `problem_type` in run_info.json. This module
needs only numpy, so the web demo (and a Hugging Face Space, which ships it) turns logits into
probabilities exactly as training wrote them into predictions.csv.
"""

from __future__ import annotations

import numpy as np

SINGLE_LABEL = "single_label_classification"
MULTI_LABEL = "multi_label_classification"
REGRESSION = "regression"


def logits_of(outputs):
    """A classifier's class scores among its outputs: the first one.

    Encoder-decoder classifiers (T5ForSequenceClassification) also return the encoder's last hidden
    states, and the Trainer hands every output on as a tuple; encoders return the logits alone.
    """
    return outputs[0] if isinstance(outputs, (tuple, list)) else outputs


def logits_to_predictions(logits: np.ndarray, problem_type: str) -> np.ndarray:
    """Scores for regression, multi-hot vectors (logit > 0) for multi-label, class ids otherwise."""
    if problem_type == REGRESSION:
        return np.squeeze(logits, axis=-1) if logits.ndim > 1 else logits
    if problem_type == MULTI_LABEL:
        return (logits > 0).astype(int)
    return np.argmax(logits, axis=1)


def logits_to_probabilities(logits: np.ndarray, problem_type: str) -> np.ndarray:
    """Softmax over classes, a sigmoid per label for multi-label, the score itself for regression."""
    logits = np.asarray(logits, dtype=np.float64)
    if problem_type == REGRESSION:
        return logits.reshape(len(logits), -1)
    if problem_type == MULTI_LABEL:
        return 1.0 / (1.0 + np.exp(-logits))
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def prediction_names(predictions: np.ndarray, problem_type: str, id2label: dict[int, str]) -> list:
    """Label names for class ids, lists of names for multi-hot rows, scores for regression."""
    if problem_type == REGRESSION:
        return [float(p) for p in predictions]
    if problem_type == MULTI_LABEL:
        return [[id2label[i] for i in np.flatnonzero(row)] for row in predictions]
    return [id2label[int(p)] for p in predictions]
