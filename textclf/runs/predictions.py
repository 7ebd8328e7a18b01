"""Prediction files a run writes: upstream's predict_results.txt and tables with probabilities."""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path

import numpy as np

from textclf.problem_types import REGRESSION, SINGLE_LABEL, prediction_names
from textclf.runs.calibration import Calibration
from textclf.runs.folder import ALL_RESULTS, PREDICT_RESULTS, TEST_METRICS, TEST_PREDICTIONS, RunInfo, read_optional_json

logger = logging.getLogger(__name__)

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


def write_test_predictions(run_dir: Path, batch_output: Path, test_file: str) -> int:
    """The run's test prediction files (predictions.csv, predict_results.txt) from predict.py's output on
    `test_file`, as run_classification.py --do_predict writes them: scored (a `label` column) when every
    row has a label; run_info.json records the test file. Returns the rows written."""
    import pandas as pd  # here: run_classification.py imports this module, and needs no pandas

    info = RunInfo.read(run_dir)
    id2label = dict(enumerate(info.labels or []))
    table = pd.read_csv(batch_output, dtype=str, keep_default_na=False)
    probabilities = table[[f"prob_{id2label[i]}" for i in range(len(id2label))]].replace("", "nan").astype(float).to_numpy()
    ids = table[ID_COLUMN].tolist() if ID_COLUMN in table.columns else None
    references = None
    if info.problem_type == SINGLE_LABEL and info.label_column in table.columns:
        values = table[info.label_column]
        if (values.str.strip() != "").all():  # scored only when every row has a label, as --do_predict does
            references = [info.class_names.get(value, value) for value in values]
    names = table["prediction"].tolist()
    write_prediction_table(str(Path(run_dir) / TEST_PREDICTIONS), names, probabilities, info.problem_type, id2label,
                           ids=ids, references=references)
    write_predict_results(str(Path(run_dir) / PREDICT_RESULTS), names, info.problem_type)
    info.data["test"] = {"file": test_file, "rows": len(names)}
    info.write(run_dir)
    return len(names)


def write_test_results(run_dir: Path, seconds: float) -> None:
    """Upstream's test_results.json, merged into all_results.json, as the Trainer's save_metrics("test") writes
    them, from the test metrics of the run's report (test_metrics.json, written where the test split is scored)."""
    import json

    metrics = read_optional_json(Path(run_dir) / TEST_METRICS)
    if not metrics:
        return
    info = RunInfo.read(run_dir)
    results = {f"test_{name}": value for name, value in metrics.items()
               if isinstance(value, (int, float)) and name != "rows"}
    results |= {"test_samples": metrics["rows"], "test_runtime": round(seconds, 4),
                "test_samples_per_second": round(metrics["rows"] / seconds, 3)}
    if f"test_{info.metric}" not in results:
        logger.warning("%s: the run's metric %r is not among the test metrics", run_dir, info.metric)
    for name, content in (("test_results.json", results),
                          (ALL_RESULTS, read_optional_json(Path(run_dir) / ALL_RESULTS) | results)):
        (Path(run_dir) / name).write_text(json.dumps(content, indent=4, sort_keys=True) + "\n", encoding="utf-8")
