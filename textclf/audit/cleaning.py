"""Clean the training split of a prepared directory, and only it: validation and test stay byte for byte.

Changing what a model is scored on would make its scores incomparable with every earlier run, so only
train.csv changes. Two kinds of rows do:
- rows that confident learning flags as mislabelled (textclf.audit.label_issues) with a mislabel confidence
  (1 - the out-of-fold probability of the given label) above a threshold: dropped, or relabelled to
  the out-of-fold prediction;
- copies of a (normalised) text whose labels disagree within the training split: merged into the first
  copy with the majority label, or all dropped (also on a tied vote, where no label can be trusted).
Nothing goes silently: every dropped or relabelled row is in cleaning.csv, and PROTOCOL.txt gains a
section with the counts, thresholds and command.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from textclf import UserInputError
from textclf.audit.checks import PreparedData, check_replaceable, conflicting_duplicates, publish_directory
from textclf.audit.label_issues import LabelIssueRanking
from textclf.tasks import PROTOCOL

logger = logging.getLogger(__name__)

MERGE_CHOICES = ("majority", "drop")
CHANGES_FILE = "cleaning.csv"
UNTOUCHED_SPLITS = ("validation.csv", "test.csv")
DROPPED, RELABELLED = "dropped", "relabelled"


@dataclass
class CleaningSettings:
    clean_dir: Path
    drop_above: float | None = None
    relabel_above: float | None = None
    merge_conflicts: str | None = None
    command: str = ""

    def check(self, data_dir: Path) -> None:
        """Refuse settings that would overwrite the source or someone else's directory."""
        threshold = self.drop_above if self.drop_above is not None else self.relabel_above
        if threshold is not None and not 0.0 <= threshold < 1.0:
            raise UserInputError(f"the mislabel confidence threshold must be in [0, 1), got {threshold}")
        clean_dir = Path(self.clean_dir)
        if clean_dir.resolve() == Path(data_dir).resolve():
            raise UserInputError(f"--clean_output_dir {clean_dir}: is the data directory; choose a new one")
        check_replaceable(clean_dir, CHANGES_FILE, "--clean_output_dir")


def change_record(row: pd.Series, action: str, new_label: str | None, confidence: float | None, reason: str) -> dict:
    return {
        "row": row["row"],
        "id": row["id"],
        "text": row["text"],
        "action": action,
        "given_label": row["label"],
        "new_label": new_label if action == RELABELLED else "",
        "mislabel_confidence": confidence,
        "reason": reason,
    }


def conflict_changes(train_rows: pd.DataFrame, merge: str) -> list[dict]:
    """Changes that resolve texts with disagreeing labels inside the training split."""
    changes = []
    for _, group in conflicting_duplicates(train_rows).groupby("group"):
        majority = group["majority"].iloc[0]
        votes = ", ".join(f"{label} x{count}" for label, count in group["label"].value_counts().items())
        keeper = None
        if merge == "majority" and pd.notna(majority):
            keeper = group.index[group["label"] == majority][0]
            reason = f"conflicting duplicate ({votes}): merged into row {group.loc[keeper, 'row']}, majority label {majority}"
        elif merge == "majority":
            reason = f"conflicting duplicate ({votes}): tied vote, all copies dropped"
        else:
            reason = f"conflicting duplicate ({votes}): all copies dropped"
        changes += [change_record(row, DROPPED, None, None, reason) for index, row in group.iterrows() if index != keeper]
    return changes


def label_issue_changes(issues: pd.DataFrame, threshold: float, action: str, already_changed: set[int]) -> list[dict]:
    """Drop or relabel flagged rows whose mislabel confidence is above the threshold."""
    changes = []
    for _, row in issues[issues["mislabel_confidence"] > threshold].iterrows():
        if row["row"] in already_changed or (action == RELABELLED and row["suggested_label"] == row["label"]):
            continue
        reason = f"suspected label error: out-of-fold probability of the given label {row['given_label_probability']:.3f}"
        changes.append(change_record(row, action, row["suggested_label"], row["mislabel_confidence"], reason))
    return changes


def plan_cleaning(data: PreparedData, ranking: LabelIssueRanking, settings: CleaningSettings) -> pd.DataFrame:
    """One row per training row to drop or relabel (conflicts first: a merged row is not relabelled too)."""
    changes = conflict_changes(data.split_rows("train"), settings.merge_conflicts) if settings.merge_conflicts else []
    train_issues = ranking.issues[ranking.issues["split"] == "train"]
    changed = {change["row"] for change in changes}
    if settings.drop_above is not None:
        changes += label_issue_changes(train_issues, settings.drop_above, DROPPED, changed)
    elif settings.relabel_above is not None:
        changes += label_issue_changes(train_issues, settings.relabel_above, RELABELLED, changed)
    columns = ["row", "id", "text", "action", "given_label", "new_label", "mislabel_confidence", "reason"]
    return pd.DataFrame(changes, columns=columns).sort_values("row", kind="stable").reset_index(drop=True)


def cleaned_train(data: PreparedData, changes: pd.DataFrame) -> pd.DataFrame:
    """train.csv as read, minus the dropped rows, with the relabelled rows' new labels."""
    train = data.files["train"].copy()
    relabelled = changes[changes["action"] == RELABELLED]
    train.loc[relabelled["row"].to_numpy(), data.label_column] = relabelled["new_label"].to_numpy()
    return train.drop(index=changes.loc[changes["action"] == DROPPED, "row"].to_numpy())


def protocol_section(data: PreparedData, ranking: LabelIssueRanking, settings: CleaningSettings, changes: pd.DataFrame, train: pd.DataFrame) -> list[str]:
    """What changed in train.csv and why, appended to the original PROTOCOL.txt."""
    actions = changes["action"].value_counts()
    conflicts = changes["reason"].str.startswith("conflicting duplicate")
    lines = [
        "",
        "Training split cleaned by audit_data.py (validation.csv and test.csv copied unchanged):",
        f"  command: {settings.command}",
        f"  suspected label errors: {ranking.method}.",
        "  A row's mislabel confidence is 1 - the out-of-fold probability of its given label; only rows",
        "  that cleanlab flags as label issues are dropped or relabelled.",
    ]
    if settings.drop_above is not None:
        lines.append(f"  dropped {int((~conflicts & (changes['action'] == DROPPED)).sum())} flagged rows with mislabel confidence above {settings.drop_above}")
    if settings.relabel_above is not None:
        lines.append(
            f"  relabelled {int(actions.get(RELABELLED, 0))} flagged rows with mislabel confidence above "
            f"{settings.relabel_above} to the out-of-fold prediction"
        )
    if settings.merge_conflicts:
        how = "merged into the first copy with the majority label (all copies dropped on a tie)" if settings.merge_conflicts == "majority" else "all copies dropped"
        lines.append(
            f"  conflicting duplicates (same normalised text, different labels, within train): {int(conflicts.sum())} rows dropped, {how}"
        )
    labels = train[data.label_column].value_counts().sort_index()
    lines += [
        f"  train: {len(data.files['train'])} rows -> {len(train)} rows; labels: "
        + ", ".join(f"{label}: {count}" for label, count in labels.items()),
        f"  every dropped or relabelled row is listed in {CHANGES_FILE} (row = 0-based data row of the original train.csv)",
    ]
    return lines


def write_clean_directory(data: PreparedData, ranking: LabelIssueRanking, settings: CleaningSettings) -> pd.DataFrame:
    """Write CLEAN_DIR all at once: cleaned train.csv, validation/test copied, cleaning.csv, PROTOCOL.txt."""
    settings.check(data.data_dir)
    changes = plan_cleaning(data, ranking, settings)
    train = cleaned_train(data, changes)
    original_protocol = data.data_dir / PROTOCOL
    protocol = original_protocol.read_text(encoding="utf-8") if original_protocol.is_file() else f"(no {PROTOCOL} in {data.data_dir})\n"
    protocol += "\n".join(protocol_section(data, ranking, settings, changes, train)) + "\n"

    def fill(directory: Path) -> None:
        train.to_csv(directory / "train.csv", index=False, encoding="utf-8", lineterminator="\n")
        for name in UNTOUCHED_SPLITS:
            if (data.data_dir / name).is_file():
                shutil.copyfile(data.data_dir / name, directory / name)
        changes.to_csv(directory / CHANGES_FILE, index=False, encoding="utf-8", lineterminator="\n")
        (directory / PROTOCOL).write_text(protocol, encoding="utf-8")

    publish_directory(Path(settings.clean_dir), fill)
    logger.info(
        "Cleaned training split written to %s: %d rows dropped, %d relabelled (see %s)",
        settings.clean_dir, (changes["action"] == DROPPED).sum(), (changes["action"] == RELABELLED).sum(), CHANGES_FILE,
    )
    return changes
