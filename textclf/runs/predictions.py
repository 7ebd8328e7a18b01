"""Prediction files a run writes: upstream's predict_results.txt and tables with probabilities."""

from __future__ import annotations

import csv
import os

import numpy as np

from textclf.problem_types import REGRESSION, prediction_names
from textclf.runs.calibration import Calibration

ID_COLUMN = "id"


def write_predict_results(path: str, names: list, problem_type: str) -> None:
    """Upstream's predict_results.txt: `index<TAB>prediction`, label names for classes."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as writer:
        writer.write("index\tprediction\n")
        for index, item in enumerate(names):
            writer.write(f"{index}\t{item:3.3f}\n" if problem_type == REGRESSION else f"{index}\t{item}\n")


def write_prediction_table(
    path: str,
    names: list,
    probabilities: np.ndarray,
    problem_type: str,
    id2label: dict[int, str],
    ids: list | None = None,
    references: list | None = None,
) -> None:
    """One row per example, in data order: id (when the data has one), label (when known),
    prediction, and the probability of every class (`prob_<label>`) unless it is regression."""
    columns = ([ID_COLUMN] if ids is not None else []) + (["label"] if references is not None else []) + ["prediction"]
    if problem_type != REGRESSION:
        columns += [f"prob_{id2label[i]}" for i in range(probabilities.shape[1])]
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(columns)
        for index, name in enumerate(names):
            row = [ids[index]] if ids is not None else []
            row += [format_label(references[index])] if references is not None else []
            row.append(format_label(name))
            if problem_type != REGRESSION:
                row += [f"{p:.6f}" for p in probabilities[index]]
            writer.writerow(row)


def write_logits(path: str | os.PathLike, logits: np.ndarray, problem_type: str, id2label: dict[int, str],
                 ids: list | None = None, label_ids: np.ndarray | None = None,
                 calibration: Calibration = Calibration()) -> list:
    """The prediction table of one split from the model's logits (and the true label ids when the split
    is scored), with a run's calibration applied (by default none); returns the predicted names, in data order."""
    names = prediction_names(calibration.predictions(logits, problem_type), problem_type, id2label)
    references = None if label_ids is None else prediction_names(label_ids, problem_type, id2label)
    probabilities = calibration.probabilities(logits, problem_type)
    write_prediction_table(path, names, probabilities, problem_type, id2label, ids=ids, references=references)
    return names


def format_label(value) -> str:
    return "|".join(value) if isinstance(value, list) else str(value)
