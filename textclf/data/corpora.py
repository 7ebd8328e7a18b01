"""What the toolkit knows about each public dataset's raw files: how to read and clean them.

Kaggle's Disaster Tweets, IMDB (CSV or the original aclImdb folders), AG News (the original
headerless CSVs, with their escapes), any CSV/JSON files, and the Hugging Face Hub's copies. Each
loader returns a `TaskData`: a labelled pool and, where there is one, the official test split.
textclf.data.preparation cleans and splits it; prepare_data.py is the command line.

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

import hashlib
import html
import html.entities
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from textclf import UserInputError
from textclf.tables import FILE_FORMATS, read_csv_file, read_table, read_text_file, require_columns
from textclf.tasks import Task

LOGGER = logging.getLogger("prepare_data")

AG_NEWS_LABELS = {1: "World", 2: "Sports", 3: "Business", 4: "Sci/Tech"}


CARVE_BANNER = """
################################################################################
#  WARNING: AG NEWS SPLITS CARVED FROM THE OFFICIAL TEST SET (--carve_from_test)
#  The official 120,000-row train.csv is not available, so train, validation and
#  test were all cut from the 7,600-row official test.csv. Scores on these splits
#  are NOT comparable to published AG News results.
################################################################################"""


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


def find_file(raw_dir: Path, name: str, required: bool = True) -> Path | None:
    """Return ``raw_dir/name`` or ``raw_dir/name.gz``, whichever exists."""
    for candidate in (raw_dir / name, raw_dir / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    if required:
        raise UserInputError(f"{raw_dir}: neither {name} nor {name}.gz found")
    return None


def check_raw_dir(raw_dir: Path) -> None:
    if not raw_dir.exists():
        raise UserInputError(f"{raw_dir}: raw directory not found")
    if not raw_dir.is_dir():
        raise UserInputError(f"{raw_dir}: not a directory")


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def describe_source(path: Path) -> str:
    return f"{path.name} (sha256 {sha256_of(path)})"


# Every loader named in the task table (textclf/tasks.py, Task.loader) takes the raw folder, the task
# (its text and label columns) and whether to carve every split from the official test file.


def load_tweets(raw_dir: Path, task: Task, carve_from_test: bool = False) -> TaskData:
    """Kaggle disaster tweets: train has ``target``, test has none and is kept whole."""
    check_raw_dir(raw_dir)
    train_path = find_file(raw_dir, "train.csv")
    test_path = find_file(raw_dir, "test.csv")
    text, label = task.text_columns, task.label_column  # Kaggle's own names
    columns = ["id", "keyword", "location", text]
    train = read_csv_file(train_path)
    require_columns(train, columns + [label], train_path)
    test = read_csv_file(test_path)
    require_columns(test, columns, test_path)
    if label in test.columns:
        LOGGER.warning("%s has a %r column; it is dropped (Kaggle's test file has none)", test_path, label)
    train = train[columns + [label]].copy()
    bad = ~train[label].str.strip().isin(["0", "1", ""])
    if bad.any():
        first = train.index[bad][0]
        raise UserInputError(
            f"{train_path}: {label} must be 0 or 1, found {train.at[first, label]!r} "
            f"in data row {first + 1} ({int(bad.sum())} bad value(s))"
        )
    train[label] = train[label].str.strip().replace("", None)
    return TaskData(
        pool=train,
        test=test[columns].copy(),
        text_column=text,
        label_column=label,
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
        raise UserInputError(
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
            raise UserInputError(f"{directory}: folder not found (expected aclImdb/{split}/{{neg,pos}}/)")
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
        raise UserInputError(f"{root / split}: no review files (*.txt) found in neg/ or pos/")
    return pd.DataFrame(rows, columns=["id", "rating", "label", "text"])


def load_imdb(raw_dir: Path, task: Task, carve_from_test: bool = False) -> TaskData:
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
            raise UserInputError(
                f"{raw_dir}: no train.csv[.gz] and no aclImdb layout (train/pos/*.txt, train/neg/*.txt)"
            )
        train, test = load_aclimdb_split(root, "train"), load_aclimdb_split(root, "test")
        sources = [f"aclImdb folder layout: {len(train)} train + {len(test)} test review files"]
    return TaskData(pool=train, test=test, text_column=task.text_columns, label_column=task.label_column,
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
        raise UserInputError(f"{path}: expected 4 class names, found {len(names)}")
    if names != list(AG_NEWS_LABELS.values()):
        LOGGER.warning("%s: class names %s differ from the usual %s; using the file's names",
                       path, names, list(AG_NEWS_LABELS.values()))
    return dict(enumerate(names, start=1))


def load_ag_news_csv(path: Path, classes: dict[int, str]) -> pd.DataFrame:
    """Read an original headerless AG News CSV (class index, title, description)."""
    df = read_csv_file(path, header=False)
    if df.shape[1] != 3:
        raise UserInputError(
            f"{path}: expected 3 columns (class index, title, description), found {df.shape[1]}"
        )
    df.columns = ["class_index", "title", "description"]
    first = df.at[0, "class_index"].strip()
    if not first.isdigit() and "class" in first.lower():
        LOGGER.info("%s: first row looks like a header (%r); skipped", path, first)
        df = df.iloc[1:].reset_index(drop=True)
        if df.empty:
            raise UserInputError(f"{path}: file has a header but no data rows")
    index = df["class_index"].str.strip()
    valid = index.isin([str(k) for k in classes])
    if not valid.all():
        row = int(np.flatnonzero(~valid.to_numpy())[0])
        raise UserInputError(
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


def load_ag_news(raw_dir: Path, task: Task, carve_from_test: bool = False) -> TaskData:
    """AG News. Without train.csv: refuse, or carve all splits from test.csv when asked."""
    check_raw_dir(raw_dir)
    text, label = task.text_columns, task.label_column
    classes = read_ag_news_classes(raw_dir)
    test_path = find_file(raw_dir, "test.csv")
    train_path = find_file(raw_dir, "train.csv", required=False)
    if train_path is None and not carve_from_test:
        raise UserInputError(
            f"{raw_dir}: neither train.csv nor train.csv.gz found. Only the official AG News test "
            "split is present, so the usual protocol (train on 120,000 rows, test on 7,600) is "
            "impossible. Put the official train.csv there, or pass --carve_from_test to cut "
            "train/validation/test from test.csv (results are then NOT comparable to published "
            "AG News numbers)"
        )
    if train_path is not None and carve_from_test:
        raise UserInputError(
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
        return TaskData(pool=test, test=None, text_column=text, label_column=label,
                        test_labelled=True, sources=[describe_source(test_path)],
                        notes=notes, carved=True)
    train = load_ag_news_csv(train_path, classes)
    return TaskData(pool=train, test=test, text_column=text, label_column=label,
                    test_labelled=True,
                    sources=[describe_source(train_path), describe_source(test_path)],
                    notes=notes)


def list_data_files(raw_dir: Path) -> list[Path]:
    check_raw_dir(raw_dir)
    files = sorted(
        p for p in raw_dir.iterdir()
        if p.is_file() and p.name.lower().removesuffix(".gz").endswith(tuple(FILE_FORMATS))
    )
    if not files:
        raise UserInputError(f"{raw_dir}: no .csv, .json or .jsonl files found")
    return files


def load_user_files(paths: Sequence[Path], text_column: str, label_column: str) -> TaskData:
    """Any CSV/JSON/JSONL files with a text and a label column, concatenated in order."""
    frames = []
    for path in paths:
        if not path.is_file():
            raise UserInputError(f"{path}: file not found")
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


def load_labelled_files(raw_dir: Path, task: Task, carve_from_test: bool = False) -> TaskData:
    """A task whose raw folder holds train and test files (CSV, TSV, JSON lines; gzipped or not) with the
    task's text and label columns: the loader a new task can name before it needs one of its own. The
    test file's labels are kept where it has them."""
    check_raw_dir(raw_dir)
    text_columns, label = task.text_columns.split(","), task.label_column
    files = list_data_files(raw_dir)
    paths = {split: next((path for path in files if path.name.lower().startswith(split + ".")), None)
             for split in ("train", "test")}
    if paths["train"] is None or paths["test"] is None:
        raise UserInputError(f"{raw_dir}: the {task.name} task needs a train and a test file "
                             f"(train.csv and test.csv, or .tsv, .json, .jsonl, each possibly .gz)")
    train, test = read_table(paths["train"]), read_table(paths["test"])
    require_columns(train, [*text_columns, label], paths["train"])
    require_columns(test, text_columns, paths["test"])
    return TaskData(pool=train, test=test, text_column=task.text_columns, label_column=label,
                    test_labelled=label in test.columns, sources=[describe_source(paths[split]) for split in paths])


def load_from_hub(task: Task) -> TaskData:
    """Online path: ``datasets.load_dataset(task.hub_dataset)`` (needs internet or a cache)."""
    from datasets import load_dataset  # imported lazily: only this path needs it

    name = task.hub_dataset
    LOGGER.info("loading %r with datasets.load_dataset (Hugging Face Hub)", name)
    dataset = load_dataset(name)
    names = dataset["train"].features["label"].names
    frames = {}
    for split in ("train", "test"):
        df = dataset[split].to_pandas()
        if name == "imdb":
            label = df["label"].map(lambda i: {"neg": "negative", "pos": "positive"}.get(names[i], names[i]))
            frames[split] = pd.DataFrame({"id": range(len(df)), "rating": "", "label": label,
                                          "text": df["text"]})
        else:  # ag_news
            frames[split] = pd.DataFrame({"label": df["label"].map(lambda i: names[i]),
                                          "text": df["text"].map(unescape_ag_news)})
    notes = replace_imdb_line_breaks(frames["train"], frames["test"]) if name == "imdb" else []
    return TaskData(pool=frames["train"], test=frames["test"], text_column=task.text_columns,
                    label_column=task.label_column, test_labelled=True,
                    sources=[f"datasets.load_dataset({name!r})"], notes=notes)
