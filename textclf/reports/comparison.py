"""Compare models on the same rows: fixed training and evaluation subsets, comparison.md and a chart.

`scripts/compare_models.sh` lays a comparison out as ROOT/<task>/<model>/ (one run of
run_classification.py or tfidf_baseline.py each) and ROOT/<task>/task.json (which rows every
model of the task was trained and scored on, and the budget). Two commands:

    python -m textclf.reports.comparison subsets --task_dir ROOT/imdb --train_file ... --eval_file ... ...
    python -m textclf.reports.comparison report ROOT      # writes ROOT/comparison.md and ROOT/comparison.png

`subsets` writes the rows once per task (seeded, stratified by label), so every model sees exactly
the same ones; run again with the same settings it reuses them, with other settings it refuses,
so that one table never mixes budgets.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import pandas as pd

from textclf import UserInputError, exit_code_of
from textclf.reports.report import markdown_table
from textclf.runs.folder import (
    ALL_RESULTS,
    RUN_INFO,
    WEIGHT_FILES,
    RunInfo,
    looks_like_a_run,
    read_optional_json,
    unfinished_reason,
)
from textclf.tables import read_table

logger = logging.getLogger(__name__)

TASK_FILE = "task.json"
SUBSET_DIR = "data"
TRAIN_SUBSET, EVAL_SUBSET = "train.csv", "eval.csv"
COMPARISON_REPORT, COMPARISON_CHART = "comparison.md", "comparison.png"


# --------------------------------------------------------------------------- fixed subsets


def stratified_rows(table: pd.DataFrame, label_column: str, rows: int | None, seed: int) -> pd.DataFrame:
    """`rows` rows drawn with the seed, each label keeping its share; all rows when `rows` is None
    or not smaller than the table. The chosen rows keep their order in the file."""
    from textclf.data.preparation import stratified_split

    if rows is None or rows >= len(table):
        return table
    chosen, _ = stratified_split(table, label_column, seed, train_size=rows)
    return chosen


def subset_record(source: Path, table: pd.DataFrame, subset: pd.DataFrame) -> dict:
    return {"source": str(source), "source_rows": len(table), "rows": len(subset)}


def make_subsets(
    task_dir: Path,
    train_file: Path,
    eval_file: Path,
    label_column: str,
    train_rows: int | None,
    eval_rows: int | None,
    seed: int,
    eval_description: str,
    budget: str,
) -> dict:
    """Write task_dir/data/{train,eval}.csv and task_dir/task.json, or reuse them if the same
    settings made them; other settings raise, so one comparison never mixes two budgets."""
    train, evaluation = read_table(train_file), read_table(eval_file)
    for path, table in ((train_file, train), (eval_file, evaluation)):
        if label_column not in table.columns:
            raise UserInputError(f"{path}: no label column {label_column!r}; columns are: {', '.join(table.columns)}")
    train_subset = stratified_rows(train, label_column, train_rows, seed)
    eval_subset = stratified_rows(evaluation, label_column, eval_rows, seed)
    record = {
        "task": task_dir.name,
        "seed": seed,
        "label_column": label_column,
        "budget": budget,
        "train": subset_record(train_file, train, train_subset),
        "eval": subset_record(eval_file, evaluation, eval_subset) | {"description": eval_description},
    }
    record_path, data_dir = task_dir / TASK_FILE, task_dir / SUBSET_DIR
    previous = read_optional_json(record_path)
    if previous and previous != record:
        changed = sorted(key for key in record.keys() | previous.keys() if record.get(key) != previous.get(key))
        raise UserInputError(
            f"{task_dir} holds runs made with other settings (changed: {', '.join(changed)}); "
            "delete it or choose another OUTPUT folder"
        )
    if previous and (data_dir / TRAIN_SUBSET).exists() and (data_dir / EVAL_SUBSET).exists():
        logger.info("%s: reusing the subsets made with the same settings", task_dir)
        return record
    data_dir.mkdir(parents=True, exist_ok=True)
    train_subset.to_csv(data_dir / TRAIN_SUBSET, index=False, lineterminator="\n")
    eval_subset.to_csv(data_dir / EVAL_SUBSET, index=False, lineterminator="\n")
    record_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    logger.info(
        "%s: %d of %d training rows, %d of %d evaluation rows (seed %d, stratified by %s)",
        task_dir, len(train_subset), len(train), len(eval_subset), len(evaluation), seed, label_column,
    )
    return record


# --------------------------------------------------------------------------- reading runs


def scored_split(run_dir: Path) -> tuple[str, dict]:
    """The metrics the comparison reads: the test file's, else the validation file's."""
    for split, prefix in (("test", "test"), ("validation", "eval")):
        metrics = read_optional_json(run_dir / f"{split}_metrics.json")
        if metrics:
            return prefix, metrics
    return "", {}


def weights_size_bytes(run_dir: Path) -> int | None:
    sizes = [path.stat().st_size for name in WEIGHT_FILES if (path := run_dir / name).is_file()]
    return sum(sizes) if sizes else None


def milliseconds_per_example(results: dict, prefix: str) -> float | None:
    """Measured prediction time of the scored rows; TF-IDF's includes vectorising the raw text,
    a transformer's the forward passes on already tokenized rows."""
    runtime, rows = results.get(f"{prefix}_runtime"), results.get(f"{prefix}_samples")
    return 1000 * runtime / rows if runtime is not None and rows else None


def precision_of(info: RunInfo) -> str:
    """What a transformer trained in (RunInfo.precision); the baseline's float64."""
    return "fp64" if info.is_baseline else info.precision


def load_run(run_dir: Path) -> dict | None:
    """One comparison row, or None for a folder that holds no finished run (said when it holds an unfinished one)."""
    reason = unfinished_reason(run_dir)
    if reason is not None:
        if looks_like_a_run(run_dir):
            logger.warning("Leaving out %s: %s", run_dir, reason)
        return None
    prefix, metrics = scored_split(run_dir)
    if not metrics:
        return None
    info = RunInfo.read(run_dir)
    results = read_optional_json(run_dir / ALL_RESULTS)
    return {
        "model": run_dir.name,
        "is_baseline": info.is_baseline,
        "parameters": info.parameters,
        "train_rows": info.data_rows("train"),
        "scored_rows": metrics.get("rows"),
        "accuracy": metrics.get("accuracy"),
        "macro_f1": metrics.get("macro_f1"),
        "train_seconds": results.get("train_runtime"),
        "train_samples_per_second": results.get("train_samples_per_second"),
        "inference_ms": milliseconds_per_example(results, prefix),
        "size_bytes": weights_size_bytes(run_dir),
        "run_seconds": info.wall_time_seconds,
        "device": info.device,
        "precision": precision_of(info),
    }


def find_runs(root: Path) -> dict[str, list[dict]]:
    """Finished runs by task: ROOT/<task>/<model>/."""
    runs: dict[str, list[dict]] = {}
    for task_dir in sorted(path for path in root.iterdir() if path.is_dir()):
        rows = [row for run_dir in sorted(task_dir.iterdir()) if run_dir.is_dir() and (row := load_run(run_dir))]
        if rows:
            runs[task_dir.name] = rows
    return runs


# --------------------------------------------------------------------------- the table


def human_count(value: float | None) -> str:
    if value is None:
        return "–"
    for threshold, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= threshold:
            return f"{value / threshold:.1f}{suffix}"
    return str(int(value))


def number(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def baselines_of(rows: list[dict]) -> tuple[dict[int, dict], dict | None]:
    """The task's TF-IDF runs by training rows, and the one trained on the most rows."""
    baselines = {row["train_rows"]: row for row in rows if row["is_baseline"] and row["accuracy"] is not None}
    return baselines, baselines[max(baselines)] if baselines else None


def accuracy_gain(row: dict, baseline: dict | None) -> str:
    """Accuracy points above a TF-IDF run: how every transformer row is to be read."""
    if row["is_baseline"] or baseline is None or row["accuracy"] is None:
        return "–"
    return f"{100 * (row['accuracy'] - baseline['accuracy']):+.1f}"


def table_row(row: dict, rows: list[dict]) -> list[str]:
    same_rows, most_rows = baselines_of(rows)
    return [
        f"`{row['model']}`",
        human_count(row["parameters"]),
        f"{row['train_rows']:,}" if row["train_rows"] is not None else "–",
        number(row["accuracy"], 4),
        number(row["macro_f1"], 4),
        accuracy_gain(row, same_rows.get(row["train_rows"])),
        accuracy_gain(row, most_rows),
        number(row["train_seconds"], 1),
        number(row["train_samples_per_second"], 1),
        number(row["inference_ms"], 2),
        number(None if row["size_bytes"] is None else row["size_bytes"] / 1e6, 1),
        number(row["run_seconds"], 0),
        row["precision"],
    ]


TABLE_HEADER = [
    "model", "params", "train rows", "accuracy", "macro F1", "Δ acc vs TF-IDF, same rows", "Δ acc vs TF-IDF, most rows",
    "train time (s)", "train samples/s", "inference ms/example", "size on disk (MB)", "whole run (s)", "precision",
]


def evaluation_set(record: dict, rows: list[dict]) -> str:
    """Which rows every model of the task was scored on."""
    evaluation = record.get("eval")
    if not evaluation:
        return f"{rows[0]['scored_rows']:,} rows"
    if evaluation["rows"] == evaluation["source_rows"]:
        return f"{evaluation['description']}: all {evaluation['rows']:,} rows of `{evaluation['source']}`"
    return (
        f"{evaluation['description']}: {evaluation['rows']:,} of its {evaluation['source_rows']:,} rows "
        f"(`{evaluation['source']}`), a fixed stratified subset (seed {record['seed']})"
    )


def task_section(task: str, record: dict, rows: list[dict]) -> list[str]:
    rows = sorted(rows, key=lambda r: -(r["accuracy"] or 0))
    lines = [f"## {task}", "", f"**Evaluation set**, the same rows for every model: {evaluation_set(record, rows)}.", ""]
    if record.get("train"):
        train = record["train"]
        lines += [
            f"**Training rows**: {train['rows']:,} of the {train['source_rows']:,} rows of `{train['source']}`, "
            f"a fixed stratified subset (seed {record['seed']}); every model trains on them unless its train rows "
            "say otherwise.",
            "",
        ]
    if record.get("budget"):
        lines += [f"**Budget**: {record['budget']}.", ""]
    lines += [markdown_table(TABLE_HEADER, [table_row(row, rows) for row in rows]), ""]
    return lines


def render_comparison(runs: dict[str, list[dict]], records: dict[str, dict], chart: bool) -> str:
    devices = sorted({row["device"] for rows in runs.values() for row in rows if row["device"]})
    lines = [
        "# Model comparison",
        "",
        "One row per model and task, best accuracy first. Accuracy and macro F1 on the task's evaluation set; "
        "Δ: accuracy points above TF-IDF + logistic regression (every transformer row is to be read against it) "
        "trained on the same rows, and on the most rows it was given (seconds even on a whole training split: what a "
        "user would do instead). Train time: the training loop's wall time; train samples/s counts every "
        "epoch. Inference: measured prediction time on the evaluation set per example (TF-IDF from raw text; "
        "transformers after tokenization, length-sorted batches). Size: the saved weights (TF-IDF: the "
        "pickled vectorizer and classifier). Whole run: loading, training, prediction and report. "
        f"Device: {', '.join(devices) or 'unknown'}.",
        "",
    ]
    if chart:
        lines += [f"![accuracy against training time]({COMPARISON_CHART})", ""]
    for task, rows in runs.items():
        lines += task_section(task, records.get(task, {}), rows)
    return "\n".join(lines)


LABEL_FONT_SIZE = 8
MARKER_SIZE = 40  # points squared, as scatter takes it
Box = tuple[float, float, float, float]


def label_lifts(boxes: list[Box], obstacles: list[Box], bounds: Box) -> list[float]:
    """How far to move each label box (x, y, width, height) up or down so that it overlaps no other
    label and no obstacle (the markers), staying within `bounds` where it can: the nearest free place."""

    def overlaps(a: Box, b: Box) -> bool:
        return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]

    def inside(box: Box) -> bool:
        return bounds[1] <= box[1] and box[1] + box[3] <= bounds[1] + bounds[3]

    lifts = [0.0] * len(boxes)
    taken = list(obstacles)
    for index in sorted(range(len(boxes)), key=lambda i: boxes[i][1]):
        x, y, width, height = boxes[index]
        steps = [0.0] + [sign * k * height / 2 for k in range(1, 41) for sign in (1, -1)]
        candidates = [(x, y + step, width, height) for step in steps]
        free = [box for box in candidates if not any(overlaps(box, other) for other in taken)]
        chosen = next((box for box in free if inside(box)), free[0] if free else candidates[0])
        taken.append(chosen)
        lifts[index] = chosen[1] - y
    return lifts


def label_points(axes, rows: list[dict]) -> None:
    """Each point labelled with its model. Points of similar models sit close together: their labels
    move apart (with a leader line when far from their point) instead of overprinting each other."""
    points_per_pixel = 72 / axes.figure.dpi
    anchors = [axes.transData.transform((row["train_seconds"], row["accuracy"])) * points_per_pixel for row in rows]
    marker = MARKER_SIZE**0.5
    markers = [(x - marker / 2, y - marker / 2, marker, marker) for x, y in anchors]
    labels = [(x + 4, y + 2, LABEL_FONT_SIZE * 0.6 * len(row["model"]), LABEL_FONT_SIZE * 1.3)
              for (x, y), row in zip(anchors, rows)]
    frame = axes.get_window_extent()
    bounds = (frame.x0 * points_per_pixel, frame.y0 * points_per_pixel,
              frame.width * points_per_pixel, frame.height * points_per_pixel)
    for row, lift in zip(rows, label_lifts(labels, markers, bounds)):
        leader = {"arrowstyle": "-", "color": "0.6", "lw": 0.6} if abs(lift) > LABEL_FONT_SIZE else None
        axes.annotate(row["model"], (row["train_seconds"], row["accuracy"]), textcoords="offset points",
                      xytext=(4, 2 + lift), fontsize=LABEL_FONT_SIZE, arrowprops=leader)


def plot_accuracy_against_training_time(runs: dict[str, list[dict]], path: Path) -> bool:
    """One panel per task, log-scaled training time, each point labelled with its model."""
    panels = {task: [r for r in rows if r["train_seconds"] and r["accuracy"] is not None] for task, rows in runs.items()}
    panels = {task: rows for task, rows in panels.items() if rows}
    if not panels:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    styles = {True: ("TF-IDF + logistic regression", "s", "tab:gray"), False: ("transformer", "o", "tab:blue")}
    figure, axes_list = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2), squeeze=False)
    for axes, (task, rows) in zip(axes_list[0], panels.items()):
        for is_baseline, (kind, marker, color) in styles.items():
            points = [row for row in rows if row["is_baseline"] == is_baseline]
            if points:
                axes.scatter([r["train_seconds"] for r in points], [r["accuracy"] for r in points],
                             marker=marker, color=color, s=MARKER_SIZE, label=kind)
        axes.set_xscale("log")
        axes.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # a labelled tick even within a decade
        axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))  # 100, not 10^2
        axes.xaxis.set_minor_formatter(NullFormatter())
        axes.margins(x=0.25, y=0.12)  # room for the labels of the outermost points
        axes.set_title(task)
        axes.set_xlabel("training time (s, log scale)")
        axes.set_ylabel("accuracy")
        axes.grid(alpha=0.3, which="both")
        axes.legend(fontsize=8, loc="best")
    figure.tight_layout()
    for axes, rows in zip(axes_list[0], panels.values()):
        label_points(axes, rows)  # after the layout: label placement works in the final coordinates
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def write_comparison(root: str | Path) -> Path:
    """ROOT/comparison.md and ROOT/comparison.png from the finished runs under ROOT."""
    root = Path(root)
    if not root.is_dir():
        raise UserInputError(f"{root}: no such folder")
    runs = find_runs(root)
    if not runs:
        raise UserInputError(f"{root}: no finished runs (ROOT/<task>/<model>/ with {RUN_INFO} and metrics)")
    records = {task: read_optional_json(root / task / TASK_FILE) for task in runs}
    chart = plot_accuracy_against_training_time(runs, root / COMPARISON_CHART)
    report = root / COMPARISON_REPORT
    report.write_text(render_comparison(runs, records, chart), encoding="utf-8")
    logger.info("Comparison of %d runs written to %s", sum(map(len, runs.values())), report)
    return report


# --------------------------------------------------------------------------- command line


def row_count(value: str) -> int | None:
    """`all` (or nothing) means every row."""
    if value in ("", "all"):
        return None
    if not value.isdigit() or int(value) == 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of rows or 'all', got {value!r}")
    return int(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Compare models on the same rows.")
    commands = parser.add_subparsers(dest="command", required=True)
    subsets = commands.add_parser("subsets", help="write a task's fixed training and evaluation rows")
    subsets.add_argument("--task_dir", type=Path, required=True, help="ROOT/<task>: gets data/ and task.json")
    subsets.add_argument("--train_file", type=Path, required=True, help="the prepared training split (CSV)")
    subsets.add_argument("--eval_file", type=Path, required=True, help="the labelled split every model is scored on")
    subsets.add_argument("--label_column", required=True, help="stratify by this column")
    subsets.add_argument("--train_rows", type=row_count, default=None, help="rows to train on, or 'all' (default)")
    subsets.add_argument("--eval_rows", type=row_count, default=None, help="rows to score, or 'all' (default)")
    subsets.add_argument("--seed", type=int, default=42)
    subsets.add_argument("--eval_description", required=True, help='what the evaluation file is, e.g. "official test split"')
    subsets.add_argument("--budget", default="", help="the training settings, said in the comparison")
    report = commands.add_parser("report", help="write ROOT/comparison.md and ROOT/comparison.png")
    report.add_argument("root", type=Path, help="the comparison folder, e.g. experiments/comparison")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)  # in order with the script's lines
    if args.command == "subsets":
        return exit_code_of(lambda: make_subsets(
            args.task_dir, args.train_file, args.eval_file, args.label_column, args.train_rows,
            args.eval_rows, args.seed, args.eval_description, args.budget,
        ))
    return exit_code_of(lambda: write_comparison(args.root))


if __name__ == "__main__":
    sys.exit(main())
