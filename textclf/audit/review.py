"""A person's review of an audit's suspects: the decisions, kept in an append-only log, and applied to training.

`python app.py --review DATA_DIR` (textclf.audit.review_page) shows the suspects of DATA_DIR/audit/suspects.csv one
at a time; each decision (keep the label, change it, drop the row, skip it) is appended at once to
DATA_DIR/review_log.jsonl, one JSON object a line. The log is only ever appended to, so two browser tabs, or
a page killed in mid-write, can add lines but never take one away; a row's last decision counts.

Rows are named by the data's `id` column where it names every training and validation row once (tweets),
else by a hash of their split and normalised text (textclf.audit.checks.normalise_text; IMDB's ids repeat,
AG News has none), never by row number: a review survives preparing the data again with another split seed
(without ids, a row that moved to another split is a new row there).

REVIEW=1 in a task script applies the log to the training split, as CLEAN cleans it:

    python -m textclf.audit.review apply DATA_DIR OUT_DIR [--reviewed_dir DIR]

Validation decisions are never applied to the files: a run's report.md scores validation on the original
and on the reviewed labels (textclf.reports.report).
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from textclf import UserInputError, exit_code_of
from textclf.audit.checks import PreparedData, check_replaceable, load_prepared_data, publish_directory
from textclf.data.labels import sort_labels
from textclf.tables import read_csv_file
from textclf.tasks import PROTOCOL, TASKS, Task, read_or_empty

logger = logging.getLogger(__name__)

LOG_FILE = "review_log.jsonl"  # in the reviewed data folder; a copy goes with the folder `apply` writes
CHANGES_FILE = "review.csv"  # in the folder `apply` writes: every training row changed or dropped
# Where audit_data.py writes its suspects by default (--output_dir, textclf.reports.audit_report.SUSPECTS;
# the reports stage imports this one, not the other way).
AUDIT_DIR, SUSPECTS_FILE = "audit", "suspects.csv"
KEEP, CHANGE, DROP, SKIP = "keep", "change", "drop", "skip"
DECISIONS = (KEEP, CHANGE, DROP, SKIP)
PAST_TENSE = {KEEP: "kept", CHANGE: "changed", DROP: "dropped", SKIP: "skipped"}
# Test labels are the benchmark's: only these splits are reviewed.
REVIEWED_SPLITS = ("train", "validation")
# prepare_data.py's PROTOCOL.txt: the command on its first line, then the columns of the files it wrote.
PROTOCOL_TASK = re.compile(r"--task (\S+)")
PROTOCOL_COLUMNS = re.compile(r"^Text column: (.+); label column: (.+)\.$", re.MULTILINE)


@dataclass(frozen=True)
class Decision:
    """One line of the review log."""

    row_id: str  # the row's identity (row_identities), not its number
    split: str
    old_label: str  # the label the reviewer saw, as the data file has it
    decision: str  # one of DECISIONS
    new_label: str | None = None  # for CHANGE only
    time: str = ""  # when it was decided, UTC, ISO 8601

    def line(self) -> bytes:
        return (json.dumps(dataclasses.asdict(self), ensure_ascii=False) + "\n").encode("utf-8")


def count_decisions(decisions: list[str]) -> str:
    """How many of each kind, as the page, PROTOCOL.txt and report.md say it: "3 kept, 1 changed, 0 dropped, 2 skipped"."""
    return ", ".join(f"{decisions.count(kind)} {word}" for kind, word in PAST_TENSE.items())


def decided_now(row_id: str, split: str, old_label: str, decision: str, new_label: str | None = None) -> Decision:
    return Decision(row_id, split, old_label, decision, new_label, datetime.now(timezone.utc).isoformat(timespec="seconds"))


def decision_from_line(line: bytes) -> Decision:
    """A log line as a Decision; ValueError says what is wrong with it."""
    content = json.loads(line.decode("utf-8"))  # JSONDecodeError and UnicodeDecodeError are ValueErrors
    if not isinstance(content, dict):
        raise ValueError("not a JSON object")
    missing = [name for name in ("row_id", "split", "old_label", "decision") if not isinstance(content.get(name), str)]
    if missing:
        raise ValueError(f"no {', '.join(missing)}")
    if content["decision"] not in DECISIONS:
        raise ValueError(f"unknown decision {content['decision']!r}")
    if content["decision"] == CHANGE and not isinstance(content.get("new_label"), str):
        raise ValueError("a change without new_label")
    known = {field.name for field in dataclasses.fields(Decision)}
    return Decision(**{name: value for name, value in content.items() if name in known})


@dataclass
class ReviewLog:
    path: Path
    decisions: list[Decision]
    broken_tail: str = ""  # why the last line was left out (a write cut off by a kill), else ""

    def latest(self) -> dict[str, Decision]:
        """The decision that counts for each decided row: its last one."""
        return {decision.row_id: decision for decision in self.decisions}


def parse_log(raw: bytes, path: Path) -> tuple[list[Decision], int, str]:
    """(decisions, bytes up to the end of the last good line, why the last line is left out or "").

    An unreadable last line is what a kill in mid-write leaves, so it is left out with a warning; an
    unreadable line with decisions after it is damage nobody should build on, so it stops everything.
    """
    decisions: list[Decision] = []
    lines = raw.split(b"\n")
    good_end = offset = 0
    for index, line in enumerate(lines):
        offset += len(line) + 1
        if not line.strip():
            continue
        try:
            decisions.append(decision_from_line(line))
            good_end = min(offset, len(raw))
        except ValueError as error:
            if any(rest.strip() for rest in lines[index + 1:]):
                raise UserInputError(
                    f"{path}: line {index + 1} is not a decision ({error}) and decisions follow it; "
                    "repair or delete that line by hand (the other lines are the decisions made so far)"
                ) from None
            return decisions, good_end, f"line {index + 1}, its last, is unfinished ({error}): a write cut off, left out"
    return decisions, good_end, ""


def read_log(path: Path) -> ReviewLog:
    """The decisions so far (none when there is no log yet); an unfinished last line is left out, with one warning."""
    path = Path(path)
    try:
        with open(path, "rb") as file:
            fcntl.flock(file, fcntl.LOCK_SH)  # not half of another tab's line
            raw = file.read()
    except FileNotFoundError:
        return ReviewLog(path, [])
    decisions, _, broken = parse_log(raw, path)
    if broken:
        logger.warning("%s: %s; the %d decisions before it count", path, broken, len(decisions))
    return ReviewLog(path, decisions, broken)


def append_decision(path: Path, decision: Decision) -> None:
    """Add one decision to the log: under an exclusive lock, in one write of a whole line, on disk before returning.

    The lock makes another tab's append wait, so lines never interleave; an unfinished last line (a kill in
    mid-write) is cut off first, so the new line does not continue it.
    """
    path = Path(path)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        raw = read_all(descriptor)
        _, good_end, broken = parse_log(raw, path)
        if broken:
            logger.warning("%s: %s; cutting it off before appending", path, broken)
            os.ftruncate(descriptor, good_end)
        # A complete last line that lost only its newline is kept: the new line starts after it.
        line = (b"\n" if good_end and raw[good_end - 1:good_end] != b"\n" else b"") + decision.line()
        if os.write(descriptor, line) != len(line):  # a regular file writes short only when the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        os.fsync(descriptor)
        if not raw:  # a new log: its directory entry must reach the disk too
            sync_directory(path.parent)
    finally:
        os.close(descriptor)  # releases the lock


def read_all(descriptor: int) -> bytes:
    chunks, offset = [], 0
    while chunk := os.pread(descriptor, 1 << 20, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def sync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def prepared_columns(data_dir: Path) -> tuple[Task | None, str, str]:
    """(task, text column(s), label column) of a prepared folder, as its PROTOCOL.txt states them.

    The task (on the first line, prepare_data.py's command) gives the readable class names; folders
    without a PROTOCOL.txt line for them get the task's columns, else text and label.
    """
    protocol = read_or_empty(Path(data_dir) / PROTOCOL)
    named = PROTOCOL_TASK.search(protocol.split("\n", 1)[0])
    task = TASKS.get(named.group(1)) if named else None
    columns = PROTOCOL_COLUMNS.search(protocol)
    if columns:
        return task, columns.group(1), columns.group(2)
    return task, task.text_columns if task else "text", task.label_column if task else "label"


def text_identity(split: str, key: str) -> str:
    return "text:" + hashlib.sha256(f"{split}\n{key}".encode("utf-8")).hexdigest()[:20]


@dataclass
class ReviewData:
    """A prepared folder as the review sees it: `rows` (PreparedData.rows) with each row's `row_id`."""

    data: PreparedData
    task: Task | None
    by_id: bool  # rows named by their id column, else by a hash of split and normalised text
    rows: pd.DataFrame

    @property
    def data_dir(self) -> Path:
        return self.data.data_dir

    @property
    def log_path(self) -> Path:
        return self.data_dir / LOG_FILE

    @property
    def naming(self) -> str:
        return "their `id`" if self.by_id else "a hash of their split and normalised text"

    def class_name(self, value: str) -> str:
        """A label value as people read it: the task's class name ("1" -> "disaster")."""
        return self.task.class_names.get(value, value) if self.task else value

    def label_values(self) -> list[str]:
        return sort_labels(set(self.rows.loc[self.rows["split"].isin(REVIEWED_SPLITS), "label"].dropna()))

    def audit_command(self) -> str:
        """The command that makes the audit this folder's review needs."""
        if self.task:
            return f"python audit_data.py {self.data_dir} --task {self.task.name}"
        return (f"python audit_data.py {self.data_dir} --text_column {','.join(self.data.text_columns)} "
                f"--label_column {self.data.label_column}")


def load_review_data(data_dir: Path, by_id: bool | None = None) -> ReviewData:
    """The folder's rows and their identities; `by_id` forces how rows are named (as in the folder a log was made in)."""
    task, text_column, label_column = prepared_columns(Path(data_dir))
    data = load_prepared_data(Path(data_dir), text_column, label_column)
    if by_id is None:
        ids = data.rows.loc[data.rows["split"].isin(REVIEWED_SPLITS), "id"]
        by_id = bool(len(ids)) and bool((ids != "").all()) and ids.is_unique
    row_ids = ("id:" + data.rows["id"]) if by_id else [text_identity(s, k) for s, k in zip(data.rows["split"], data.rows["key"])]
    return ReviewData(data, task, by_id, data.rows.assign(row_id=row_ids))


def load_suspects(review: ReviewData) -> pd.DataFrame:
    """The audit's suspects of the reviewed splits, in its order, each with its row's `row_id`."""
    path = review.data_dir / AUDIT_DIR / SUSPECTS_FILE
    if not path.is_file():
        raise UserInputError(f"{review.data_dir}: no audit to review ({path} is missing); make one with: {review.audit_command()}")
    header, *lines = path.read_text(encoding="utf-8").splitlines() or [""]
    if not lines:  # the audit suspects nothing (read_csv_file refuses a file without data rows)
        return pd.DataFrame(columns=[*header.split(","), "row_id"])
    suspects = read_csv_file(path)
    suspects = suspects[suspects["split"].isin(REVIEWED_SPLITS)].reset_index(drop=True)
    suspects["row"] = suspects["row"].astype(int)
    rows = review.rows.set_index(["split", "row"])
    found = rows.reindex(pd.MultiIndex.from_frame(suspects[["split", "row"]]))
    stale = (found["label"] != suspects["given_label"].to_numpy()) | (found["id"].fillna("") != suspects["id"].to_numpy())
    if stale.any():
        first = suspects[stale.to_numpy()].iloc[0]
        raise UserInputError(
            f"{path}: made before the data was prepared again ({first['split']} row {first['row']} is no longer the "
            f"suspect it names); audit again: {review.audit_command()}"
        )
    return suspects.assign(row_id=found["row_id"].to_numpy())


def check_log_matches(review: ReviewData, log: ReviewLog) -> None:
    """Refuse a log none of whose rows is in the data (another data set's); warn about some missing."""
    decided = set(log.latest())
    if not decided:
        return
    missing = decided - set(review.rows["row_id"])
    if missing == decided:
        raise UserInputError(
            f"{log.path}: none of the {len(decided)} rows it decides is in {review.data_dir} (rows are named by "
            f"{review.naming}); it is the review of other data. Move it away to start a new review here "
            "(it is not changed)"
        )
    if missing:
        logger.warning("%s: %d of the %d rows it decides are not in %s (prepared again?); their decisions are ignored",
                       log.path, len(missing), len(decided), review.data_dir)


def decided_rows(review: ReviewData, log: ReviewLog, split: str) -> pd.DataFrame:
    """The rows of `split` that the log decides, in file order, with the decision that counts
    (decision, new_label, time). Without ids, a decision names every copy of its text in the split."""
    latest = log.latest()
    rows = review.rows[(review.rows["split"] == split) & review.rows["row_id"].isin(latest)]
    chosen = [latest[row_id] for row_id in rows["row_id"]]
    return rows.assign(decision=[d.decision for d in chosen], new_label=[d.new_label for d in chosen],
                       time=[d.time for d in chosen])


def reviewed_train(review: ReviewData, decided: pd.DataFrame) -> pd.DataFrame:
    """train.csv as read, the changed rows relabelled, the dropped ones left out."""
    train = review.data.files["train"].copy()
    changed = decided[decided["decision"] == CHANGE]
    unknown = sorted(set(changed["new_label"]) - set(review.label_values()))
    if unknown:
        raise UserInputError(f"review log: changes to labels the data does not have ({', '.join(unknown)}); "
                             f"the labels are {', '.join(review.label_values())}")
    train.loc[changed["row"].to_numpy(), review.data.label_column] = changed["new_label"].to_numpy()
    return train.drop(index=decided.loc[decided["decision"] == DROP, "row"].to_numpy())


def protocol_section(review: ReviewData, log: ReviewLog, decided: pd.DataFrame, train: pd.DataFrame,
                     reviewed: ReviewData) -> list[str]:
    labels = train[review.data.label_column].value_counts().sort_index()
    validation = len(decided_rows(reviewed, log, "validation"))
    return [
        "",
        "Training split reviewed by a person (python -m textclf.audit.review apply; validation.csv and test.csv copied unchanged):",
        f"  review log: {log.path} ({len(log.latest())} rows decided; a row's last decision counts; copied here as {LOG_FILE})",
        f"  rows named by {reviewed.naming}",
        f"  training rows: {count_decisions(decided['decision'].tolist())}",
        f"  train: {len(review.data.files['train'])} rows -> {len(train)} rows; labels: "
        + ", ".join(f"{label}: {count}" for label, count in labels.items()),
        f"  every changed or dropped row is listed in {CHANGES_FILE} (row = 0-based data row of the train.csv reviewed)",
        f"  {validation} validation rows are decided too, never applied here: a run's report.md scores validation on "
        "the original and on the reviewed labels",
    ]


def apply_review(data_dir: Path, out_dir: Path, reviewed_dir: Path | None = None) -> pd.DataFrame:
    """Write OUT_DIR all at once: DATA_DIR with the review log's training decisions applied to train.csv,
    validation.csv and test.csv copied, review.csv (every row changed or dropped), the log, PROTOCOL.txt.

    `reviewed_dir` is the folder whose suspects were reviewed (its log; default DATA_DIR): CLEAN's cleaned
    copy of it is reviewed through the original's log.
    """
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    if out_dir.resolve() in {data_dir.resolve(), Path(reviewed_dir or data_dir).resolve()}:
        raise UserInputError(f"{out_dir}: is a data directory of the review; choose a new one")
    check_replaceable(out_dir, CHANGES_FILE, "OUT_DIR")
    reviewed = load_review_data(reviewed_dir or data_dir)
    log = read_log(reviewed.log_path)
    if not reviewed.log_path.is_file():
        raise UserInputError(f"{reviewed.log_path}: no review log; review the suspects first: "
                             f"python app.py --review {reviewed.data_dir} (docs/review.md)")
    check_log_matches(reviewed, log)
    review = reviewed if reviewed_dir is None else load_review_data(data_dir, by_id=reviewed.by_id)
    decided = decided_rows(review, log, "train")
    train = reviewed_train(review, decided)
    changes = decided[decided["decision"].isin([CHANGE, DROP])][["row", "id", "text", "decision", "label", "new_label", "time"]]
    changes = changes.rename(columns={"label": "given_label"})
    protocol = read_or_empty(data_dir / PROTOCOL) or f"(no {PROTOCOL} in {data_dir})\n"
    protocol += "\n".join(protocol_section(review, log, decided, train, reviewed)) + "\n"

    def fill(directory: Path) -> None:
        train.to_csv(directory / "train.csv", index=False, encoding="utf-8", lineterminator="\n")
        for name in ("validation.csv", "test.csv"):
            if (data_dir / name).is_file():
                shutil.copyfile(data_dir / name, directory / name)
        changes.to_csv(directory / CHANGES_FILE, index=False, encoding="utf-8", lineterminator="\n")
        shutil.copyfile(log.path, directory / LOG_FILE)  # the decisions this training split was made with
        (directory / PROTOCOL).write_text(protocol, encoding="utf-8")

    publish_directory(out_dir, fill)
    counts = decided["decision"].value_counts()
    logger.info("Reviewed training split written to %s: %d rows changed, %d dropped (see %s)",
                out_dir, counts.get(CHANGE, 0), counts.get(DROP, 0), out_dir / CHANGES_FILE)
    return changes


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m textclf.audit.review", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    apply = commands.add_parser("apply", help="write a copy of DATA_DIR whose training split has the review's decisions")
    apply.add_argument("data_dir", type=Path, help="the prepared folder to apply the decisions to")
    apply.add_argument("out_dir", type=Path, help="where the reviewed copy goes")
    apply.add_argument("--reviewed_dir", type=Path,
                       help=f"the folder whose suspects were reviewed, with its {LOG_FILE} (default: DATA_DIR)")
    args = parser.parse_args(argv)
    apply_review(args.data_dir, args.out_dir, args.reviewed_dir)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s - %(name)s - %(message)s")
    sys.exit(exit_code_of(lambda: main(sys.argv[1:])))
