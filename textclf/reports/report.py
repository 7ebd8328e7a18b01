"""What a person reads after a run: validation metrics, a confusion matrix, learning curves, report.md.

Built from the files the run left in its output directory (run_info.json, trainer_state.json,
eval_predictions.csv, predictions.csv), so `python -m textclf.reports.report RUN_DIR` rebuilds it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from textclf import UserInputError, exit_code_of
from textclf.audit.review import CHANGE, CHANGES_FILE, DROP, LOG_FILE, count_decisions, load_review_data, read_log
from textclf.problem_types import MULTI_LABEL, REGRESSION, SINGLE_LABEL
from textclf.reports.analysis import analysis_section
from textclf.runs.calibration import Calibration
from textclf.runs.folder import (
    ALL_RESULTS,
    EVAL_PREDICTIONS,
    LEARNING_CURVES,
    REPORT,
    RUN_INFO,
    SUBMISSION,
    TEST_PREDICTIONS,
    TRAINER_STATE,
    RunInfo,
    find_data_file,
    read_optional_json,
    write_json_atomically,
)
from textclf.runs.data_files import label_value
from textclf.runs.scores import probability_scores
from textclf.tasks import TASKS

logger = logging.getLogger(__name__)


def split_labels(cell) -> list[str]:
    return [] if pd.isna(cell) or cell == "" else str(cell).split("|")


def validation_metrics(table: pd.DataFrame, problem_type: str, labels: list[str]) -> dict:
    """Accuracy, macro F1, positive-class scores (binary), per-class report and confusion matrix."""
    from sklearn.metrics import (
        classification_report,
        confusion_matrix,
        f1_score,
        mean_absolute_error,
        mean_squared_error,
        precision_recall_fscore_support,
    )

    if problem_type == REGRESSION:
        truth, predicted = table["label"].astype(float), table["prediction"].astype(float)
        return {
            "mse": float(mean_squared_error(truth, predicted)),
            "mae": float(mean_absolute_error(truth, predicted)),
            "pearsonr": float(np.corrcoef(truth, predicted)[0, 1]) if len(table) > 1 else float("nan"),
        }
    if problem_type == MULTI_LABEL:
        def multi_hot(column):
            return np.array([[label in split_labels(cell) for label in labels] for cell in table[column]], dtype=int)

        truth, predicted = multi_hot("label"), multi_hot("prediction")
        report = classification_report(truth, predicted, target_names=labels, output_dict=True, zero_division=0)
        return {
            "subset_accuracy": float((truth == predicted).all(axis=1).mean()),
            "micro_f1": float(f1_score(truth, predicted, average="micro", zero_division=0)),
            "macro_f1": float(f1_score(truth, predicted, average="macro", zero_division=0)),
            "per_class": {label: report[label] for label in labels},
        }
    truth, predicted = table["label"].astype(str), table["prediction"].astype(str)
    report = classification_report(truth, predicted, labels=labels, output_dict=True, zero_division=0)
    metrics = {
        "accuracy": float((truth == predicted).mean()),
        "macro_f1": float(f1_score(truth, predicted, labels=labels, average="macro", zero_division=0)),
    }
    if len(labels) == 2:
        positive = labels[1]
        precision, recall, f1, _ = precision_recall_fscore_support(
            truth, predicted, labels=[positive], average=None, zero_division=0
        )
        metrics |= {
            "positive_class": positive,
            "positive_f1": float(f1[0]),
            "positive_precision": float(precision[0]),
            "positive_recall": float(recall[0]),
        }
    metrics["per_class"] = {label: report[label] for label in labels}
    metrics["confusion_matrix"] = {
        "labels": labels,
        "rows_are": "true label",
        "columns_are": "predicted label",
        "counts": confusion_matrix(truth, predicted, labels=labels).tolist(),
    }
    return metrics


def plot_confusion_matrix(matrix: dict, path: Path, split: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.array(matrix["counts"])
    labels = matrix["labels"]
    size = max(3.5, 0.9 * len(labels) + 2)
    figure, axes = plt.subplots(figsize=(size, size * 0.85))
    image = axes.imshow(counts, cmap="Blues")
    axes.set_xticks(range(len(labels)), labels, rotation=45 if len(labels) > 3 else 0, ha="right" if len(labels) > 3 else "center")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted label")
    axes.set_ylabel("true label")
    threshold = counts.max() / 2 if counts.size else 0
    for (row, column), count in np.ndenumerate(counts):
        axes.text(column, row, str(count), ha="center", va="center", color="white" if count > threshold else "black")
    axes.set_title(f"Confusion matrix ({split})")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def learning_curve_points(state: dict, results: dict, metric_key: str) -> tuple[list, list, list, list]:
    """(steps, training losses), (steps, validation metric values) from trainer_state.json, plus
    the final evaluation (all_results.json), which comes after the state is saved."""
    log_history = state.get("log_history", [])
    loss_steps = [entry["step"] for entry in log_history if "loss" in entry]
    losses = [entry["loss"] for entry in log_history if "loss" in entry]
    eval_steps = [entry["step"] for entry in log_history if metric_key in entry]
    values = [entry[metric_key] for entry in log_history if metric_key in entry]
    final_step = state.get("global_step")
    if metric_key in results and final_step is not None and final_step not in eval_steps:
        eval_steps.append(final_step)
        values.append(results[metric_key])
    return loss_steps, losses, eval_steps, values


def plot_learning_curves(state: dict, results: dict, metric_key: str, path: Path) -> bool:
    loss_steps, losses, eval_steps, values = learning_curve_points(state, results, metric_key)
    if not losses and not values:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (loss_axes, metric_axes) = plt.subplots(1, 2, figsize=(10, 3.6))
    loss_axes.plot(loss_steps, losses, marker="." if len(losses) < 30 else None)
    loss_axes.set_title("training loss")
    loss_axes.set_xlabel("step")
    metric_axes.plot(eval_steps, values, marker="o", color="tab:orange")
    metric_axes.set_title(f"validation {metric_key.removeprefix('eval_')}")
    metric_axes.set_xlabel("step")
    for axes in (loss_axes, metric_axes):
        axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def write_submission(run_dir: Path, label_column: str, class_names: dict[str, str] | None = None) -> bool:
    """Kaggle's format, `id,<label column>`, when the test file has an id column; classes named with
    --class_names go back to the data's values ("disaster" -> 1)."""
    table = pd.read_csv(run_dir / TEST_PREDICTIONS, dtype=str, keep_default_na=False)
    if "id" not in table.columns:
        return False
    values = {name: value for value, name in (class_names or {}).items()}
    table["prediction"] = table["prediction"].map(lambda name: values.get(name, name))
    table[["id", "prediction"]].rename(columns={"prediction": label_column}).to_csv(run_dir / SUBMISSION, index=False)
    return True


def format_value(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def markdown_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(format_value(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def metrics_section(split: str, metrics: dict, data: dict) -> list[str]:
    """Metrics, per-class table and confusion matrix of one scored split."""
    evaluated = data.get(split) or data.get("test", {})  # evaluation falls back to the test file
    lines = [f"## {split.capitalize()} results ({metrics['rows']:,} rows of `{evaluated.get('file', '?')}`)", ""]
    if "positive_class" in metrics:
        lines += [f"Positive class for the binary scores: `{metrics['positive_class']}`.", ""]
    scalar = [[name, value] for name, value in metrics.items() if isinstance(value, float)]
    lines += [markdown_table(["metric", "value"], scalar), ""]
    if "per_class" in metrics:
        rows = [[label, m["precision"], m["recall"], m["f1-score"], int(m["support"])] for label, m in metrics["per_class"].items()]
        lines += ["### Per class", "", markdown_table(["class", "precision", "recall", "f1", "support"], rows), ""]
    if "confusion_matrix" in metrics:
        matrix = metrics["confusion_matrix"]
        rows = [[f"true {label}", *counts] for label, counts in zip(matrix["labels"], matrix["counts"])]
        picture = "confusion_matrix.png" if split == "validation" else f"{split}_confusion_matrix.png"
        header = ["", *[f"predicted {label}" for label in matrix["labels"]]]
        lines += ["### Confusion matrix", "", markdown_table(header, rows), "", f"![confusion matrix]({picture})", ""]
    return lines


def render_report(run_dir: Path, info: RunInfo, scores: dict, results: dict, has_curves: bool,
                  analysis: list[str] = (), reviewed: list[str] = ()) -> str:
    lines = [f"# Run report: {run_dir.name}", ""]
    trained = "Fine-tuned" if info.fine_tuned else "Trained"  # baselines are trained from scratch
    summary = f"{trained} **{info.model}** ({info.parameters:,} parameters) for {info.problem_type.replace('_', ' ')}"
    if info.data_file("train"):
        summary += f" on {info.data_rows('train'):,} rows of `{info.data_file('train')}`"
    summary += f", predicting `{info.label_column}` from `{', '.join(info.text_columns)}`"
    if info.labels:
        summary += f" ({len(info.labels)} classes: {', '.join(info.labels)})"
    lines += [summary + ".", ""]
    applied = Calibration.applied_in(run_dir).describe(info.labels or [])
    if applied:
        lines += [f"The test predictions (predictions.csv, submission.csv) and the demo apply the calibration: {applied}.", ""]
    if "train_runtime" in results:
        lines += [
            f"Training took {results['train_runtime']:.0f} s ({results.get('train_samples_per_second', 0):.1f} samples/s); "
            f"the whole run {info.wall_time_seconds:.0f} s on {info.device}, in {info.precision}.",
            "",
        ]
        lines += [precision_cost_line(info), ""]
    if info.resumed_from:
        lines += [f"Interrupted, then continued from {info.resumed_from} by running the same command again.", ""]
    for split, metrics in scores.items():
        if metrics:
            lines += metrics_section(split, metrics, info.data)
        if split == "validation":
            lines += reviewed
    if has_curves:
        lines += ["## Learning curves", "", f"![learning curves]({LEARNING_CURVES})", ""]
    lines += analysis
    data_rows = [[split, data["file"], data["rows"]] for split, data in info.data.items()]
    lines += ["## Data", "", markdown_table(["split", "file", "rows"], data_rows), ""]
    settings = [[name, str(value)] for name, value in info.hyperparameters.items()]
    lines += ["## Hyperparameters", "", markdown_table(["setting", "value"], settings), ""]
    if info.command:
        lines += ["## Command", "", "```", info.command, "```", ""]
    if info.script_settings:
        lines += ["## Task script settings", "", "Resolved by the task script that started the run "
                  "(`scripts/train_<task>.sh`, `scripts/lib/settings.sh`):", "",
                  markdown_table(["setting", "value"], [[name, f"`{value}`" if value else "(empty)"]
                                                        for name, value in info.script_settings.items()]), ""]
    files = sorted(p.name for p in run_dir.iterdir() if p.is_file() and p.suffix in (".json", ".csv", ".txt", ".png", ".md"))
    lines += ["## Files", "", ", ".join(f"`{name}`" for name in files), ""]
    return "\n".join(lines)


def precision_cost_line(info: RunInfo) -> str:
    """What the precision the run trained in costs on its task, as measured (the task table), or that it was not."""
    task = TASKS.get(info.script_settings.get("TASK", ""))
    if task is None:
        return f"Trained in {info.precision}; what bf16 rather than fp32 costs was not measured for this run's data."
    return (f"Trained in {info.precision} (PRECISION in scripts/lib/settings.sh). bf16 against fp32 on {task.name}: "
            + (task.precision_cost or "not measured yet."))


def score_predictions(run_dir: Path, table_name: str, split: str, problem_type: str, labels: list[str]) -> dict:
    """Metrics of a prediction table that has the true labels; files prefixed with the split."""
    path = run_dir / table_name
    if not path.exists():
        return {}
    table = read_prediction_table(path)
    if "label" not in table.columns:
        return {}
    metrics = {"rows": len(table)} | validation_metrics(table, problem_type, labels) | probability_scores(table, problem_type, labels)
    write_json_atomically(run_dir / f"{split}_metrics.json", metrics)  # label names as written, not \u-escaped
    if "confusion_matrix" in metrics:
        matrix = metrics["confusion_matrix"]
        prefix = "" if split == "validation" else f"{split}_"
        pd.DataFrame(matrix["counts"], index=matrix["labels"], columns=matrix["labels"]).to_csv(
            run_dir / f"{prefix}confusion_matrix.csv", index_label="true \\ predicted"
        )
        plot_confusion_matrix(matrix, run_dir / f"{prefix}confusion_matrix.png", split)
    return metrics


def rescore_on_reviewed_labels(info: RunInfo, table: pd.DataFrame, data_dir: Path) -> tuple[pd.DataFrame, list[str]]:
    """eval_predictions.csv with the labels of the review log in `data_dir` (textclf.audit.review): changed rows
    relabelled, dropped rows left out; and each scored row's decision ("" where none).

    The table's rows are the validation file's first rows, in order (as textclf.runs.data_files reads them);
    a UserInputError says when they no longer are.
    """
    review = load_review_data(data_dir)
    latest = read_log(review.log_path).latest()
    rows = review.rows[review.rows["split"] == "validation"].head(len(table))

    def name(value: str) -> str:
        return info.class_names.get(label_value(value), label_value(value))

    if len(rows) < len(table) or [name(value) for value in rows["label"]] != table["label"].astype(str).tolist():
        raise UserInputError(f"the validation rows of {data_dir} no longer match {EVAL_PREDICTIONS}")
    decisions = [latest[row_id] if row_id in latest else None for row_id in rows["row_id"]]
    labels = [name(decision.new_label) if decision and decision.decision == CHANGE else label
              for decision, label in zip(decisions, table["label"].astype(str))]
    kept = [not (decision and decision.decision == DROP) for decision in decisions]
    if not any(kept):
        raise UserInputError("the review drops every scored validation row")
    return table.assign(label=labels)[kept], [decision.decision if decision else "" for decision in decisions]


def reviewed_validation_section(run_dir: Path, info: RunInfo, table: pd.DataFrame, metrics: dict) -> list[str]:
    """The validation scores on the original labels and, beside them, on the labels a person reviewed, where a
    review log lies beside the validation file; never applied silently, so both are shown."""
    validation_file = find_data_file(info.data_file("validation"), run_dir)
    if info.problem_type != SINGLE_LABEL or validation_file is None or not (validation_file.parent / LOG_FILE).is_file():
        return []
    data_dir = validation_file.parent
    lines = ["## Validation on the reviewed labels", ""]
    try:
        reviewed, decisions = rescore_on_reviewed_labels(info, table, data_dir)
    except UserInputError as error:
        return lines + [f"Not rescored: {error}.", ""]
    rescored = validation_metrics(reviewed, SINGLE_LABEL, info.labels or [])
    names = {"accuracy": "accuracy", "macro_f1": "macro F1", "positive_f1": f"F1 of `{metrics.get('positive_class')}`"}
    rows = [["rows", f"{len(table):,}", f"{len(reviewed):,}"]]
    rows += [[title, metrics[key], rescored[key]] for key, title in names.items() if key in metrics]
    train_dir = Path(info.data_file("train") or "").parent
    trained = (f"on the reviewed training split (`{train_dir}`, its rows changed and dropped in {CHANGES_FILE})"
               if (train_dir / CHANGES_FILE).is_file() else
               "on the training split as labelled (`REVIEW=1` trains on the review's corrections, docs/review.md)")
    return lines + [
        f"The review log `{data_dir / LOG_FILE}` decides {len(table) - decisions.count('')} of the {len(table):,} scored "
        f"validation rows ({count_decisions(decisions)}; a row's last decision counts). The files keep the original labels; here "
        "changed rows are scored on their new label and dropped rows are left out. "
        f"The model was trained {trained}.", "",
        markdown_table(["metric", "original labels", "reviewed labels"], rows), "",
    ]


def read_prediction_table(path: Path) -> pd.DataFrame:
    """eval_predictions.csv or predictions.csv: labels and predictions as written, probabilities as numbers."""
    return pd.read_csv(path, dtype={"label": str, "prediction": str}, keep_default_na=False)


def write_run_report(run_dir: str | Path) -> Path:
    """Write validation (and test) metrics, confusion matrices, learning curves, submission.csv, the
    analysis of the validation predictions (textclf.reports.analysis) and report.md."""
    run_dir = Path(run_dir)
    info = RunInfo.read(run_dir)
    state = read_optional_json(run_dir / TRAINER_STATE)
    results = read_optional_json(run_dir / ALL_RESULTS)
    labels = info.labels or []
    scores = {
        "validation": score_predictions(run_dir, EVAL_PREDICTIONS, "validation", info.problem_type, labels),
        "test": score_predictions(run_dir, TEST_PREDICTIONS, "test", info.problem_type, labels),
    }
    has_curves = plot_learning_curves(state, results, f"eval_{info.metric}", run_dir / LEARNING_CURVES)
    if (run_dir / TEST_PREDICTIONS).exists():
        write_submission(run_dir, info.label_column, info.class_names)
    analysis, reviewed = [], []
    if scores["validation"]:
        table = read_prediction_table(run_dir / EVAL_PREDICTIONS)
        analysis = analysis_section(run_dir, info, table, scores["validation"])
        reviewed = reviewed_validation_section(run_dir, info, table, scores["validation"])
    report = run_dir / REPORT
    report.write_text(render_report(run_dir, info, scores, results, has_curves, analysis, reviewed), encoding="utf-8")
    logger.info("Run report written to %s", report)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Rebuild the report of a finished run.")
    parser.add_argument("run_dir", help="the --output_dir of a run_classification.py run")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    def rebuild() -> None:
        if not (Path(args.run_dir) / RUN_INFO).exists():
            raise UserInputError(f"{args.run_dir}: no {RUN_INFO}; is it the output directory of a run?")
        write_run_report(args.run_dir)

    return exit_code_of(rebuild)


if __name__ == "__main__":
    sys.exit(main())
