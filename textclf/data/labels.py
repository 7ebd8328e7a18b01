"""Decide the problem type from the label column and build the label list, as upstream does, minus its bugs.

Upstream rules kept: float labels mean regression (unless `--do_regression` says otherwise), list
labels mean multi-label, and the label list is the sorted union of the labels of all splits.
Fixed here: list features of datasets 5.x (no `.dtype`), missing labels counted as a class,
"10" sorted before "2", class names of hub datasets lost, and int columns that pandas turned into
floats because of an empty cell being taken for regression.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from datasets import ClassLabel, Dataset, DatasetDict, Features, LargeList, List, Value

from textclf import UserInputError
from textclf.missing import is_none_nan_or_no_label, is_none_or_nan
from textclf.problem_types import MULTI_LABEL, REGRESSION, SINGLE_LABEL

logger = logging.getLogger(__name__)

LABEL = "label"


def is_multi_label_feature(feature) -> bool:
    return isinstance(feature, (List, LargeList))


def is_float_feature(feature) -> bool:
    return isinstance(feature, Value) and feature.dtype in ("float16", "float32", "float64")


def infer_problem_type(raw_datasets: DatasetDict, labelled_splits: list[str], do_regression: bool | None) -> str:
    """regression, multi-label or single-label classification, from the first labelled split."""
    split = labelled_splits[0]
    feature = raw_datasets[split].features[LABEL]
    if is_multi_label_feature(feature):
        if do_regression:
            raise UserInputError("--do_regression True: the labels are lists, which means multi-label classification")
        logger.info("Label type is list, doing multi-label classification")
        return MULTI_LABEL
    if do_regression is not None:
        return REGRESSION if do_regression else SINGLE_LABEL
    if not is_float_feature(feature):
        return SINGLE_LABEL
    values = raw_datasets[split].unique(LABEL)
    present = [v for v in values if not is_none_nan_or_no_label(v)]
    if len(present) < len(values) and all(float(v).is_integer() for v in present):
        # pandas reads an integer column with an empty cell as float: these are classes.
        logger.warning(
            "Labels are whole numbers with some missing, read as floats: doing classification "
            "(pass --do_regression True for regression)"
        )
        return SINGLE_LABEL
    return REGRESSION


def canonical_label(value, class_names: list[str] | None = None) -> str | None:
    """The string a class is known by: "1" for 1 and 1.0, the class name for ClassLabel ids."""
    if is_none_nan_or_no_label(value):
        return None
    if class_names is not None:
        return class_names[value]
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def normalize_labels(raw_datasets: DatasetDict, problem_type: str, labelled_splits: list[str]) -> DatasetDict:
    """Labels as strings (lists of strings for multi-label) or float32 for regression."""
    for split in labelled_splits:
        dataset = raw_datasets[split]
        feature = dataset.features[LABEL]
        if problem_type == REGRESSION:
            if not is_float_feature(feature):
                logger.warning("Label type for %s set to float32, was %s", split, feature)
                try:
                    dataset = dataset.cast_column(LABEL, Value("float32"))
                except (TypeError, ValueError) as error:
                    raise UserInputError(
                        f"{split} labels are not numbers, so regression is impossible; "
                        "try --do_regression False"
                    ) from error
        elif problem_type == MULTI_LABEL:
            dataset = dataset.map(
                lambda batch: {LABEL: [None if v is None else [str(x) for x in v] for v in batch[LABEL]]},
                batched=True,
                features=Features({**dataset.features, LABEL: List(Value("string"))}),
                desc=f"Reading {split} labels",
            )
        else:
            class_names = feature.names if isinstance(feature, ClassLabel) else None
            dataset = dataset.map(
                lambda batch: {LABEL: [canonical_label(v, class_names) for v in batch[LABEL]]},
                batched=True,
                features=Features({**dataset.features, LABEL: Value("string")}),
                desc=f"Reading {split} labels",
            )
        raw_datasets[split] = dataset
    return raw_datasets


def drop_rows_without_label(raw_datasets: DatasetDict, splits: list[str], sources: dict[str, str]) -> DatasetDict:
    """Training and evaluation need a label on every row: drop the others, saying how many."""
    for split in splits:
        dataset = raw_datasets[split]
        kept = dataset.filter(lambda batch: [not is_none_or_nan(v) for v in batch[LABEL]], batched=True)
        dropped = dataset.num_rows - kept.num_rows
        if dropped:
            logger.warning("%s: dropped %d of %d rows that have no label", sources[split], dropped, dataset.num_rows)
        if kept.num_rows == 0:
            raise UserInputError(f"{sources[split]}: no row has a label")
        raw_datasets[split] = kept
    return raw_datasets


def sort_labels(labels: set[str]) -> list[str]:
    """Numeric order for numeric labels ("2" before "10"), alphabetical otherwise."""
    try:
        return sorted(labels, key=float)
    except ValueError:
        return sorted(labels)


def class_names_of(raw_datasets: DatasetDict, split: str) -> list[str] | None:
    """The class names of a hub dataset's ClassLabel column (read before normalize_labels)."""
    feature = raw_datasets[split].features[LABEL]
    return feature.names if isinstance(feature, ClassLabel) else None


def build_label_list(
    raw_datasets: DatasetDict,
    problem_type: str,
    labelled_splits: list[str],
    sources: dict[str, str],
    class_names: list[str] | None = None,
) -> list[str]:
    """The sorted union of the labels of all labelled splits, warning about labels unseen in training.

    A hub dataset's own class order (`class_names`) is kept instead of sorting.
    """
    labels_by_split = {}
    for split in labelled_splits:
        values = raw_datasets[split][LABEL]
        if problem_type == MULTI_LABEL:
            labels_by_split[split] = {label for row in values if row is not None for label in row}
        else:
            labels_by_split[split] = {v for v in values if v is not None}
    label_list = set().union(*labels_by_split.values())
    if "train" in labels_by_split:
        for split, labels in labels_by_split.items():
            unseen = labels - labels_by_split["train"]
            if unseen:
                logger.warning("Labels %s in %s set but not in training set, adding them to the label list", unseen, split)
    if class_names is not None:
        ordered = list(class_names)
    else:
        ordered = sort_labels(label_list)
    if len(ordered) < 2:
        found = repr(ordered[0]) if ordered else "none"
        raise UserInputError(
            f"{sources[labelled_splits[0]]}: classification needs at least two classes in the label column, "
            f"found {found}"
        )
    return ordered


def rename_label_column(raw_datasets: DatasetDict, label_column_name: str | None, sources: dict[str, str]) -> list[str]:
    """Rename the label column to "label" where a split has it; return the splits that have labels.

    A test file without the label column (Kaggle's test.csv) is fine: it is only predicted on.
    """
    name = label_column_name or LABEL
    labelled = []
    for split in ("train", "validation", "test"):
        if split not in raw_datasets:
            continue
        columns = raw_datasets[split].column_names
        if name not in columns:
            if split != "test":
                raise UserInputError(
                    f"{sources[split]}: no label column {name!r} (--label_column_name); columns are: {', '.join(columns)}"
                )
            continue
        if name != LABEL:
            if LABEL in columns:
                raise UserInputError(
                    f"{sources[split]}: has both {name!r} and 'label' columns; drop one "
                    "(run_classification.py: --remove_columns label)"
                )
            raw_datasets[split] = raw_datasets[split].rename_column(name, LABEL)
        labelled.append(split)
    return labelled


def read_labels(raw_datasets: DatasetDict, problem_type: str, labelled_splits: list[str],
                sources: dict[str, str]) -> tuple[DatasetDict, list[str] | None]:
    """Labels normalised for the problem type; train and validation rows without one dropped (test rows are
    all kept: each gets a prediction). Also returns a hub dataset's class names, read first."""
    class_names = class_names_of(raw_datasets, labelled_splits[0])
    raw_datasets = normalize_labels(raw_datasets, problem_type, labelled_splits)
    needing_labels = [split for split in labelled_splits if split in ("train", "validation")]
    return drop_rows_without_label(raw_datasets, needing_labels, sources), class_names


def read_single_label_classes(raw_datasets: DatasetDict, label_column_name: str | None, sources: dict[str, str],
                              trainer: str, class_names: dict[str, str] | None = None
                              ) -> tuple[DatasetDict, list[str], list[str]]:
    """Labels read as run_classification.py reads them (named by --class_names' `class_names`), for a
    trainer that predicts one class per text only (`trainer` names it in the error for other labels):
    the data, the class list, the labelled splits."""
    labelled = rename_label_column(raw_datasets, label_column_name, sources)
    problem_type = infer_problem_type(raw_datasets, labelled, do_regression=None)
    if problem_type != SINGLE_LABEL:
        raise UserInputError(
            f"{sources['train']}: the labels mean {problem_type.replace('_', ' ')}; {trainer} does single-label classification only"
        )
    raw_datasets, hub_class_names = read_labels(raw_datasets, problem_type, labelled, sources)
    raw_datasets, order = apply_class_names(raw_datasets, problem_type, labelled, class_names or {}, hub_class_names)
    return raw_datasets, build_label_list(raw_datasets, problem_type, labelled, sources, order), labelled


CLASS_NAMES_EXAMPLE = '{"0": "not disaster", "1": "disaster"}'


def read_class_names(value: str | None) -> dict[str, str]:
    """--class_names: a JSON object of label value -> name, or the path of a JSON file holding one."""
    if not value:
        return {}
    text = value
    if not value.lstrip().startswith(("{", "[")):  # else a file name
        if not Path(value).is_file():
            raise UserInputError(f"--class_names {value}: neither a JSON object such as {CLASS_NAMES_EXAMPLE} nor a file")
        text = Path(value).read_text(encoding="utf-8")
    try:
        names = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserInputError(f"--class_names: not valid JSON ({error}); for example {CLASS_NAMES_EXAMPLE}") from None
    if not isinstance(names, dict) or not all(isinstance(name, str) and name.strip() for name in names.values()):
        raise UserInputError(f"--class_names: expected a JSON object of label value to name, such as {CLASS_NAMES_EXAMPLE}")
    return {str(value): name for value, name in names.items()}


def apply_class_names(raw_datasets: DatasetDict, problem_type: str, labelled_splits: list[str], names: dict[str, str],
                      hub_class_names: list[str] | None) -> tuple[DatasetDict, list[str] | None]:
    """Rename the label values of the data (read by read_labels) to `names`; values not named keep theirs.

    Also returns the class order to train with: the order of the values (numeric, as build_label_list
    sorts them, or a hub dataset's), so that naming does not move the positive class of a binary problem
    (tweets: "1", "disaster", stays id 1 although "disaster" sorts before "not disaster").
    """
    if not names:
        return raw_datasets, hub_class_names
    if problem_type == REGRESSION:
        raise UserInputError("--class_names: a regression run has scores, not classes to name")
    found: set[str] = set()
    for split in labelled_splits:
        for value in raw_datasets[split][LABEL]:
            if value is not None:
                found.update(value if problem_type == MULTI_LABEL else [value])
    if found:
        unknown = sorted(set(names) - found)
        if len(unknown) == len(names):
            raise UserInputError(f"--class_names: none of {unknown} is a label of the data; its labels are {sort_labels(found)}")
        if unknown:
            logger.warning("--class_names: %s not among the labels of the data %s", unknown, sort_labels(found))
    order = list(hub_class_names) if hub_class_names is not None else sort_labels(found) if found else None
    named = [names.get(value, value) for value in (order or sort_labels(set(names)))]
    if len(set(named)) < len(named):
        raise UserInputError(f"--class_names: two classes would have the same name: {named}")

    def rename(value):
        if value is None:
            return None
        return [names.get(v, v) for v in value] if problem_type == MULTI_LABEL else names.get(value, value)

    for split in labelled_splits:
        raw_datasets[split] = raw_datasets[split].map(
            lambda batch: {LABEL: [rename(value) for value in batch[LABEL]]}, batched=True,
            features=raw_datasets[split].features, desc=f"Naming {split} labels",
        )
    logger.info("Class names: %s", {value: names[value] for value in names if value in found or not found})
    return raw_datasets, None if order is None else named


def problem_type_from_config(config) -> str:
    """The problem type of a trained model, for data without labels to infer it from."""
    return config.problem_type or (REGRESSION if config.num_labels == 1 else SINGLE_LABEL)


def labels_of_trained_model(config, raw_datasets: DatasetDict, problem_type: str, labelled_splits: list[str],
                            sources: dict[str, str]) -> list[str]:
    """Without training, the classes are the model's own; the data must not have others."""
    label_list = [config.id2label[i] for i in range(config.num_labels)]
    logger.info("using label infos in the model config: %s", config.label2id)
    for split in labelled_splits:
        values = raw_datasets[split][LABEL]
        found = {v for row in values if row is not None for v in (row if problem_type == MULTI_LABEL else [row])}
        unknown = found - set(label_list)
        if unknown:
            raise UserInputError(
                f"{sources[split]}: labels {sorted(unknown)} are not among the model's labels {label_list}; "
                "train with --do_train, or check --label_column_name"
            )
    return label_list


def encode_label(label, label_to_id: dict[str, int], problem_type: str) -> int | list[float]:
    """Class id, or a multi-hot float vector (BCE loss needs floats); -1 for a missing label."""
    if problem_type == MULTI_LABEL:
        vector = [0.0] * len(label_to_id)
        for name in label or []:
            vector[label_to_id[name]] = 1.0
        return vector
    return -1 if label is None else label_to_id[label]


def every_row_labelled(dataset: Dataset, problem_type: str) -> bool:
    """After encoding, a missing class label is -1 and a missing regression target None."""
    if problem_type == MULTI_LABEL:
        return False  # a missing list encodes as "no label", indistinguishable from a real empty set
    return all(label is not None and label != -1 for label in dataset[LABEL])


def evaluation_split(raw_datasets: DatasetDict, labelled_splits: list[str]) -> Dataset:
    """The validation split, else (as upstream, with a warning) the test split if it has labels."""
    if "validation" in raw_datasets:
        return raw_datasets["validation"]
    if "test" in labelled_splits:
        logger.warning("Validation dataset not found. Falling back to test dataset for validation.")
        test = raw_datasets["test"]
        labelled = test.filter(lambda batch: [v is not None and v != -1 for v in batch[LABEL]], batched=True)
        if labelled.num_rows < test.num_rows:
            logger.warning("Evaluating on the %d of %d test rows that have a label", labelled.num_rows, test.num_rows)
        return labelled
    raise UserInputError("--do_eval needs labelled data: pass --validation_file (or a test file with labels)")
