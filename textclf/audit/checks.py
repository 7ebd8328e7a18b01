"""Check a prepared task directory (prepare_data.py's train/validation/test CSV files) before training on it.

A model can only be as good as its labels and its evaluation can only be as honest as its split, so
this finds what silently hurts both: exact and near duplicates, duplicates whose labels disagree, texts
shared between splits, class balance, length outliers and encoding debris. Suspected label errors are
ranked in textclf.audit.label_issues, written up in textclf.reports.audit_report; audit_data.py is the command line.

Every split is read with every cell as a string, so a cleaned train.csv is written back unchanged
apart from what the cleaning did.
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from textclf import UserInputError
from textclf.data.loading import join_text_columns, resolve_text_columns
from textclf.runs.predictions import ID_COLUMN
from textclf.tables import read_csv_file
from textclf.tasks import PREPARED_SPLITS

logger = logging.getLogger(__name__)

# --task: the columns prepare_data.py writes for each task (text column, label column).

URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
MENTION = re.compile(r"@\w+")
# Punctuation, symbols and whitespace runs all become one space; letters (any script) and digits stay.
NOT_A_WORD = re.compile(r"[\W_]+")

# Tukey's fences on the logarithm of the word count: lengths are skewed, so the fences are ratios.
LENGTH_FENCE = 1.5
ALWAYS_SHORT_WORDS = 2  # one or two words rarely carry a label, whatever the other texts are

# Debris that an encoding accident or an unescaped export left in the text, by kind.
ENCODING_DEBRIS = {
    "C1 control character (Windows-1252 bytes read as Latin-1, e.g. `\\x89Û_`, `\\x96`)": re.compile(r"[\x80-\x9f]"),
    "UTF-8 read as Latin-1/Windows-1252 (e.g. `Ã©`, `â€™`, `Â`)": re.compile(
        r"[ÃÂ][\u00a0-\u00bf€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ]|â€"
    ),
    "stray Latin-1 pair (e.g. `Ì©`, `åÊ`)": re.compile(r"[Ìå][_\u00a0-\u00ff]"),
    "HTML entity (e.g. `&amp;`)": re.compile(r"&(?:[a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);"),
    "HTML tag (e.g. `<br />`)": re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*\s*/?>"),
    "Unicode replacement character `\\ufffd`": re.compile("\ufffd"),
}
SNIPPET_CONTEXT = 12


@dataclass
class PreparedData:
    """A prepared directory as read: the files untouched, and one row per data row for the checks.

    `rows` has split, row (0-based data row of the file, header not counted), id (or ""), text (the
    text columns joined), label (None in an unlabelled split), key (normalise_text of the text).
    """

    data_dir: Path
    files: dict[str, pd.DataFrame]
    rows: pd.DataFrame
    text_columns: list[str]
    label_column: str

    @property
    def labelled_rows(self) -> pd.DataFrame:
        return self.rows[self.rows["label"].notna()]

    def split_rows(self, split: str) -> pd.DataFrame:
        return self.rows[self.rows["split"] == split]


def normalise_text(text: str) -> str:
    """The text as a near-duplicate check compares it: lowercase, no URLs or @mentions, no punctuation.

    Retweets and reposts differ from the original only in a link, a mention, case or punctuation.
    """
    text = MENTION.sub(" ", URL.sub(" ", text.lower()))
    return NOT_A_WORD.sub(" ", text).strip()


def split_rows_of(split: str, table: pd.DataFrame, text_columns: list[str], label_column: str, path: Path) -> pd.DataFrame:
    """The checks' view of one file; train and validation need a label in every row, test may have none."""
    texts = join_text_columns({column: table[column].tolist() for column in text_columns}, text_columns, " ")
    labelled = label_column in table.columns and not (split == "test" and (table[label_column] == "").any())
    if split != "test":
        if label_column not in table.columns:
            raise UserInputError(
                f"{path}: no label column {label_column!r} (--label_column); columns are: {', '.join(table.columns)}"
            )
        missing = int((table[label_column] == "").sum())
        if missing:
            raise UserInputError(f"{path}: {missing} row(s) have no {label_column!r}; prepare it with prepare_data.py")
    return pd.DataFrame(
        {
            "split": split,
            "row": np.arange(len(table)),
            "id": table[ID_COLUMN] if ID_COLUMN in table.columns else "",
            "text": texts,
            "label": table[label_column] if labelled else None,
            "key": [normalise_text(text) for text in texts],
        }
    )


def load_prepared_data(data_dir: Path, text_column: str, label_column: str) -> PreparedData:
    """Read DATA_DIR/{train,validation,test}.csv (train required) as prepare_data.py writes them."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise UserInputError(f"{data_dir}: no such directory; make one with prepare_data.py")
    if not (data_dir / "train.csv").is_file():
        raise UserInputError(f"{data_dir}: no train.csv; is it a directory made by prepare_data.py?")
    files, views, text_columns = {}, [], []
    for split in PREPARED_SPLITS:
        path = data_dir / f"{split}.csv"
        if not path.is_file():
            continue
        files[split] = read_csv_file(path)
        text_columns = resolve_text_columns(text_column, list(files[split].columns), str(path))
        views.append(split_rows_of(split, files[split], text_columns, label_column, path))
    rows = pd.concat(views, ignore_index=True)
    logger.info("Read %s", ", ".join(f"{split}: {len(table):,} rows" for split, table in files.items()))
    return PreparedData(data_dir, files, rows, text_columns, label_column)


def numbered_groups(rows: pd.DataFrame, columns: list[str]) -> pd.Series:
    """A group number per row (0, 1, ... in order of first appearance) for equal values of `columns`."""
    return rows.groupby(columns, sort=False).ngroup()


def exact_duplicates(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows whose exact text occurs more than once in the same split, with a group number per text."""
    repeated = rows[rows.duplicated(["split", "text"], keep=False)]
    return repeated.assign(group=numbered_groups(repeated, ["split", "text"]))


def near_duplicates(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows of a split that share their normalised text with another row whose exact text differs."""
    keyed = rows[rows["key"] != ""]
    distinct_texts = keyed.groupby(["split", "key"])["text"].transform("nunique")
    near = keyed[distinct_texts > 1]
    return near.assign(group=numbered_groups(near, ["split", "key"]))


def majority_label(labels: pd.Series) -> str | None:
    """The label most copies carry, or None on a tie (no majority to trust)."""
    counts = labels.value_counts()
    if len(counts) > 1 and counts.iloc[0] == counts.iloc[1]:
        return None
    return counts.index[0]


def conflicting_duplicates(rows: pd.DataFrame) -> pd.DataFrame:
    """Labelled rows whose normalised text recurs with another label, in any of the given splits.

    Adds group (one per normalised text) and majority (the label most copies carry, missing on a tie).
    """
    keyed = rows[(rows["key"] != "") & rows["label"].notna()]
    conflicting = keyed[keyed.groupby("key")["label"].transform("nunique") > 1]
    majorities = conflicting.groupby("key")["label"].agg(majority_label)
    return conflicting.assign(group=numbered_groups(conflicting, ["key"]), majority=conflicting["key"].map(majorities))


def split_overlaps(rows: pd.DataFrame) -> list[dict]:
    """For each pair of splits (pair "train/test", later "test"), the rows of the later one whose
    text occurs in the earlier one: exact and normalised, each a table of those rows."""
    present = [split for split in PREPARED_SPLITS if (rows["split"] == split).any()]
    overlaps = []
    for index, earlier in enumerate(present):
        first = rows[rows["split"] == earlier]
        for later in present[index + 1 :]:
            second = rows[rows["split"] == later]
            overlaps.append(
                {
                    "pair": f"{earlier}/{later}",
                    "later": later,
                    "exact": second[second["text"].isin(set(first["text"]))],
                    "normalised": second[(second["key"] != "") & second["key"].isin(set(first["key"]))],
                }
            )
    return overlaps


def class_balance(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows per label (index) and labelled split (columns)."""
    labelled = rows[rows["label"].notna()]
    splits = [split for split in PREPARED_SPLITS if (labelled["split"] == split).any()]
    return pd.crosstab(labelled["label"], labelled["split"])[splits]


def word_counts(texts: pd.Series) -> pd.Series:
    return texts.str.split().str.len().fillna(0).astype(int)


def length_bounds(train_texts: pd.Series) -> tuple[int, int]:
    """(short, long): texts with fewer words than `short` or more than `long` are outliers.

    Tukey's fences on log word counts of the training split; `short` is never under ALWAYS_SHORT_WORDS + 1.
    """
    logs = np.log(np.maximum(word_counts(train_texts).to_numpy(), 1))
    first, third = np.percentile(logs, [25, 75])
    spread = third - first
    short = math.ceil(np.exp(first - LENGTH_FENCE * spread))
    return max(short, ALWAYS_SHORT_WORDS + 1), math.floor(np.exp(third + LENGTH_FENCE * spread))


def length_outliers(rows: pd.DataFrame, bounds: tuple[int, int]) -> pd.DataFrame:
    """Rows of any split that are very short or very long by the training split's bounds (kind, words)."""
    words = word_counts(rows["text"])
    short, long = bounds
    kind = np.where(words < short, "very short", np.where(words > long, "very long", ""))
    return rows.assign(words=words, kind=kind)[kind != ""]


def encoding_debris(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (data row, kind of debris) found in it, with the first occurrence in context."""
    found = []
    for kind, pattern in ENCODING_DEBRIS.items():
        for index, text in rows["text"].items():
            match = pattern.search(text)
            if match:
                start, end = max(match.start() - SNIPPET_CONTEXT, 0), match.end() + SNIPPET_CONTEXT
                found.append({"index": index, "kind": kind, "snippet": text[start:end]})
    if not found:
        return rows.iloc[:0].assign(kind=[], snippet=[])
    hits = pd.DataFrame(found).set_index("index")
    return rows.loc[hits.index].assign(kind=hits["kind"].to_numpy(), snippet=hits["snippet"].to_numpy())


@dataclass
class Findings:
    """What the checks found, each a table of the rows concerned (see the functions that make them)."""

    exact: pd.DataFrame
    near: pd.DataFrame
    conflicts: pd.DataFrame
    overlaps: list[dict]
    balance: pd.DataFrame
    length_bounds: tuple[int, int]
    lengths: pd.DataFrame
    debris: pd.DataFrame


def run_checks(data: PreparedData) -> Findings:
    bounds = length_bounds(data.split_rows("train")["text"])
    return Findings(
        exact=exact_duplicates(data.rows),
        near=near_duplicates(data.rows),
        conflicts=conflicting_duplicates(data.labelled_rows),
        overlaps=split_overlaps(data.rows),
        balance=class_balance(data.rows),
        length_bounds=bounds,
        lengths=length_outliers(data.rows, bounds),
        debris=encoding_debris(data.rows),
    )


def check_replaceable(directory: Path, marker: str, option: str) -> None:
    """Refuse to replace a non-empty directory that an earlier run of ours did not write (no `marker`)."""
    directory = Path(directory)
    if directory.exists() and any(directory.iterdir()) and not (directory / marker).is_file():
        raise UserInputError(f"{option} {directory}: exists and was not written by audit_data.py (no {marker}); choose a new directory")


def publish_directory(target: Path, fill: Callable[[Path], None]) -> None:
    """Write a directory all at once: `fill` writes into a hidden sibling that then replaces `target`.

    An interrupted run leaves `target` as it was, never half-written; the sibling is removed on failure.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = target.with_name(f".{target.name}.partial-{os.getpid()}")
    previous = target.with_name(f".{target.name}.previous-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()  # not tempfile.mkdtemp: its owner-only mode would stay on the published directory
    try:
        fill(work)
        if target.exists():
            target.rename(previous)
        work.rename(target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    shutil.rmtree(previous, ignore_errors=True)
