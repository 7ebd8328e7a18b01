"""Load the user's CSV/JSON files and turn the chosen columns into the text the model reads.

Each file is loaded on its own: loading them together (as upstream does) makes datasets 5.x give a
test file without the label column a column of `None`, which upstream then counts as a class.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from datasets import Dataset, DatasetDict

from textclf import UserInputError
from textclf.missing import is_none_nan_or_empty
from textclf.tables import file_format

logger = logging.getLogger(__name__)

SPLIT_OPTIONS = {"train": "--train_file", "validation": "--validation_file", "test": "--test_file"}
DEFAULT_TEXT_COLUMNS = ("sentence", "text")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}


def check_data_file(path: str, option: str) -> None:
    file = Path(path)
    if not file.exists():
        raise UserInputError(f"{option} {path}: no such file")
    if not file.is_file():
        raise UserInputError(f"{option} {path}: not a file")
    if file.stat().st_size == 0:
        raise UserInputError(f"{option} {path}: the file is empty")
    file_format(path)


def load_data_file(path: str, split: str, cache_dir: str | None = None) -> Dataset:
    """One split from one local file, with a one-line error for anything unreadable."""
    from datasets import load_dataset

    check_data_file(path, SPLIT_OPTIONS.get(split, split))
    builder, options = file_format(path)
    try:
        dataset = load_dataset(builder, data_files={split: path}, cache_dir=cache_dir, **options)[split]
    except Exception as error:  # pandas/pyarrow/datasets raise many types for a malformed file
        if "corresponds to no data" in str(error):  # datasets' words for a file with only a header
            raise UserInputError(f"{path}: no rows of data") from error
        cause = error.__cause__ or error
        reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        raise UserInputError(f"{path}: could not be read as {builder.upper()} ({reason})") from error
    if dataset.num_rows == 0:
        raise UserInputError(f"{path}: no rows of data")
    return dataset


def load_data_files(data_files: dict[str, str], cache_dir: str | None = None) -> DatasetDict:
    """Load each split's file separately (see the module docstring for why)."""
    raw_datasets = DatasetDict()
    for split, path in data_files.items():
        logger.info("Loading %s split from %s", split, path)
        raw_datasets[split] = load_data_file(path, split, cache_dir)
    return raw_datasets


def unescape_delimiter(delimiter: str) -> str:
    r"""`--text_column_delimiter "\n"` typed in a shell arrives as a backslash and an n."""
    return re.sub(r"\\([ntr\\])", lambda match: _ESCAPES[match.group(1)], delimiter)


def resolve_text_columns(text_column_names: str | None, columns: list[str], source: str) -> list[str]:
    """The text columns to join, checked against a split's columns.

    Upstream uses a "sentence" column when none is given; we also accept "text", the name most
    CSV files use.
    """
    if text_column_names is not None:
        names = [name.strip() for name in text_column_names.split(",") if name.strip()]
        missing = [name for name in names if name not in columns]
        if missing:
            raise UserInputError(
                f"{source}: no column {', '.join(map(repr, missing))} (--text_column_names); "
                f"columns are: {', '.join(columns)}"
            )
        return names
    for name in DEFAULT_TEXT_COLUMNS:
        if name in columns:
            logger.info("No --text_column_names given: using the %r column of %s", name, source)
            return [name]
    raise UserInputError(
        f"{source}: no 'sentence' or 'text' column; pass --text_column_names (columns are: {', '.join(columns)})"
    )


def join_text_columns(examples: dict[str, list], text_columns: list[str], delimiter: str) -> list[str]:
    """One text per row: the non-empty values of the text columns joined with the delimiter.

    Empty CSV cells arrive as None (NaN in a column that pandas read as numbers); upstream
    crashes on them, here they are skipped.
    """
    rows = zip(*(examples[column] for column in text_columns))
    return [delimiter.join(str(value) for value in row if not is_none_nan_or_empty(value)) for row in rows]


def source_of(split: str, data_files: dict[str, str]) -> str:
    """How error messages name a split: its file, or the split name for hub datasets."""
    return data_files.get(split, f"the {split} split")
