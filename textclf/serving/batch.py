"""Predicting a file of any size with a finished run (predict.py): a chunk of rows at a time, on every
core, resumable, and the one owner of the prediction table's format (the demo's CSV tab writes it too).

The output is the input's columns, then `prediction` and one `prob_<class>` column per class. A row
whose text is empty gets an empty prediction and no probabilities rather than the model's guess for "".
Cells a spreadsheet would run as a formula (starting with = + - @, a tab or a carriage return) get a
leading apostrophe, as OWASP advises for CSV exports ("CSV Injection").

Finished chunks are kept beside the output in `<output>.partial/` (written to a temporary name, then
renamed), with a manifest saying which input, run and settings they belong to; the same command,
killed at any moment, continues from the last finished chunk, and the output file appears only when
it is complete: its chunks joined into a temporary file, then renamed.
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from textclf import UserInputError
from textclf.missing import is_none_nan_or_empty
from textclf.problem_types import MULTI_LABEL
from textclf.runs.folder import RunInfo, read_optional_json, write_json_atomically
from textclf.serving.predictor import Predictor, weights_mtime
from textclf.tables import file_format, one_line, require_columns

logger = logging.getLogger(__name__)

PREDICTION_COLUMN = "prediction"
PROBABILITY_PREFIX = "prob_"
PROBABILITY_DECIMALS = 6  # what predictions.csv and the demo's CSV tab write
# OWASP "CSV Injection": a cell starting with one of these runs as a formula in Excel and LibreOffice.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Rows read, predicted and written at a time: what a kill can lose, and what memory holds.
CHUNK_ROWS = 2048
# Texts per model call: on 2 cores, calls of 16 reviews beat calls of 64 by 1.3 to 1.5x (bench/RESULTS.md,
# IMDB end to end); texts in a call are of similar length (the Predictor sorts them).
BATCH_SIZE = 16
PARTIAL_SUFFIX = ".partial"  # <output>.partial/: the finished chunks and the manifest of an unfinished job
MANIFEST = "manifest.json"
# Output formats by suffix; TSV and JSON Lines in, CSV out unless the output's name says otherwise.
OUTPUT_FORMATS = (".csv", ".tsv", ".jsonl")


def probability_column(label: str) -> str:
    return f"{PROBABILITY_PREFIX}{label}"


def prediction_name(scores: np.ndarray, predictor: Predictor) -> str:
    """The predicted class: the most probable one, or the run's decision threshold's choice for two
    classes; for multi-label, every class at 0.5 or more, joined with `|`. Empty for a row not predicted."""
    if pd.isna(scores).any():
        return ""
    if predictor.problem_type == MULTI_LABEL:
        return "|".join(label for label, score in zip(predictor.labels, scores) if score >= 0.5)
    return predictor.labels[int(predictor.predicted_ids(scores[None])[0])]


def neutralise_formulas(table: pd.DataFrame) -> pd.DataFrame:
    """The table with every text cell that a spreadsheet would execute prefixed with an apostrophe."""
    table = table.copy()
    for column in table.columns:
        values = table[column]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        risky = values.map(lambda value: isinstance(value, str) and value.startswith(FORMULA_STARTS))
        if risky.any():
            table[column] = values.astype(object).where(~risky, "'" + values[risky].astype(str))
    return table


def texts_of(table: pd.DataFrame, text_columns: list[str], delimiter: str = " ") -> list[str]:
    """One text per row: the non-empty values of the text columns joined as training joined them
    (run_classification.py's --text_column_delimiter, a space by default)."""
    columns = [table[column].tolist() for column in text_columns]
    return [delimiter.join(str(value) for value in row if not is_none_nan_or_empty(value)) for row in zip(*columns)]


def predict_texts(predictor: Predictor, texts: list[str], workers: int = 1, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Probabilities of `texts`, NaN for empty ones, on `workers` one-core sessions side by side."""
    probabilities = np.full((len(texts), len(predictor.labels)), np.nan, dtype=np.float32)
    rows = [i for i, text in enumerate(texts) if text.strip()]
    if rows:
        probabilities[rows] = predictor.predict_proba_on_every_core([texts[i] for i in rows], workers, batch_size)
    return probabilities


def prediction_table(predictor: Predictor, table: pd.DataFrame, texts: list[str], workers: int = 1,
                     batch_size: int = BATCH_SIZE) -> pd.DataFrame:
    """`table` (formulas neutralised) with `prediction` and one `prob_<class>` column per class appended."""
    probabilities = predict_texts(predictor, texts, workers, batch_size)
    result = neutralise_formulas(table).reset_index(drop=True)
    result[PREDICTION_COLUMN] = [prediction_name(scores, predictor) for scores in probabilities]
    columns = pd.DataFrame(probabilities.round(PROBABILITY_DECIMALS),
                           columns=[probability_column(label) for label in predictor.labels])
    return pd.concat([result, columns], axis=1)


# --- Reading an input of any size -----------------------------------------------------------------------


def check_readable_text(path: Path) -> None:
    """Fail early, in one line, on a missing, empty or binary input file."""
    if not path.is_file():
        raise UserInputError(f"{path}: file not found")
    try:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rb") as file:
            head = file.read(8192)
    except (OSError, EOFError) as error:
        raise UserInputError(f"{path}: cannot read file ({one_line(error)})") from None
    if not head.strip():
        raise UserInputError(f"{path}: file is empty")
    if b"\x00" in head:
        raise UserInputError(f"{path}: a binary file, not a CSV, TSV or JSON Lines table")


def read_chunks(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The table in `path` (CSV, TSV or JSON Lines, optionally .gz), `chunk_rows` rows at a time.

    CSV cells come back as strings, byte for byte (ids keep their leading zeros); a JSON file that is
    one array is read whole, since it cannot be streamed: JSON Lines can.
    """
    builder, options = file_format(path)
    try:
        if builder == "csv":
            reader = pd.read_csv(path, sep=options.get("delimiter", ","), dtype=str, keep_default_na=False,
                                 na_filter=False, chunksize=chunk_rows, encoding="utf-8-sig")
        elif is_json_lines(path):
            reader = pd.read_json(path, lines=True, chunksize=chunk_rows, dtype=False, encoding="utf-8")
        else:
            from textclf.tables import read_json_file

            whole = read_json_file(path)
            reader = (whole.iloc[start:start + chunk_rows] for start in range(0, len(whole), chunk_rows))
        yield from reader
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as error:
        raise UserInputError(f"{path}: cannot parse as a {builder.upper()} table ({one_line(error)})") from None


def is_json_lines(path: Path) -> bool:
    """A .jsonl file, or a .json file whose first character is not `[` or whose first line is one object."""
    if ".jsonl" in path.suffixes:
        return True
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig") as file:
        first = file.readline().strip()
    return first.startswith("{") and first.endswith("}")


def count_rows(path: Path) -> int:
    """How many rows `path` holds (a quick pass reading one column), for the progress bar."""
    return sum(len(chunk) for chunk in read_chunks_of_one_column(path))


def read_chunks_of_one_column(path: Path) -> Iterator[pd.DataFrame]:
    builder, options = file_format(path)
    if builder == "csv":
        yield from pd.read_csv(path, sep=options.get("delimiter", ","), dtype=str, keep_default_na=False,
                               na_filter=False, usecols=[0], chunksize=100_000, encoding="utf-8-sig")
    else:
        yield from read_chunks(path, 100_000)


# --- The job: chunks, manifest, resume ------------------------------------------------------------------


@dataclass(frozen=True)
class BatchJob:
    """What predict.py was asked: which run, which rows, where to; the manifest of its chunks."""

    run_dir: str
    input_path: str
    output_path: str
    text_columns: list[str]
    variant: str
    chunk_rows: int = CHUNK_ROWS

    @property
    def partial_dir(self) -> Path:
        return Path(self.output_path + PARTIAL_SUFFIX)

    def fingerprint(self) -> dict:
        """What must not change between a job and its continuation: the settings, the input file and the
        run's weights (a retrained run would give other predictions)."""
        source = Path(self.input_path).stat()
        return asdict(self) | {"input_bytes": source.st_size, "input_mtime_ns": source.st_mtime_ns,
                               "weights_mtime": weights_mtime(Path(self.run_dir))}

    def chunk_path(self, index: int) -> Path:
        return self.partial_dir / f"chunk-{index:07d}{self.output_suffix}"

    @property
    def output_suffix(self) -> str:
        return output_format(Path(self.output_path))


def output_format(path: Path) -> str:
    name = path.name.lower()
    for suffix in OUTPUT_FORMATS:
        if name.endswith(suffix):
            return suffix
    raise UserInputError(f"{path}: the output's name must end in one of {', '.join(OUTPUT_FORMATS)} (its format)")


def finished_chunks(job: BatchJob) -> int:
    """How many leading chunks an interrupted run of the same job left finished (0: start afresh).

    A partial folder of another job (other input, run or settings) is removed, with one log line."""
    partial = job.partial_dir
    if not partial.is_dir():
        return 0
    manifest = read_optional_json(partial / MANIFEST)
    if manifest != job.fingerprint():
        logger.warning("%s: left by a job with other settings, input or weights; starting afresh", partial)
        shutil.rmtree(partial)
        return 0
    done = 0
    while job.chunk_path(done).is_file():
        done += 1
    return done


def start_partial(job: BatchJob) -> None:
    job.partial_dir.mkdir(parents=True, exist_ok=True)
    if not (job.partial_dir / MANIFEST).is_file():
        write_json_atomically(job.partial_dir / MANIFEST, job.fingerprint())


def write_chunk(job: BatchJob, index: int, table: pd.DataFrame) -> None:
    """One finished chunk, in the output's format, with the header only in the first: the output is the
    chunks joined byte for byte."""
    path = job.chunk_path(index)
    temporary = path.with_name(path.name + ".tmp")
    if job.output_suffix == ".jsonl":
        table.to_json(temporary, orient="records", lines=True, force_ascii=False)
    else:
        table.to_csv(temporary, sep="\t" if job.output_suffix == ".tsv" else ",", index=False, header=index == 0)
    os.replace(temporary, path)


def assemble_output(job: BatchJob, chunks: int) -> None:
    """Join the chunks into the output, atomically (a temporary file renamed), then drop the partial folder."""
    output = Path(job.output_path)
    temporary = output.with_name(f".{output.name}.tmp")
    with open(temporary, "wb") as destination:
        for index in range(chunks):
            with open(job.chunk_path(index), "rb") as source:
                shutil.copyfileobj(source, destination, 1 << 20)
        destination.flush()
        os.fsync(destination.fileno())
    os.replace(temporary, output)
    shutil.rmtree(job.partial_dir)


def check_output(path: Path, overwrite: bool, folder: bool = False) -> None:
    """Refuse an output that exists (without `overwrite`), a file named like a folder or the other way, a missing parent.
    `folder`: the output is a folder of files (predict.py --ray)."""
    if not folder:
        output_format(path)
    if path.exists() and not overwrite:
        raise UserInputError(f"{path}: exists already; pass --overwrite to replace it")
    if path.is_dir() and not folder:
        raise UserInputError(f"{path}: is a directory; name the output file")
    if not path.parent.is_dir():
        raise UserInputError(f"{path.parent}: no such directory for the output")


def text_columns_for(run_dir: Path, input_path: Path, chosen: list[str] | None) -> list[str]:
    """The columns to classify: those given, else those the run was trained on; checked against the input's header."""
    columns = chosen or RunInfo.read(run_dir).text_columns
    header = next(read_chunks(input_path, 1), None)
    if header is None or header.empty:
        raise UserInputError(f"{input_path}: file has a header but no data rows")
    require_columns(header, columns, input_path)
    return columns


def run_batch(job: BatchJob, predictor: Predictor, workers: int, batch_size: int = BATCH_SIZE,
              total_rows: int | None = None) -> int:
    """Predict every row of the job's input into its output, continuing an interrupted run; returns the rows predicted.

    A failure that is not an interruption (an unreadable row half-way) removes the partial folder, so
    nothing half-written is left behind; a kill or Ctrl-C keeps it for the same command to continue.
    """
    from tqdm import tqdm

    done = finished_chunks(job)
    if done:
        logger.info("Continuing %s: %d chunk(s) of %d rows finished earlier", job.output_path, done, job.chunk_rows)
    start_partial(job)
    chunks = 0
    rows = 0
    try:
        with tqdm(total=total_rows, unit=" rows", desc="Predicting", dynamic_ncols=True, smoothing=0.1) as bar:
            for index, chunk in enumerate(read_chunks(Path(job.input_path), job.chunk_rows)):
                chunks, rows = index + 1, rows + len(chunk)
                if index < done:  # finished by the interrupted run
                    bar.update(len(chunk))
                    continue
                texts = texts_of(chunk, job.text_columns)
                write_chunk(job, index, prediction_table(predictor, chunk, texts, workers, batch_size))
                bar.update(len(chunk))
    except UserInputError:
        shutil.rmtree(job.partial_dir, ignore_errors=True)
        raise
    if rows == 0:
        shutil.rmtree(job.partial_dir, ignore_errors=True)
        raise UserInputError(f"{job.input_path}: file has a header but no data rows")
    assemble_output(job, chunks)
    return rows
