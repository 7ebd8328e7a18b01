"""A run's data files read back: the validation texts behind its eval_predictions.csv.

The texts are not in the run folder; they are read from the validation file named in run_info.json
(where the run was trained), matched by row order and checked against the labels. A Space carries
no data, so this module stays out of its bundle (build_space.LEFT_OUT_OF_SPACE).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from textclf import UserInputError
from textclf.missing import is_none_nan_blank_or_no_label
from textclf.runs.folder import RunInfo, find_data_file


def label_value(value) -> str:
    """A label cell as run_classification.py names the class: "1" for 1, 1.0 and "1.0"."""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def validation_texts(run_dir: Path, info: RunInfo, table: pd.DataFrame) -> tuple[list[str] | None, str]:
    """The texts behind eval_predictions.csv's rows, or None and why not.

    eval_predictions.csv is in data order: the validation file's rows that have a label (training
    drops the others), the first --max_eval_samples of them. The labels must agree row by row,
    else the rows are not the ones scored and no text is shown.
    """
    from textclf.data.loading import join_text_columns
    from textclf.tables import read_table

    name = info.data_file("validation")
    path = find_data_file(name, run_dir)
    if path is None:
        return None, f"the validation file `{name}` is not where the run was trained"
    try:
        data = read_table(path)
    except UserInputError as error:
        return None, str(error)
    if not set(info.text_columns) <= set(data.columns) or info.label_column not in data.columns:
        return None, f"`{name}` does not have the run's columns"
    data = data[~data[info.label_column].map(is_none_nan_blank_or_no_label)].head(len(table))
    names = [info.class_names.get(label_value(v), label_value(v)) for v in data[info.label_column]]
    if len(data) < len(table) or names != table["label"].astype(str).tolist():
        return None, f"the rows of `{name}` no longer match eval_predictions.csv"
    texts = join_text_columns({c: data[c].tolist() for c in info.text_columns}, info.text_columns, " ")
    return texts, ""
