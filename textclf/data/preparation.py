"""Clean a dataset's labelled pool, split it into train/validation/test and write the files.

The rules (every removal is logged with its count and reason, and recorded in PROTOCOL.txt):

* rows with empty or missing text are removed;
* rows with a missing label are removed;
* texts that occur several times with *different* labels are removed, all copies;
* exact duplicates with the *same* label are kept, but all copies of a text always land
  in the same split (the split is done on distinct texts), so no text is shared between
  train and validation (nor test, when test is carved from the same pool).

An official test split is never filtered by duplicate checks. An unlabelled test split
(tweets) is never filtered at all: every row needs a prediction. A labelled official test
split only loses rows without text or label, and these are logged.

Train and validation rows are shuffled with the seed (the IMDb files are sorted by label);
an official test split keeps its file order. Same inputs and seed give byte-identical
outputs.

The files are written into a hidden folder beside the output and moved into place when complete,
PROTOCOL.txt last: an interrupted or failed run (Ctrl-C, a kill, a full disk) never leaves a folder
that looks prepared. `python -m textclf.data.preparation is-complete DIR` is how the scripts tell.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from textclf import UserInputError, answer_about_directory, exit_code_of
from textclf.data import corpora
from textclf.data.corpora import CARVE_BANNER, TaskData, list_data_files, load_from_hub, load_user_files
from textclf.faults import kill_point
from textclf.missing import is_none_nan_or_blank
from textclf.tables import one_line
from textclf.tasks import PREPARED_SPLITS, PROTOCOL, TASKS

LOGGER = logging.getLogger("prepare_data")

DEFAULT_VAL_SIZE = 0.1
DEFAULT_TEST_SIZE = 0.1


@dataclass
class PreparationOptions:
    """What prepare_data.py was asked to do (its command-line options)."""

    task: str
    output_dir: Path
    raw_dir: Path | None = None
    input: list[Path] | None = None
    val_size: float = DEFAULT_VAL_SIZE
    test_size: float = DEFAULT_TEST_SIZE
    seed: int = 42
    text_column: str = "text"
    label_column: str = "label"
    carve_from_test: bool = False
    from_hub: bool = False


@dataclass
class CleanReport:
    """Rows removed from one table, by reason."""

    name: str
    rows_in: int
    removed: dict[str, int] = field(default_factory=dict)
    conflict_texts: int = 0
    kept_duplicate_rows: int = 0
    kept_duplicate_texts: int = 0

    @property
    def rows_out(self) -> int:
        return self.rows_in - sum(self.removed.values())


def clean_labelled(df: pd.DataFrame, text_column: str, label_column: str,
                   name: str = "train") -> tuple[pd.DataFrame, CleanReport]:
    """Remove rows without text or label and every copy of texts with conflicting labels."""
    report = CleanReport(name=name, rows_in=len(df))
    no_text = df[text_column].map(is_none_nan_or_blank)
    report.removed["empty or missing text"] = int(no_text.sum())
    df = df[~no_text]
    no_label = df[label_column].map(is_none_nan_or_blank)
    report.removed["missing label"] = int(no_label.sum())
    df = df[~no_label]
    label_keys = df[label_column].astype(str)
    n_labels = label_keys.groupby(df[text_column]).transform("nunique")
    conflict = n_labels > 1
    report.removed["duplicate text with conflicting labels (all copies removed)"] = int(conflict.sum())
    report.conflict_texts = int(df.loc[conflict, text_column].nunique())
    df = df[~conflict]
    dup = df[text_column].duplicated(keep=False)
    report.kept_duplicate_rows = int(dup.sum())
    report.kept_duplicate_texts = int(df.loc[dup, text_column].nunique())
    return df.reset_index(drop=True), report


def clean_official_test(df: pd.DataFrame, text_column: str, label_column: str | None,
                        labelled: bool) -> tuple[pd.DataFrame, CleanReport]:
    """Official test split: unlabelled -> keep every row; labelled -> drop only unusable rows."""
    report = CleanReport(name="test", rows_in=len(df))
    no_text = df[text_column].map(is_none_nan_or_blank)
    if not labelled:
        if no_text.any():
            LOGGER.warning("test: %d row(s) have empty text; KEPT (every test row needs a prediction)",
                           int(no_text.sum()))
        return df.reset_index(drop=True), report
    assert label_column is not None
    no_label = df[label_column].map(is_none_nan_or_blank) & ~no_text
    report.removed["empty or missing text"] = int(no_text.sum())
    report.removed["missing label"] = int(no_label.sum())
    return df[~no_text & ~no_label].reset_index(drop=True), report


def log_clean_report(report: CleanReport) -> None:
    removed = {k: v for k, v in report.removed.items() if v}
    if not removed:
        LOGGER.info("%s: %d rows read, none removed", report.name, report.rows_in)
    for reason, count in removed.items():
        extra = ""
        if reason.startswith("duplicate text"):
            extra = f" ({report.conflict_texts} distinct texts)"
        LOGGER.warning("%s: removed %d row(s): %s%s", report.name, count, reason, extra)
    if removed:
        LOGGER.info("%s: %d rows read, %d removed, %d kept",
                    report.name, report.rows_in, report.rows_in - report.rows_out, report.rows_out)
    if report.kept_duplicate_rows:
        LOGGER.info("%s: kept %d rows that are exact duplicates with the same label (%d distinct "
                    "texts); all copies of a text go to the same split",
                    report.name, report.kept_duplicate_rows, report.kept_duplicate_texts)


def looks_categorical(labels: pd.Series) -> bool:
    """False for regression-like labels (non-integer numbers, or almost all values distinct)."""
    values = labels.astype(str).str.strip()
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all() and (numeric % 1 != 0).any():
        return False
    return values.nunique() <= max(2, len(values) // 2)


def stratified_split(table: pd.DataFrame, label_column: str, seed: int, *, test_size: float | int | None = None,
                     train_size: float | int | None = None, group_column: str | None = None,
                     stratify: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded split of ``table`` into (first, second), stratified by label; sizes as sklearn's
    ``train_test_split`` takes them (a fraction or a number of rows or groups).

    With ``group_column`` the split is made on its distinct values (texts, each with its single
    label after cleaning) and every row follows its value, so no text ends up on both sides. Both
    parts keep the input row order. When a class is too rare to stratify, it says so and splits at
    random.
    """
    groups = table.drop_duplicates(group_column) if group_column else table
    if len(groups) < 2:
        raise UserInputError(f"only {len(groups)} distinct text(s) left: not enough rows to split")
    keys = groups[group_column].to_numpy() if group_column else groups.index.to_numpy()
    labels = groups[label_column].astype(str).to_numpy()
    sizes = {"test_size": test_size, "train_size": train_size}
    try:
        if not stratify:
            raise ValueError("stratification disabled")
        _, second = train_test_split(keys, random_state=seed, stratify=labels, **sizes)
    except ValueError as exc:
        if stratify:
            LOGGER.warning("cannot stratify (%s); splitting without stratification", one_line(exc))
        try:
            _, second = train_test_split(keys, random_state=seed, **sizes)
        except ValueError as inner:
            raise UserInputError(f"cannot split {len(keys)} distinct texts: {one_line(inner)}") from None
    in_second = (table[group_column] if group_column else table.index).isin(second)
    return table[~in_second], table[in_second]


def shuffle_rows(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    order = np.random.RandomState(seed).permutation(len(df))
    return df.iloc[order].reset_index(drop=True)


def make_splits(data: TaskData, pool: pd.DataFrame, test: pd.DataFrame | None, val_size: float,
                test_size: float, seed: int, stratify: bool) -> dict[str, pd.DataFrame]:
    """Split the cleaned pool into train/validation (and test when there is no official one)."""
    text, label = data.text_column, data.label_column
    if test is None:
        rest, test = stratified_split(pool, label, seed, test_size=test_size, group_column=text, stratify=stratify)
        # val_size is a fraction of the whole pool, so rescale it for the remainder
        rest_val = val_size / (1.0 - test_size)
        train, validation = stratified_split(rest, label, seed, test_size=rest_val, group_column=text, stratify=stratify)
        test = shuffle_rows(test, seed + 2)
    else:
        train, validation = stratified_split(pool, label, seed, test_size=val_size, group_column=text, stratify=stratify)
    return {
        "train": shuffle_rows(train, seed),
        "validation": shuffle_rows(validation, seed + 1),
        "test": test.reset_index(drop=True),
    }


def check_overlaps(splits: dict[str, pd.DataFrame], text_column: str) -> dict[str, int]:
    """Count rows of each later split whose exact text also occurs in an earlier split."""
    overlaps = {}
    names = list(splits)
    for i, first in enumerate(names):
        seen = set(splits[first][text_column])
        for second in names[i + 1:]:
            overlaps[f"{first}/{second}"] = int(splits[second][text_column].isin(seen).sum())
    return overlaps


def word_length_percentiles(texts: pd.Series) -> dict[str, int]:
    lengths = texts.map(lambda t: len(str(t).split())).to_numpy()
    if len(lengths) == 0:
        return {"p50": 0, "p90": 0, "p99": 0, "max": 0}
    p50, p90, p99 = np.percentile(lengths, [50, 90, 99], method="inverted_cdf")
    return {"p50": int(p50), "p90": int(p90), "p99": int(p99), "max": int(lengths.max())}


def summarize_splits(splits: dict[str, pd.DataFrame], text_column: str,
                     label_column: str) -> list[str]:
    """One line per split: rows, label distribution and text length percentiles (words)."""
    lines = []
    for name, df in splits.items():
        pct = word_length_percentiles(df[text_column])
        lengths = " ".join(f"{k}={v}" for k, v in pct.items())
        if label_column in df.columns:
            counts = df[label_column].astype(str).value_counts().sort_index()
            dist = ", ".join(f"{k}: {v} ({v / max(len(df), 1):.1%})" for k, v in counts.items())
        else:
            dist = "no labels"
        lines.append(f"{name:<10} {len(df):>7,} rows | labels: {dist} | words: {lengths}")
    return lines


def write_splits(splits: dict[str, pd.DataFrame], output_dir: Path) -> list[Path]:
    """Write ``<split>.csv`` files (UTF-8, LF, minimal quoting: embedded newlines are quoted)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, df in splits.items():
        path = output_dir / f"{name}.csv"
        df.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
        paths.append(path)
        kill_point(f"prepare:wrote-{path.name}")
    return paths


def publish_prepared(target: Path, fill: Callable[[Path], None]) -> None:
    """`fill` writes the prepared files into a hidden folder beside `target`; then they move into place.

    A new `target` appears whole, with one rename. In an existing one (prepared before, or left
    half-prepared), PROTOCOL.txt goes first and comes back last, so the folder counts as incomplete
    until every file is in place; files of its own that we did not write (an audit/) stay. On a
    failure the hidden folder is removed; a rerun removes one left by a kill.
    """
    target = Path(target)
    work = target.with_name(f".{target.name}.partial")
    try:
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        fill(work)
        kill_point("prepare:before-publish")
        if not target.exists():
            work.rename(target)
            return
        (target / PROTOCOL).unlink(missing_ok=True)
        for path in sorted(work.iterdir(), key=lambda path: path.name == PROTOCOL):
            os.replace(path, target / path.name)
            kill_point(f"prepare:moved-{path.name}")
    except OSError as exc:
        raise UserInputError(f"{target}: cannot write output ({one_line(exc)})") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def incomplete_reason(directory: Path) -> str | None:
    """Why `directory` is not a complete output of prepare_data.py, or None when it is."""
    directory = Path(directory)
    if not directory.is_dir():
        return "not prepared yet"
    if not (directory / PROTOCOL).is_file():
        return f"incomplete, an interrupted preparation (no {PROTOCOL}, which prepare_data.py writes last)"
    missing = [f"{split}.csv" for split in PREPARED_SPLITS if not (directory / f"{split}.csv").is_file()]
    if missing:
        return f"incomplete (no {', '.join(missing)})"
    return None


def write_protocol(output_dir: Path, options: PreparationOptions, data: TaskData,
                   reports: list[CleanReport], summary: list[str],
                   overlaps: dict[str, int]) -> Path:
    command = f"prepare_data.py --task {options.task} --val_size {options.val_size} --seed {options.seed}"
    if data.test is None:
        command += f" --test_size {options.test_size}"
    if options.carve_from_test:
        command += " --carve_from_test"
    lines = [command, ""]
    lines += data.notes + ([""] if data.notes else [])
    lines.append("Sources:")
    lines += [f"  {s}" for s in data.sources]
    lines.append("")
    if data.carved:
        how = (f"train/validation/test carved from the source by a seeded split on distinct texts "
               f"(stratified by label): validation {options.val_size}, test {options.test_size}")
    elif data.test is None:
        how = (f"train/validation/test split from the input by a seeded split on distinct texts: "
               f"validation {options.val_size}, test {options.test_size}")
    else:
        how = (f"validation = {options.val_size} of the distinct train texts (seeded, stratified by "
               f"label); test = the official test split, all rows in file order")
    lines += [f"Split: {how}; seed {options.seed}.",
              f"Text column: {data.text_column}; label column: {data.label_column}.", "",
              "Removed rows:"]
    for report in reports:
        removed = {k: v for k, v in report.removed.items() if v}
        lines.append(f"  {report.name}: {report.rows_in} read; "
                     + ("; ".join(f"{v} {k}" for k, v in removed.items()) or "none removed"))
        if report.kept_duplicate_rows:
            lines.append(f"  {report.name}: kept {report.kept_duplicate_rows} same-label duplicate "
                         f"rows ({report.kept_duplicate_texts} texts), each text in one split only")
    lines += ["", "Rows whose exact text also occurs in an earlier split:"]
    lines += [f"  {k}: {v}" for k, v in overlaps.items()]
    lines += ["", "Summary:"] + [f"  {s}" for s in summary]
    path = output_dir / PROTOCOL
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def load_task(options: PreparationOptions) -> TaskData:
    """The raw data, read by the loader the task table names (textclf/tasks.py), or any files for --task csv."""
    if options.task not in TASKS:  # csv: the user's own files and columns
        files = list(options.input) if options.input else list_data_files(options.raw_dir)
        return load_user_files(files, options.text_column, options.label_column)
    task = TASKS[options.task]
    if options.from_hub:
        return load_from_hub(task)
    loader = getattr(corpora, task.loader)
    return loader(options.raw_dir, task, carve_from_test=options.carve_from_test)


def prepare(options: PreparationOptions) -> None:
    """Load, clean and split the task's data; write the split files and PROTOCOL.txt."""
    data = load_task(options)
    if data.carved:
        LOGGER.warning("%s", CARVE_BANNER)
    text, label = data.text_column, data.label_column

    pool, pool_report = clean_labelled(data.pool, text, label,
                                       name="train" if data.test is not None else "input")
    log_clean_report(pool_report)
    reports = [pool_report]
    test = None
    if data.test is not None:
        test, test_report = clean_official_test(data.test, text, label if data.test_labelled else None,
                                                data.test_labelled)
        log_clean_report(test_report)
        reports.append(test_report)

    stratify = looks_categorical(pool[label])
    if not stratify:
        LOGGER.info("labels do not look categorical; splitting without stratification")
    splits = make_splits(data, pool, test, options.val_size, options.test_size, options.seed, stratify)

    overlaps = check_overlaps(splits, text)
    LOGGER.info("no text is shared between train and validation%s (split on distinct texts)",
                "" if data.test is not None else " or test")
    if data.test is not None:
        for pair in ("train/test", "validation/test"):
            if overlaps[pair]:
                LOGGER.warning("%s: %d test row(s) have an exact text that is also in %s; kept "
                               "(the official test split is not changed)",
                               pair, overlaps[pair], pair.split("/")[0])

    summary = summarize_splits(splits, text, label)

    def fill(directory: Path) -> None:
        write_splits(splits, directory)
        write_protocol(directory, options, data, reports, summary, overlaps)

    publish_prepared(options.output_dir, fill)
    LOGGER.info("summary (text length in words):")
    for line in summary:
        LOGGER.info("  %s", line)
    LOGGER.info("wrote %s", ", ".join(str(options.output_dir / name) for name in [*(f"{s}.csv" for s in splits), PROTOCOL]))
    if data.carved:
        LOGGER.warning("%s", CARVE_BANNER)



if __name__ == "__main__":
    # For the scripts: exit code 0 when DIR is completely prepared; else they prepare it again.
    sys.exit(exit_code_of(lambda: answer_about_directory(sys.argv[1:], "is-complete", incomplete_reason, "; preparing it")))
