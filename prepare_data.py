#!/usr/bin/env python
"""Turn raw public datasets into train/validation/test CSV files.

The CSV files are what ``run_classification.py`` reads with ``--train_file``,
``--validation_file`` and ``--test_file``. Everything works offline from raw files
(see ``/work/shared/data/SOURCES.md`` for the formats). Only ``--from_hub`` touches
the network, through ``datasets.load_dataset``.

Tasks and outputs
-----------------
* ``tweets``  (Kaggle "NLP with Disaster Tweets"): ``train.csv``/``test.csv``, plain or
  ``.gz``. Columns ``id,keyword,location,text,target`` (``target`` = int 0/1). Validation
  is a seeded, stratified split of Kaggle's train file. ``test.csv`` is Kaggle's test file
  with every row in the original order, its ``id`` column and no label column.
* ``imdb``: ``train.csv[.gz]``/``test.csv[.gz]`` with ``text`` and ``label`` columns, or the
  original ``aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt`` layout. Output columns
  ``id,rating,label,text``, ``label`` in {``negative``, ``positive``}. Validation is carved
  from train; the official test split stays the test split. The ``<br />`` tags that mark line
  breaks in most reviews become newlines (in both splits; the count is logged).
* ``ag_news``: the original headerless CSVs (class index 1..4, title, description).
  Output columns ``label,title,description,text`` with ``text = title + " " + description``
  and ``label`` in {World, Sports, Business, Sci/Tech}. Without ``train.csv`` the script
  refuses unless ``--carve_from_test`` is given (see below).
* ``csv``: any CSV/JSON/JSONL file(s) given with ``--input`` (or every such file in
  ``--raw_dir``), split into train/validation/test.

Cleaning (train/validation pool; every removal is logged with its count and reason)
-----------------------------------------------------------------------------------
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
outputs. A ``PROTOCOL.txt`` written next to the CSVs records sources (with sha256),
options, removals and split sizes.

AG News escapes
---------------
The AG corpus was flattened before it was published, and ``unescape_ag_news`` undoes it:

* ``\\$`` becomes ``$``;
* every other backslash marks a line break in the original article. The data has
  ``second\\team`` and ``social\\network``, so a backslash followed by ``n`` is *not* a
  ``\\n`` escape. Each backslash becomes a newline;
* HTML entities become characters. These are the normal ones (``&lt;``, ``&gt;``, ``&amp;``,
  ``&quot;``, ``&#39;``...) and the "bare" ones whose ``&`` was replaced by a space upstream:
  `` #39;`` -> ``'``, `` quot;`` -> ``"``, `` amp;`` -> ``&``, `` #36;`` -> ``$``, and
  ``#145;``..``#151;`` (Windows-1252 quotes and dashes, as HTML5 decodes them). In the bare
  form the one space that replaced the ``&`` is removed too: ``AT amp;T`` -> ``AT&T``,
  ``it #39;s`` -> ``it's``. HTML markup such as ``<b>`` and Reuters ticker tags such as
  ``<AAPL.O>`` is kept as text;
* runs of spaces/tabs become one space, spaces around newlines are removed, and the
  ends are stripped.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import html
import html.entities
import io
import json
import logging
import math
import re
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

LOGGER = logging.getLogger("prepare_data")

TASKS = ("tweets", "imdb", "ag_news", "csv")
SPLITS = ("train", "validation", "test")
DEFAULT_VAL_SIZE = 0.1
DEFAULT_TEST_SIZE = 0.1
IMDB_LABELS = {0: "negative", 1: "positive"}
AG_NEWS_LABELS = {1: "World", 2: "Sports", 3: "Business", 4: "Sci/Tech"}
DATA_SUFFIXES = (".csv", ".json", ".jsonl")

CARVE_BANNER = """
################################################################################
#  WARNING: AG NEWS SPLITS CARVED FROM THE OFFICIAL TEST SET (--carve_from_test)
#  The official 120,000-row train.csv is not available, so train, validation and
#  test were all cut from the 7,600-row official test.csv. Scores on these splits
#  are NOT comparable to published AG News results.
################################################################################"""


class DataPrepError(Exception):
    """Bad input: reported as a one-line ``error: ...`` message with exit code 2."""


@dataclass
class TaskData:
    """What a loader returns: a labelled pool and, when it exists, an official test split."""

    pool: pd.DataFrame
    test: pd.DataFrame | None
    text_column: str
    label_column: str
    test_labelled: bool
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    carved: bool = False


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


# --------------------------------------------------------------------------- file reading


def _one_line(message: object) -> str:
    return " ".join(str(message).split())


def read_text_file(path: Path) -> str:
    """Read a (optionally gzipped) UTF-8 file; a BOM is dropped. Raises DataPrepError."""
    try:
        raw = path.read_bytes()
        if path.name.endswith(".gz"):
            raw = gzip.decompress(raw)
    except FileNotFoundError:
        raise DataPrepError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise DataPrepError(f"{path}: cannot read file ({_one_line(exc)})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataPrepError(
            f"{path}: bad encoding, not valid UTF-8 "
            f"(byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        ) from None


def read_csv_file(path: Path, header: bool = True) -> pd.DataFrame:
    """Read a CSV file as strings: empty cells stay ``""``, never NaN."""
    text = read_text_file(path)
    if not text.strip():
        raise DataPrepError(f"{path}: file is empty")
    try:
        df = pd.read_csv(
            io.StringIO(text),
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            header=0 if header else None,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise DataPrepError(f"{path}: cannot parse as CSV ({_one_line(exc)})") from None
    if df.empty:
        raise DataPrepError(f"{path}: file has a header but no data rows")
    return df


def read_json_file(path: Path) -> pd.DataFrame:
    """Read a JSON list of records, a dict of columns, or JSON Lines."""
    text = read_text_file(path)
    if not text.strip():
        raise DataPrepError(f"{path}: file is empty")
    records: object
    try:
        if ".jsonl" in path.suffixes:
            raise json.JSONDecodeError("JSON Lines", text, 0)
        records = json.loads(text)
    except json.JSONDecodeError:
        try:
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise DataPrepError(f"{path}: cannot parse as JSON or JSON Lines ({exc})") from None
    if isinstance(records, dict):
        records = pd.DataFrame(records).to_dict("records")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise DataPrepError(f"{path}: expected a list of JSON objects (one per row)")
    if not records:
        raise DataPrepError(f"{path}: file has no rows")
    return pd.DataFrame.from_records(records)


def read_table(path: Path) -> pd.DataFrame:
    """Read a CSV/JSON/JSONL file (optionally ``.gz``) by its extension."""
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".csv"):
        return read_csv_file(path)
    if name.endswith((".json", ".jsonl")):
        return read_json_file(path)
    raise DataPrepError(f"{path}: unsupported file type (expected .csv, .json or .jsonl, optionally .gz)")


def find_file(raw_dir: Path, name: str, required: bool = True) -> Path | None:
    """Return ``raw_dir/name`` or ``raw_dir/name.gz``, whichever exists."""
    for candidate in (raw_dir / name, raw_dir / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    if required:
        raise DataPrepError(f"{raw_dir}: neither {name} nor {name}.gz found")
    return None


def require_columns(df: pd.DataFrame, columns: Sequence[str], path: Path | str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        names = [str(c) if len(str(c)) <= 30 else str(c)[:27] + "..." for c in df.columns[:8]]
        found = ", ".join(names) + (", ..." if len(df.columns) > 8 else "")
        raise DataPrepError(f"{path}: missing required column(s) {', '.join(missing)} (found: {found})")


def check_raw_dir(raw_dir: Path) -> None:
    if not raw_dir.exists():
        raise DataPrepError(f"{raw_dir}: raw directory not found")
    if not raw_dir.is_dir():
        raise DataPrepError(f"{raw_dir}: not a directory")


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def describe_source(path: Path) -> str:
    return f"{path.name} (sha256 {sha256_of(path)})"


# --------------------------------------------------------------------------- loaders


def load_tweets(raw_dir: Path) -> TaskData:
    """Kaggle disaster tweets: train has ``target``, test has none and is kept whole."""
    check_raw_dir(raw_dir)
    train_path = find_file(raw_dir, "train.csv")
    test_path = find_file(raw_dir, "test.csv")
    columns = ["id", "keyword", "location", "text"]
    train = read_csv_file(train_path)
    require_columns(train, columns + ["target"], train_path)
    test = read_csv_file(test_path)
    require_columns(test, columns, test_path)
    if "target" in test.columns:
        LOGGER.warning("%s has a 'target' column; it is dropped (Kaggle's test file has none)", test_path)
    train = train[columns + ["target"]].copy()
    bad = ~train["target"].str.strip().isin(["0", "1", ""])
    if bad.any():
        first = train.index[bad][0]
        raise DataPrepError(
            f"{train_path}: target must be 0 or 1, found {train.at[first, 'target']!r} "
            f"in data row {first + 1} ({int(bad.sum())} bad value(s))"
        )
    train["target"] = train["target"].str.strip().replace("", None)
    return TaskData(
        pool=train,
        test=test[columns].copy(),
        text_column="text",
        label_column="target",
        test_labelled=False,
        sources=[describe_source(train_path), describe_source(test_path)],
    )


def normalize_imdb_labels(labels: pd.Series, path: Path | str) -> pd.Series:
    """Map 0/1, neg/pos or negative/positive (any case) to ``negative``/``positive``."""
    mapping = {"0": "negative", "neg": "negative", "negative": "negative",
               "1": "positive", "pos": "positive", "positive": "positive"}
    as_text = labels.map(lambda v: "" if v is None or pd.isna(v) else str(v).strip().lower())
    as_text = as_text.str.replace(r"^([01])\.0$", r"\1", regex=True)
    bad = ~as_text.isin(list(mapping) + [""])
    if bad.any():
        values = ", ".join(sorted(map(repr, set(labels[bad].astype(str))))[:5])
        raise DataPrepError(
            f"{path}: label must be 0/1, neg/pos or negative/positive, found {values} "
            f"({int(bad.sum())} bad value(s))"
        )
    return as_text.map(lambda v: mapping.get(v))


def load_imdb_csv(path: Path) -> pd.DataFrame:
    df = read_table(path)
    require_columns(df, ["text", "label"], path)
    out = pd.DataFrame({
        "id": df["id"].astype(str) if "id" in df.columns else pd.Series(range(len(df))).astype(str),
        "rating": df["rating"].astype(str) if "rating" in df.columns else "",
        "label": normalize_imdb_labels(df["label"], path),
        "text": df["text"].map(lambda v: "" if v is None or pd.isna(v) else str(v)),
    })
    return out


_ACL_NAME = re.compile(r"^(\d+)_(\d+)$")


def find_aclimdb_root(raw_dir: Path) -> Path | None:
    """``raw_dir`` itself or ``raw_dir/aclImdb`` when it holds ``train/pos`` or ``train/neg``."""
    for root in (raw_dir, raw_dir / "aclImdb"):
        if (root / "train" / "pos").is_dir() or (root / "train" / "neg").is_dir():
            return root
    return None


def load_aclimdb_split(root: Path, split: str) -> pd.DataFrame:
    """Read ``root/split/{neg,pos}/<id>_<rating>.txt`` (neg first, then pos, by numeric id)."""
    rows: list[dict[str, str]] = []
    for folder, label in (("neg", "negative"), ("pos", "positive")):
        directory = root / split / folder
        if not directory.is_dir():
            raise DataPrepError(f"{directory}: folder not found (expected aclImdb/{split}/{{neg,pos}}/)")
        files = []
        for path in directory.glob("*.txt"):
            match = _ACL_NAME.match(path.stem)
            key = (0, int(match.group(1)), "") if match else (1, 0, path.name)
            files.append((key, path, match))
        for _, path, match in sorted(files, key=lambda item: item[0]):
            rows.append({
                "id": match.group(1) if match else path.stem,
                "rating": match.group(2) if match else "",
                "label": label,
                "text": read_text_file(path),
            })
    if not rows:
        raise DataPrepError(f"{root / split}: no review files (*.txt) found in neg/ or pos/")
    return pd.DataFrame(rows, columns=["id", "rating", "label", "text"])


def load_imdb(raw_dir: Path) -> TaskData:
    """IMDb from ``train.csv[.gz]``/``test.csv[.gz]``, else from the aclImdb folder layout."""
    check_raw_dir(raw_dir)
    train_path = find_file(raw_dir, "train.csv", required=False)
    if train_path is not None:
        test_path = find_file(raw_dir, "test.csv")
        train, test = load_imdb_csv(train_path), load_imdb_csv(test_path)
        sources = [describe_source(train_path), describe_source(test_path)]
    else:
        root = find_aclimdb_root(raw_dir)
        if root is None:
            raise DataPrepError(
                f"{raw_dir}: no train.csv[.gz] and no aclImdb layout (train/pos/*.txt, train/neg/*.txt)"
            )
        train, test = load_aclimdb_split(root, "train"), load_aclimdb_split(root, "test")
        sources = [f"aclImdb folder layout: {len(train)} train + {len(test)} test review files"]
    return TaskData(pool=train, test=test, text_column="text", label_column="label",
                    test_labelled=True, sources=sources, notes=replace_imdb_line_breaks(train, test))


_HTML_LINE_BREAK = re.compile(r"\s*<br\s*/?>\s*", re.IGNORECASE)


def replace_imdb_line_breaks(train: pd.DataFrame, test: pd.DataFrame) -> list[str]:
    """IMDb reviews mark line breaks with ``<br />``: make them newlines, in place.

    Most reviews have them, and each costs a model about four tokens of its length budget.
    """
    notes = []
    for name, table in (("train (and validation)", train), ("test", test)):
        has_tags = table["text"].str.contains(_HTML_LINE_BREAK)
        table["text"] = table["text"].str.replace(_HTML_LINE_BREAK, "\n", regex=True).str.replace(
            r"\n{3,}", "\n\n", regex=True).str.strip()
        notes.append(f"{name}: {int(has_tags.sum())} of {len(table)} reviews had <br /> line breaks, now newlines")
    return notes


_ENTITY = re.compile(
    r"&(#\d{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});"
    r"|(?: |(?<![\w&#;]))"
    r"(#\d{2,5}|quot|amp|lt|gt|apos|nbsp|hellip|mdash|ndash|lsquo|rsquo|ldquo|rdquo);"
)


def _decode_entity(match: re.Match[str]) -> str:
    name = match.group(1) or match.group(2)
    if not name.startswith("#"):
        return html.entities.html5.get(f"{name};", match.group(0))
    if name[1:].isdigit() and int(name[1:]) < 32:
        return match.group(0)  # control characters: leave the text alone
    return html.unescape(f"&{name};")


def unescape_ag_news(text: str) -> str:
    """Undo the AG News escapes (see the module docstring for the exact rules)."""
    text = text.replace("\\$", "$")
    text = _ENTITY.sub(_decode_entity, text)
    text = text.replace("\\", "\n")
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r" ?\n ?", "\n", text)
    return text.strip()


def read_ag_news_classes(raw_dir: Path) -> dict[int, str]:
    path = raw_dir / "classes.txt"
    if not path.is_file():
        return dict(AG_NEWS_LABELS)
    names = [line.strip() for line in read_text_file(path).splitlines() if line.strip()]
    if len(names) != 4:
        raise DataPrepError(f"{path}: expected 4 class names, found {len(names)}")
    if names != list(AG_NEWS_LABELS.values()):
        LOGGER.warning("%s: class names %s differ from the usual %s; using the file's names",
                       path, names, list(AG_NEWS_LABELS.values()))
    return dict(enumerate(names, start=1))


def load_ag_news_csv(path: Path, classes: dict[int, str]) -> pd.DataFrame:
    """Read an original headerless AG News CSV (class index, title, description)."""
    df = read_csv_file(path, header=False)
    if df.shape[1] != 3:
        raise DataPrepError(
            f"{path}: expected 3 columns (class index, title, description), found {df.shape[1]}"
        )
    df.columns = ["class_index", "title", "description"]
    first = df.at[0, "class_index"].strip()
    if not first.isdigit() and "class" in first.lower():
        LOGGER.info("%s: first row looks like a header (%r); skipped", path, first)
        df = df.iloc[1:].reset_index(drop=True)
        if df.empty:
            raise DataPrepError(f"{path}: file has a header but no data rows")
    index = df["class_index"].str.strip()
    valid = index.isin([str(k) for k in classes])
    if not valid.all():
        row = int(np.flatnonzero(~valid.to_numpy())[0])
        raise DataPrepError(
            f"{path}: class index must be one of 1..4, found {df.at[row, 'class_index']!r} "
            f"in line {row + 1} ({int((~valid).sum())} bad value(s))"
        )
    title = df["title"].map(unescape_ag_news)
    description = df["description"].map(unescape_ag_news)
    text = (title + " " + description).str.strip()
    return pd.DataFrame({
        "label": index.astype(int).map(classes),
        "title": title,
        "description": description,
        "text": text,
    })


def load_ag_news(raw_dir: Path, carve_from_test: bool = False) -> TaskData:
    """AG News. Without train.csv: refuse, or carve all splits from test.csv when asked."""
    check_raw_dir(raw_dir)
    classes = read_ag_news_classes(raw_dir)
    test_path = find_file(raw_dir, "test.csv")
    train_path = find_file(raw_dir, "train.csv", required=False)
    if train_path is None and not carve_from_test:
        raise DataPrepError(
            f"{raw_dir}: neither train.csv nor train.csv.gz found. Only the official AG News test "
            "split is present, so the usual protocol (train on 120,000 rows, test on 7,600) is "
            "impossible. Put the official train.csv there, or pass --carve_from_test to cut "
            "train/validation/test from test.csv (results are then NOT comparable to published "
            "AG News numbers)"
        )
    if train_path is not None and carve_from_test:
        raise DataPrepError(
            f"{train_path}: --carve_from_test was given but the official train file exists; "
            "drop the flag to use the official train/test protocol"
        )
    test = load_ag_news_csv(test_path, classes)
    notes = [
        "AG News escapes undone: '\\$' -> '$'; other backslashes -> newline; HTML entities "
        "(also bare ones like ' #39;', ' quot;', ' amp;') -> characters; whitespace runs collapsed.",
        "text = title + ' ' + description.",
    ]
    if train_path is None:
        notes.insert(0, CARVE_BANNER.strip())
        return TaskData(pool=test, test=None, text_column="text", label_column="label",
                        test_labelled=True, sources=[describe_source(test_path)],
                        notes=notes, carved=True)
    train = load_ag_news_csv(train_path, classes)
    return TaskData(pool=train, test=test, text_column="text", label_column="label",
                    test_labelled=True,
                    sources=[describe_source(train_path), describe_source(test_path)],
                    notes=notes)


def list_data_files(raw_dir: Path) -> list[Path]:
    check_raw_dir(raw_dir)
    files = sorted(
        p for p in raw_dir.iterdir()
        if p.is_file() and p.name.lower().removesuffix(".gz").endswith(DATA_SUFFIXES)
    )
    if not files:
        raise DataPrepError(f"{raw_dir}: no .csv, .json or .jsonl files found")
    return files


def load_user_files(paths: Sequence[Path], text_column: str, label_column: str) -> TaskData:
    """Any CSV/JSON/JSONL files with a text and a label column, concatenated in order."""
    frames = []
    for path in paths:
        if not path.is_file():
            raise DataPrepError(f"{path}: file not found")
        df = read_table(path)
        require_columns(df, [text_column, label_column], path)
        frames.append(df)
    pool = pd.concat(frames, ignore_index=True)
    pool[text_column] = pool[text_column].map(lambda v: "" if v is None or pd.isna(v) else str(v))
    pool[label_column] = pool[label_column].map(
        lambda v: None if v is None or pd.isna(v) or str(v).strip() == "" else v
    )
    return TaskData(pool=pool, test=None, text_column=text_column, label_column=label_column,
                    test_labelled=True, sources=[describe_source(p) for p in paths])


def load_from_hub(task: str) -> TaskData:
    """Online path: ``datasets.load_dataset`` for imdb / ag_news (needs internet or a cache)."""
    from datasets import load_dataset  # imported lazily: only this path needs it

    name = {"imdb": "imdb", "ag_news": "ag_news"}[task]
    LOGGER.info("loading %r with datasets.load_dataset (Hugging Face Hub)", name)
    dataset = load_dataset(name)
    names = dataset["train"].features["label"].names
    frames = {}
    for split in ("train", "test"):
        df = dataset[split].to_pandas()
        if task == "imdb":
            label = df["label"].map(lambda i: {"neg": "negative", "pos": "positive"}.get(names[i], names[i]))
            frames[split] = pd.DataFrame({"id": range(len(df)), "rating": "", "label": label,
                                          "text": df["text"]})
        else:
            frames[split] = pd.DataFrame({"label": df["label"].map(lambda i: names[i]),
                                          "text": df["text"].map(unescape_ag_news)})
    notes = replace_imdb_line_breaks(frames["train"], frames["test"]) if task == "imdb" else []
    return TaskData(pool=frames["train"], test=frames["test"], text_column="text",
                    label_column="label", test_labelled=True,
                    sources=[f"datasets.load_dataset({name!r})"], notes=notes)


# --------------------------------------------------------------------------- cleaning


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (
        isinstance(value, str) and value.strip() == ""
    )


def clean_labelled(df: pd.DataFrame, text_column: str, label_column: str,
                   name: str = "train") -> tuple[pd.DataFrame, CleanReport]:
    """Remove rows without text or label and every copy of texts with conflicting labels."""
    report = CleanReport(name=name, rows_in=len(df))
    no_text = df[text_column].map(_is_missing)
    report.removed["empty or missing text"] = int(no_text.sum())
    df = df[~no_text]
    no_label = df[label_column].map(_is_missing)
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
    no_text = df[text_column].map(_is_missing)
    if not labelled:
        if no_text.any():
            LOGGER.warning("test: %d row(s) have empty text; KEPT (every test row needs a prediction)",
                           int(no_text.sum()))
        return df.reset_index(drop=True), report
    assert label_column is not None
    no_label = df[label_column].map(_is_missing) & ~no_text
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


# --------------------------------------------------------------------------- splitting


def looks_categorical(labels: pd.Series) -> bool:
    """False for regression-like labels (non-integer numbers, or almost all values distinct)."""
    values = labels.astype(str).str.strip()
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all() and (numeric % 1 != 0).any():
        return False
    return values.nunique() <= max(2, len(values) // 2)


def stratified_split(df: pd.DataFrame, text_column: str, label_column: str, test_size: float,
                     seed: int, stratify: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded split of ``df`` into (rest, held-out), stratified by label, grouped by text.

    The split is made on the distinct texts (each with its single label after cleaning), and
    every row follows its text, so no text ends up on both sides. ``test_size`` is the
    fraction of distinct texts held out. Both parts keep the input row order.
    """
    groups = df.drop_duplicates(text_column)[[text_column, label_column]]
    if len(groups) < 2:
        raise DataPrepError(f"only {len(groups)} distinct text(s) left: not enough rows to split")
    texts = groups[text_column].to_numpy()
    labels = groups[label_column].astype(str).to_numpy()
    try:
        if not stratify:
            raise ValueError("stratification disabled")
        rest, held = train_test_split(texts, test_size=test_size, random_state=seed, stratify=labels)
    except ValueError as exc:
        if stratify:
            LOGGER.warning("cannot stratify (%s); splitting without stratification", _one_line(exc))
        try:
            rest, held = train_test_split(texts, test_size=test_size, random_state=seed)
        except ValueError as inner:
            raise DataPrepError(f"cannot split {len(texts)} distinct texts: {_one_line(inner)}") from None
    held_mask = df[text_column].isin(held)
    return df[~held_mask], df[held_mask]


def shuffle_rows(df: pd.DataFrame, seed: int) -> pd.DataFrame:
    order = np.random.RandomState(seed).permutation(len(df))
    return df.iloc[order].reset_index(drop=True)


def make_splits(data: TaskData, pool: pd.DataFrame, test: pd.DataFrame | None, val_size: float,
                test_size: float, seed: int, stratify: bool) -> dict[str, pd.DataFrame]:
    """Split the cleaned pool into train/validation (and test when there is no official one)."""
    text, label = data.text_column, data.label_column
    if test is None:
        rest, test = stratified_split(pool, text, label, test_size, seed, stratify)
        # val_size is a fraction of the whole pool, so rescale it for the remainder
        rest_val = val_size / (1.0 - test_size)
        train, validation = stratified_split(rest, text, label, rest_val, seed, stratify)
        test = shuffle_rows(test, seed + 2)
    else:
        train, validation = stratified_split(pool, text, label, val_size, seed, stratify)
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


# --------------------------------------------------------------------------- reporting


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
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, df in splits.items():
            path = output_dir / f"{name}.csv"
            df.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
            paths.append(path)
    except OSError as exc:
        raise DataPrepError(f"{output_dir}: cannot write output ({_one_line(exc)})") from None
    return paths


def write_protocol(output_dir: Path, args: argparse.Namespace, data: TaskData,
                   reports: list[CleanReport], summary: list[str],
                   overlaps: dict[str, int]) -> Path:
    command = f"prepare_data.py --task {args.task} --val_size {args.val_size} --seed {args.seed}"
    if data.test is None:
        command += f" --test_size {args.test_size}"
    if args.carve_from_test:
        command += " --carve_from_test"
    lines = [command, ""]
    lines += data.notes + ([""] if data.notes else [])
    lines.append("Sources:")
    lines += [f"  {s}" for s in data.sources]
    lines.append("")
    if data.carved:
        how = (f"train/validation/test carved from the source by a seeded split on distinct texts "
               f"(stratified by label): validation {args.val_size}, test {args.test_size}")
    elif data.test is None:
        how = (f"train/validation/test split from the input by a seeded split on distinct texts: "
               f"validation {args.val_size}, test {args.test_size}")
    else:
        how = (f"validation = {args.val_size} of the distinct train texts (seeded, stratified by "
               f"label); test = the official test split, all rows in file order")
    lines += [f"Split: {how}; seed {args.seed}.",
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
    path = output_dir / "PROTOCOL.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------- CLI


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Turn raw public datasets into train/validation/test CSV files for "
                    "run_classification.py (--train_file/--validation_file/--test_file).",
    )
    parser.add_argument("--task", required=True, choices=TASKS,
                        help="dataset format: tweets (Kaggle disaster tweets), imdb (CSV or "
                             "aclImdb folders), ag_news (original headerless CSVs), csv (any "
                             "CSV/JSON/JSONL file with a text and a label column)")
    parser.add_argument("--raw_dir", type=Path,
                        help="folder with the raw files (e.g. /work/shared/data/tweets); "
                             "*.gz files are accepted everywhere")
    parser.add_argument("--input", type=Path, nargs="+", metavar="FILE",
                        help="csv task only: input file(s) to use instead of --raw_dir")
    parser.add_argument("--output_dir", type=Path, required=True,
                        help="where train.csv, validation.csv, test.csv and PROTOCOL.txt go")
    parser.add_argument("--val_size", type=float, default=DEFAULT_VAL_SIZE,
                        help="validation fraction (of the train pool, or of all data when "
                             "test is carved too; default: %(default)s)")
    parser.add_argument("--test_size", type=float, default=None,
                        help=f"test fraction when test is carved (csv task, ag_news with "
                             f"--carve_from_test; default: {DEFAULT_TEST_SIZE})")
    parser.add_argument("--seed", type=int, default=42, help="seed for splitting and shuffling (default: %(default)s)")
    parser.add_argument("--text_column", default="text", help="csv task: text column name (default: %(default)s)")
    parser.add_argument("--label_column", default="label", help="csv task: label column name (default: %(default)s)")
    parser.add_argument("--carve_from_test", action="store_true",
                        help="ag_news without train.csv: carve train/validation/test from the "
                             "official test.csv (NOT comparable to published results)")
    parser.add_argument("--from_hub", action="store_true",
                        help="imdb/ag_news without --raw_dir: download with "
                             "datasets.load_dataset (needs internet)")
    return parser


def validate_args(args: argparse.Namespace) -> None:
    if not 0.0 < args.val_size < 1.0:
        raise DataPrepError(f"--val_size must be between 0 and 1, got {args.val_size}")
    carves_test = args.task == "csv" or (args.task == "ag_news" and args.carve_from_test)
    if args.test_size is not None and not carves_test:
        LOGGER.warning("--test_size is ignored: task %s uses its official test split", args.task)
    if args.test_size is None:
        args.test_size = DEFAULT_TEST_SIZE
    if carves_test and not (0.0 < args.test_size < 1.0 and args.val_size + args.test_size < 1.0):
        raise DataPrepError(f"--val_size + --test_size must be below 1 (and each above 0), "
                            f"got {args.val_size} + {args.test_size}")
    if args.input and args.task != "csv":
        raise DataPrepError("--input is only for --task csv; use --raw_dir")
    if args.input and args.raw_dir:
        raise DataPrepError("give either --input or --raw_dir, not both")
    if args.from_hub and args.raw_dir:
        raise DataPrepError("give either --raw_dir or --from_hub, not both")
    if args.from_hub and args.task not in ("imdb", "ag_news"):
        raise DataPrepError("--from_hub works only for --task imdb or ag_news")
    if args.carve_from_test and args.task != "ag_news":
        raise DataPrepError("--carve_from_test is only for --task ag_news")
    if not (args.raw_dir or args.input or args.from_hub):
        raise DataPrepError("--raw_dir is required (or --input for csv, or --from_hub for imdb/ag_news)")


def load_task(args: argparse.Namespace) -> TaskData:
    if args.from_hub:
        return load_from_hub(args.task)
    if args.task == "tweets":
        return load_tweets(args.raw_dir)
    if args.task == "imdb":
        return load_imdb(args.raw_dir)
    if args.task == "ag_news":
        return load_ag_news(args.raw_dir, carve_from_test=args.carve_from_test)
    files = list(args.input) if args.input else list_data_files(args.raw_dir)
    return load_user_files(files, args.text_column, args.label_column)


def run(args: argparse.Namespace) -> None:
    validate_args(args)
    data = load_task(args)
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
    splits = make_splits(data, pool, test, args.val_size, args.test_size, args.seed, stratify)

    overlaps = check_overlaps(splits, text)
    LOGGER.info("no text is shared between train and validation%s (split on distinct texts)",
                "" if data.test is not None else " or test")
    if data.test is not None:
        for pair in ("train/test", "validation/test"):
            if overlaps[pair]:
                LOGGER.warning("%s: %d test row(s) have an exact text that is also in %s; kept "
                               "(the official test split is not changed)",
                               pair, overlaps[pair], pair.split("/")[0])

    paths = write_splits(splits, args.output_dir)
    summary = summarize_splits(splits, text, label)
    protocol = write_protocol(args.output_dir, args, data, reports, summary, overlaps)
    LOGGER.info("summary (text length in words):")
    for line in summary:
        LOGGER.info("  %s", line)
    LOGGER.info("wrote %s", ", ".join(str(p) for p in paths + [protocol]))
    if data.carved:
        LOGGER.warning("%s", CARVE_BANNER)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.INFO)
    try:
        run(args)
    except DataPrepError as exc:
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return 2
    finally:
        LOGGER.removeHandler(handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
