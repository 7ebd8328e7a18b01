#!/usr/bin/env python
"""TF-IDF + logistic regression: the baseline every fine-tuned transformer is read against.

It is what many users would pick instead of a transformer: it trains in seconds on a CPU. It reads
the same files and columns as run_classification.py (same loading, text-column joining and label
rules) and writes the files the run report and the model comparison read, under the same names:
run_info.json, train/eval/test/all_results.json (Trainer's keys), eval_predictions.csv,
predictions.csv, predict_results.txt, validation_metrics.json, test_metrics.json and report.md.
The fitted pipeline is saved as model.joblib, so its size on disk compares with a transformer's.

    python tfidf_baseline.py --train_file data/imdb/train.csv --validation_file data/imdb/validation.csv \\
        --test_file data/imdb/test.csv --text_column_names text --label_column_name label \\
        --output_dir experiments/imdb-tfidf
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from pathlib import Path

import joblib
import numpy as np
from datasets import Dataset, DatasetDict
from sklearn.pipeline import Pipeline

from textclf import UserInputError, exit_code_of
from textclf.data.labels import LABEL, read_class_names, read_single_label_classes
from textclf.data.loading import join_text_columns, load_data_files, resolve_text_columns, unescape_delimiter
from textclf.missing import is_none_nan_or_no_label
from textclf.problem_types import SINGLE_LABEL
from textclf.reports.report import write_run_report
from textclf.runs.folder import (
    ALL_RESULTS,
    BASELINE_MODEL,
    BASELINE_MODEL_FILE,
    EVAL_PREDICTIONS,
    PREDICT_RESULTS,
    TEST_PREDICTIONS,
    RunInfo,
    begin_writing,
)
from textclf.runs.predictions import ID_COLUMN, write_predict_results, write_prediction_table
from textclf.training.baseline import TfidfSettings, build_pipeline

logger = logging.getLogger("tfidf_baseline")


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train TF-IDF + logistic regression on the files run_classification.py reads, "
        "and write the same report files."
    )
    parser.add_argument("--train_file", required=True, help="CSV/TSV/JSON(L) training file, as run_classification.py")
    parser.add_argument("--validation_file", help="scored into validation_metrics.json and eval_predictions.csv")
    parser.add_argument("--test_file", help="predicted into predictions.csv; scored too when every row has a label")
    parser.add_argument("--text_column_names", help='text column(s), comma-separated (default: "sentence", else "text")')
    parser.add_argument("--text_column_delimiter", default=" ", help='joins several text columns (escapes like "\\n" work)')
    parser.add_argument("--label_column_name", default=LABEL, help="label column (default: %(default)s)")
    parser.add_argument("--output_dir", required=True, help="where the run's files go")
    parser.add_argument("--class_names", help='readable class names for the label values, as run_classification.py: '
                                              'a JSON object such as {"0": "not disaster", "1": "disaster"} or a JSON file')
    defaults = TfidfSettings()
    parser.add_argument("--ngram_max", type=int, default=defaults.ngram_max,
                        help="word n-grams from 1 to this (default: %(default)s)")
    parser.add_argument("--min_df", type=int, default=defaults.min_df,
                        help="drop n-grams seen in fewer training texts (default: %(default)s)")
    parser.add_argument("--max_features", type=int, default=defaults.max_features,
                        help="keep only the most frequent n-grams (default: all)")
    parser.add_argument("--C", type=float, default=defaults.C,
                        help="inverse L2 regularisation strength (default: %(default)s, the best of 1, 4, 10 on the "
                             "IMDB and AG News validation splits)")
    parser.add_argument("--max_iter", type=int, default=defaults.max_iter, help="solver iterations (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="recorded with the run; the solver is deterministic")
    args = parser.parse_args(argv)
    args.text_column_delimiter = unescape_delimiter(args.text_column_delimiter)
    return args


def load_splits(args: argparse.Namespace) -> tuple[DatasetDict, dict[str, str]]:
    files = {"train": args.train_file, "validation": args.validation_file, "test": args.test_file}
    files = {split: path for split, path in files.items() if path is not None}
    return load_data_files(files), files


def prepare_labels(raw: DatasetDict, label_column: str, sources: dict[str, str],
                   class_names: dict[str, str] | None = None) -> tuple[DatasetDict, list[str], bool]:
    """Labels as run_classification.py reads them; returns the data, the class list and whether
    the test split is scored (it is when every test row has a label, like IMDB's official test)."""
    raw, labels, labelled = read_single_label_classes(raw, label_column, sources, "the TF-IDF baseline", class_names)
    test_is_scored = "test" in labelled and not any(is_none_nan_or_no_label(v) for v in raw["test"][LABEL])
    if "test" in labelled and not test_is_scored:
        logger.warning("%s: some rows have no label, so the test predictions are not scored", sources["test"])
    return raw, labels, test_is_scored


def texts_of(dataset: Dataset, text_columns: list[str], delimiter: str) -> list[str]:
    return join_text_columns({column: dataset[column] for column in text_columns}, text_columns, delimiter)


def settings_of(args: argparse.Namespace) -> TfidfSettings:
    return TfidfSettings(ngram_max=args.ngram_max, min_df=args.min_df, max_features=args.max_features, C=args.C,
                         max_iter=args.max_iter, seed=args.seed)


def fit(pipeline: Pipeline, texts: list[str], label_ids: np.ndarray, source: str) -> float:
    """Fit and return the seconds it took (vectorizer and classifier)."""
    if len(np.unique(label_ids)) < 2:
        raise UserInputError(f"{source}: the training rows hold only one class; logistic regression needs two")
    started = time.perf_counter()
    try:
        pipeline.fit(texts, label_ids)
    except ValueError as error:  # e.g. "empty vocabulary" when min_df removes every n-gram
        raise UserInputError(f"{source}: cannot fit TF-IDF + logistic regression ({error})") from error
    return time.perf_counter() - started


def predict_probabilities(pipeline: Pipeline, texts: list[str], label_count: int) -> tuple[np.ndarray, float]:
    """Class probabilities in label-list order, and the seconds prediction took from raw text."""
    started = time.perf_counter()
    fitted = pipeline.predict_proba(texts)
    seconds = time.perf_counter() - started
    # A class absent from the training rows (seen only in validation/test) gets probability 0.
    probabilities = np.zeros((len(texts), label_count))
    probabilities[:, pipeline.classes_] = fitted
    return probabilities, seconds


def timing_results(prefix: str, rows: int, seconds: float) -> dict:
    """Trainer's keys, so reports and the comparison read the baseline like a transformer run."""
    return {
        f"{prefix}_runtime": round(seconds, 4),
        f"{prefix}_samples": rows,
        f"{prefix}_samples_per_second": round(rows / seconds, 3) if seconds > 0 else None,
    }


def write_json(path: Path, content: dict) -> None:
    path.write_text(json.dumps(content, indent=4, sort_keys=True) + "\n", encoding="utf-8")


def write_results(output_dir: Path, results: dict[str, dict], test_is_scored: bool) -> None:
    """<prefix>_results.json and all_results.json, as the Trainer writes them.

    The Trainer leaves no test_results.json for an unscored test file; its prediction time is
    still in all_results.json.
    """
    for prefix, values in results.items():
        if prefix != "test" or test_is_scored:
            write_json(output_dir / f"{prefix}_results.json", values)
    merged = {key: value for values in results.values() for key, value in values.items()}
    write_json(output_dir / ALL_RESULTS, merged)


def score_split(
    pipeline: Pipeline,
    dataset: Dataset,
    split: str,
    args: argparse.Namespace,
    text_columns: list[str],
    labels: list[str],
    scored: bool,
) -> dict:
    """Predict one split, write its prediction table and return its Trainer-style results."""
    texts = texts_of(dataset, text_columns, args.text_column_delimiter)
    probabilities, seconds = predict_probabilities(pipeline, texts, len(labels))
    names = [labels[i] for i in probabilities.argmax(axis=1)]
    id2label = dict(enumerate(labels))
    output_dir = Path(args.output_dir)
    references = list(dataset[LABEL]) if scored else None
    ids = list(dataset[ID_COLUMN]) if ID_COLUMN in dataset.column_names else None
    table = EVAL_PREDICTIONS if split == "validation" else TEST_PREDICTIONS
    write_prediction_table(
        str(output_dir / table), names, probabilities, SINGLE_LABEL, id2label, ids=ids, references=references
    )
    prefix = "eval" if split == "validation" else "test"
    if split == "test":
        write_predict_results(str(output_dir / PREDICT_RESULTS), names, SINGLE_LABEL)
    results = timing_results(prefix, len(names), seconds)
    if scored:
        results[f"{prefix}_accuracy"] = float(np.mean([p == r for p, r in zip(names, references)]))
    return results


def save_model(pipeline: Pipeline, labels: list[str], output_dir: Path) -> None:
    joblib.dump({"pipeline": pipeline, "labels": labels}, output_dir / BASELINE_MODEL_FILE)


def main(argv: list[str] | None = None) -> None:
    started = time.monotonic()
    arguments = sys.argv[1:] if argv is None else argv
    args = parse_arguments(arguments)
    output_dir = Path(args.output_dir)
    raw, sources = load_splits(args)
    text_columns = resolve_text_columns(args.text_column_names, raw["train"].column_names, sources["train"])
    for split in raw:
        resolve_text_columns(",".join(text_columns), raw[split].column_names, sources[split])
    class_names = read_class_names(args.class_names)
    raw, labels, test_is_scored = prepare_labels(raw, args.label_column_name, sources, class_names)
    label2id = {label: i for i, label in enumerate(labels)}

    train = raw["train"]
    pipeline = build_pipeline(settings_of(args))
    train_ids = np.array([label2id[label] for label in train[LABEL]])
    train_seconds = fit(pipeline, texts_of(train, text_columns, args.text_column_delimiter), train_ids, sources["train"])
    logger.info("Fitted on %d rows in %.1f s", train.num_rows, train_seconds)

    begin_writing(output_dir)  # a run that was there no longer counts as finished
    output_dir.mkdir(parents=True, exist_ok=True)
    results = {"train": timing_results("train", train.num_rows, train_seconds)}
    if "validation" in raw:
        results["eval"] = score_split(pipeline, raw["validation"], "validation", args, text_columns, labels, True)
    if "test" in raw:
        results["test"] = score_split(pipeline, raw["test"], "test", args, text_columns, labels, test_is_scored)
    write_results(output_dir, results, test_is_scored)
    save_model(pipeline, labels, output_dir)

    vectorizer, classifier = pipeline.named_steps["tfidf"], pipeline.named_steps["logreg"]
    info = RunInfo(
        model=BASELINE_MODEL,
        model_path=str(output_dir / BASELINE_MODEL_FILE),
        parameters=int(classifier.coef_.size + classifier.intercept_.size),
        problem_type=SINGLE_LABEL,
        labels=labels,
        metric="accuracy",
        text_columns=text_columns,
        label_column=args.label_column_name,
        data={split: {"file": sources[split], "rows": dataset.num_rows} for split, dataset in raw.items()},
        hyperparameters={
            "ngram_range": f"1-{args.ngram_max}",
            "min_df": args.min_df,
            "max_features": args.max_features,
            "sublinear_tf": True,
            "vocabulary_size": len(vectorizer.vocabulary_),
            "C": args.C,
            "max_iter": args.max_iter,
            "solver": classifier.solver,
            "seed": args.seed,
        },
        device="cpu",
        fine_tuned=False,  # the report says "Trained", not "Fine-tuned"
        wall_time_seconds=round(time.monotonic() - started, 1),
        command=shlex.join(["python", "tfidf_baseline.py", *arguments]),
        class_names=class_names,
        finished=False,  # the report reads it; marked finished once the report is written
    )
    info.write(output_dir)
    logger.info("Done: read %s", write_run_report(output_dir))
    info.write_finished(output_dir)


def cli() -> int:
    """Entry point: problems with the user's input become one `error:` line and exit code 2."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s - %(name)s - %(message)s")
    logging.getLogger("textclf").setLevel(logging.INFO)
    return exit_code_of(main)


if __name__ == "__main__":
    sys.exit(cli())
