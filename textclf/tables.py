"""Reading the user's data files into pandas, and the one list of file types the toolkit reads.

run_classification.py loads files with the datasets library (as upstream does); data preparation,
the model comparison, the audit and the demo's examples read them here, as tables of strings.
Both take the file types from FILE_FORMATS. pandas is imported only when a file is read, so this
module is light enough for a Hugging Face Space.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from pathlib import Path
from typing import Sequence

from textclf import UserInputError

# file suffix -> (datasets builder, its options); each may also be gzip-compressed (".csv.gz")
FILE_FORMATS = {
    ".csv": ("csv", {}),
    ".tsv": ("csv", {"delimiter": "\t"}),
    ".json": ("json", {}),
    ".jsonl": ("json", {}),
}


def one_line(message: object) -> str:
    return " ".join(str(message).split())


def file_format(path: str | Path) -> tuple[str, dict]:
    """The datasets builder and its options for a data file, from its suffix."""
    name = str(path).lower().removesuffix(".gz")
    for suffix, builder in FILE_FORMATS.items():
        if name.endswith(suffix):
            return builder
    raise UserInputError(
        f"{path}: unsupported file type; use one of {', '.join(FILE_FORMATS)} (optionally .gz compressed)"
    )


def read_text_file(path: Path) -> str:
    """A (optionally gzipped) UTF-8 file; a BOM is dropped."""
    try:
        raw = path.read_bytes()
        if path.name.endswith(".gz"):
            raw = gzip.decompress(raw)
    except FileNotFoundError:
        raise UserInputError(f"{path}: file not found") from None
    except (OSError, EOFError, zlib.error) as exc:
        raise UserInputError(f"{path}: cannot read file ({one_line(exc)})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserInputError(
            f"{path}: bad encoding, not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        ) from None


def read_csv_file(path: Path, header: bool = True, delimiter: str = ",", max_rows: int | None = None):
    """A CSV (or TSV) file as strings: cells come back byte for byte, empty ones as "", never NaN."""
    import pandas as pd

    text = read_text_file(path)
    if not text.strip():
        raise UserInputError(f"{path}: file is empty")
    try:
        table = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False, na_filter=False,
                            header=0 if header else None, nrows=max_rows)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise UserInputError(f"{path}: cannot parse as CSV ({one_line(exc)})") from None
    if table.empty:
        raise UserInputError(f"{path}: file has a header but no data rows")
    return table


def read_json_file(path: Path, max_rows: int | None = None):
    """A JSON list of records, a dict of columns, or JSON Lines; values as JSON parsed them."""
    import pandas as pd

    text = read_text_file(path)
    if not text.strip():
        raise UserInputError(f"{path}: file is empty")
    records: object
    try:
        if ".jsonl" in path.suffixes:
            raise json.JSONDecodeError("JSON Lines", text, 0)
        records = json.loads(text)
    except json.JSONDecodeError:
        try:
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise UserInputError(f"{path}: cannot parse as JSON or JSON Lines ({exc})") from None
    if isinstance(records, dict):
        records = pd.DataFrame(records).to_dict("records")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise UserInputError(f"{path}: expected a list of JSON objects (one per row)")
    if not records:
        raise UserInputError(f"{path}: file has no rows")
    return pd.DataFrame.from_records(records[:max_rows] if max_rows else records)


def read_table(path: Path, max_rows: int | None = None):
    """A CSV, TSV, JSON or JSON Lines file (optionally .gz), by its suffix (see FILE_FORMATS)."""
    path = Path(path)
    builder, options = file_format(path)
    if builder == "csv":
        return read_csv_file(path, delimiter=options.get("delimiter", ","), max_rows=max_rows)
    return read_json_file(path, max_rows=max_rows)


def require_columns(table, columns: Sequence[str], path: Path | str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        names = [str(c) if len(str(c)) <= 30 else str(c)[:27] + "..." for c in table.columns[:8]]
        found = ", ".join(names) + (", ..." if len(table.columns) > 8 else "")
        raise UserInputError(f"{path}: missing required column(s) {', '.join(missing)} (found: {found})")
