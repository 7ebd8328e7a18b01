"""What a person reads after an audit: audit.md (counts and examples of every check), suspects.csv
(one row per suspected row, to review or to feed the cleaning) and label_quality.png."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from textclf.audit.checks import ENCODING_DEBRIS, Findings, PreparedData, check_replaceable, publish_directory
from textclf.audit.label_issues import LabelIssueRanking, plot_label_quality
from textclf.markdown import table_cell
from textclf.reports.report import markdown_table
from textclf.tasks import PREPARED_SPLITS

logger = logging.getLogger(__name__)

REPORT = "audit.md"
SUSPECTS = "suspects.csv"
PLOT = "label_quality.png"
EXAMPLE_GROUPS = 5
TOP_SUSPECTS = 20
CELL_CHARACTERS = 120
SUSPECT_COLUMNS = [
    "split", "row", "id", "text", "given_label", "suggested_label", "given_label_probability", "mislabel_confidence", "reason",
]  # fmt: skip


def cell(text: str, limit: int = CELL_CHARACTERS) -> str:
    """A text as one markdown table cell: shortened, invisible characters shown as escapes."""
    return table_cell(text, limit, show_invisible=True)


def row_examples(rows: pd.DataFrame, columns: list[str]) -> str:
    body = [[cell(str(row[column])) for column in columns] for _, row in rows.iterrows()]
    return markdown_table(columns, body)


def group_examples(rows: pd.DataFrame) -> list[str]:
    """The first EXAMPLE_GROUPS groups, one table row per member."""
    first_groups = rows[rows["group"] < EXAMPLE_GROUPS].sort_values(["group", "split", "row"], kind="stable")
    if first_groups.empty:
        return []
    return ["", row_examples(first_groups.assign(label=first_groups["label"].fillna("")), ["group", "split", "row", "label", "text"])]


def present_splits(data: PreparedData) -> list[str]:
    return [split for split in PREPARED_SPLITS if split in data.files]


def per_split(rows: pd.DataFrame, splits: list[str]) -> list[int]:
    counts = rows["split"].value_counts()
    return [int(counts.get(split, 0)) for split in splits]


def rows_in_earlier_splits(findings: Findings, kind: str, splits: list[str]) -> list[int]:
    """Per split, its rows whose text ("exact" or "normalised") is in an earlier split; a row in
    both earlier splits counts once."""
    tables = [overlap[kind] for overlap in findings.overlaps]
    if not tables:
        return [0] * len(splits)
    return per_split(pd.concat(tables).drop_duplicates(["split", "row"]), splits)


def length_outlier_counts(findings: Findings, splits: list[str]) -> tuple[list[int], list[int]]:
    """Very short and very long rows per split."""
    kinds = findings.lengths["kind"]
    return per_split(findings.lengths[kinds == "very short"], splits), per_split(findings.lengths[kinds == "very long"], splits)


def summary_section(data: PreparedData, findings: Findings, ranking: LabelIssueRanking) -> list[str]:
    splits = present_splits(data)
    overlap_counts = {kind: rows_in_earlier_splits(findings, kind, splits) for kind in ("exact", "normalised")}
    extra_copies = findings.exact[findings.exact.duplicated(["split", "text"])]
    rows = [
        ["rows", *[len(data.files[split]) for split in splits]],
        ["exact duplicates (extra copies)", *per_split(extra_copies, splits)],
        ["near duplicates (rows in groups)", *per_split(findings.near, splits)],
        ["rows in conflicting-label groups", *per_split(findings.conflicts, splits)],
        ["texts also in an earlier split (exact / normalised)", *[f"{a} / {b}" for a, b in zip(*overlap_counts.values())]],
        ["very short / very long", *[f"{short} / {long}" for short, long in zip(*length_outlier_counts(findings, splits))]],
        ["rows with encoding debris", *per_split(findings.debris.drop_duplicates(["split", "row"]), splits)],
        ["suspected label errors", *[
            count if split in set(ranking.rows["split"]) else "not ranked" for split, count in zip(splits, per_split(ranking.issues, splits))]],
    ]  # fmt: skip
    return ["## Summary", "", markdown_table(["check", *splits], rows), ""]


def duplicates_section(data: PreparedData, findings: Findings) -> list[str]:
    rows = []
    for split in present_splits(data):
        exact = findings.exact[findings.exact["split"] == split]
        near = findings.near[findings.near["split"] == split]
        rows.append([split, exact["group"].nunique(), len(exact), len(exact) - exact["group"].nunique(), near["group"].nunique(), len(near)])
    header = ["split", "exact duplicate texts", "rows", "extra copies", "near-duplicate groups", "rows"]
    lines = [
        "## Duplicates", "",
        "Exact duplicates share the text to the character. Near duplicates share it once normalised (lowercase, "
        "URLs and @mentions removed, punctuation and whitespace runs collapsed to one space) but not exactly.", "",
        markdown_table(header, rows), "", "Exact duplicates, first groups:",
    ]  # fmt: skip
    lines += group_examples(findings.exact) or ["", "none"]
    lines += ["", "Near duplicates, first groups:"]
    lines += group_examples(findings.near) or ["", "none"]
    return lines + [""]


def conflicts_section(findings: Findings) -> list[str]:
    conflicts = findings.conflicts
    groups = conflicts.groupby("group")["split"].nunique()
    lines = [
        "## Duplicates with conflicting labels", "",
        f"{len(groups)} normalised texts carry more than one label: {len(conflicts)} rows, {int((groups > 1).sum())} of "
        f"the texts across splits, {int(conflicts.groupby('group')['majority'].first().isna().sum())} with a tied vote. "
        "All copies are in suspects.csv.",
    ]  # fmt: skip
    return lines + group_examples(conflicts) + [""]


def overlap_section(findings: Findings) -> list[str]:
    rows = [[overlap["pair"], len(overlap["exact"]), len(overlap["normalised"])] for overlap in findings.overlaps]
    lines = [
        "## Overlap between splits", "",
        "Rows of the later split whose text also occurs in the earlier one (a test text seen in training "
        "flatters the test score).", "",
        markdown_table(["splits", "exact", "normalised"], rows), "",
    ]  # fmt: skip
    for overlap in findings.overlaps:
        if len(overlap["normalised"]):
            examples = overlap["normalised"].head(EXAMPLE_GROUPS).assign(label=lambda t: t["label"].fillna(""))
            lines += [f"{overlap['pair']}, first rows of {overlap['later']}:", "", row_examples(examples, ["row", "label", "text"]), ""]
    return lines


def balance_section(findings: Findings) -> list[str]:
    balance = findings.balance
    totals = balance.sum()
    rows = [[label, *[f"{count:,} ({count / totals[split]:.1%})" for split, count in counts.items()]] for label, counts in balance.iterrows()]
    return ["## Class balance", "", markdown_table(["label", *balance.columns], rows), ""]


def length_section(data: PreparedData, findings: Findings) -> list[str]:
    short, long = findings.length_bounds
    lengths = findings.lengths
    splits = present_splits(data)
    rows = [[split, *counts] for split, *counts in zip(splits, *length_outlier_counts(findings, splits))]
    lines = [
        "## Text length", "",
        f"Outliers by Tukey's fences on the training split's log word counts: very short under {short} words, "
        f"very long over {long} words.", "",
        markdown_table(["split", "very short", "very long"], rows), "",
    ]  # fmt: skip
    for kind, ascending in (("very short", True), ("very long", False)):
        examples = lengths[lengths["kind"] == kind].sort_values("words", ascending=ascending).head(EXAMPLE_GROUPS)
        if len(examples):
            lines += [f"{kind.capitalize()}, the most extreme:", "", row_examples(examples, ["split", "row", "words", "text"]), ""]
    return lines


def debris_section(data: PreparedData, findings: Findings) -> list[str]:
    debris = findings.debris
    splits = present_splits(data)
    rows = [[kind, *per_split(debris[debris["kind"] == kind], splits)] for kind in ENCODING_DEBRIS]
    lines = ["## Encoding debris", "", "Rows with each kind of debris (a row can have several kinds).", "", markdown_table(["kind", *splits], rows), ""]
    if len(debris):
        examples = debris.groupby("kind", sort=False).head(2)
        lines += ["Examples (the first match with some context; invisible characters as escapes):", "", row_examples(examples, ["kind", "split", "row", "snippet"]), ""]
    return lines


def label_issues_section(ranking: LabelIssueRanking) -> list[str]:
    rows, issues = ranking.rows, ranking.issues
    agreement = (rows["suggested_label"] == rows["label"]).mean()
    flips = issues.groupby(["label", "suggested_label"]).size().reset_index(name="rows")
    ranked = ", ".join(f"{split} ({count:,} rows)" for split, count in rows["split"].value_counts().items())
    lines = [
        "## Suspected label errors", "",
        f"Ranked {ranked} in {ranking.seconds:.1f} s: {ranking.method}. The out-of-fold prediction agrees "
        f"with the given label on {agreement:.1%} of the rows. cleanlab flags **{len(issues):,}** rows "
        f"({len(issues) / len(rows):.1%}), ranked by the out-of-fold probability of the given label (lowest first); "
        "the mislabel confidence is 1 minus that probability.", "",
        markdown_table(["given label", "suggested label", "rows"], flips.values.tolist()) if len(flips) else "none", "",
        f"![label quality]({PLOT})", "",
        f"The {min(TOP_SUSPECTS, len(issues))} most likely errors (all of them in {SUSPECTS}):", "",
    ]  # fmt: skip
    top = issues.head(TOP_SUSPECTS).assign(probability=lambda t: t["given_label_probability"].map("{:.3f}".format))
    lines += [row_examples(top, ["split", "row", "id", "label", "suggested_label", "probability", "text"]), ""]
    return lines


def suspects_table(findings: Findings, ranking: LabelIssueRanking) -> pd.DataFrame:
    """One row per suspected row: label issues (cleanlab's order), then conflicting duplicates; a row
    that is both has both reasons."""
    scores = ranking.rows[["split", "row", "given_label_probability", "mislabel_confidence"]]
    issues = ranking.issues.assign(reason="label issue")
    conflicts = findings.conflicts
    conflicts = conflicts.merge(scores, on=["split", "row"], how="left").assign(
        suggested_label=conflicts["majority"].fillna("").to_numpy(),
        reason=[f"conflicting duplicate (group {group})" for group in conflicts["group"]],
    )
    both = pd.concat([issues, conflicts], ignore_index=True).rename(columns={"label": "given_label"})
    first = {column: "first" for column in SUSPECT_COLUMNS if column not in ("split", "row", "reason")}
    merged = both.groupby(["split", "row"], sort=False).agg({**first, "reason": "; ".join}).reset_index()
    return merged[SUSPECT_COLUMNS]


def render_audit(data: PreparedData, findings: Findings, ranking: LabelIssueRanking, command: str, seconds: float) -> str:
    described = ", ".join(
        f"{split} ({len(data.files[split]):,} rows{'' if data.split_rows(split)['label'].notna().all() else ', unlabelled'})"
        for split in present_splits(data)
    )
    lines = [
        f"# Data audit: {data.data_dir}", "",
        f"Audited {described}; text column(s) `{', '.join(data.text_columns)}`, label column `{data.label_column}`. "
        f"Took {seconds:.1f} s.", "",
        "Rows are numbered from 0 in file order (the header is not counted), as in suspects.csv.", "",
    ]  # fmt: skip
    lines += summary_section(data, findings, ranking) + duplicates_section(data, findings) + conflicts_section(findings)
    lines += overlap_section(findings) + balance_section(findings) + length_section(data, findings)
    lines += debris_section(data, findings) + label_issues_section(ranking)
    lines += ["## Command", "", "```", command, "```", ""]
    return "\n".join(lines)


def write_audit(output_dir: Path, data: PreparedData, findings: Findings, ranking: LabelIssueRanking, command: str, seconds: float) -> Path:
    """Write audit.md, suspects.csv and the plot into `output_dir`, all at once."""
    check_replaceable(output_dir, REPORT, "--output_dir")
    suspects = suspects_table(findings, ranking)

    def fill(directory: Path) -> None:
        plot_label_quality(ranking, directory / PLOT)
        suspects.to_csv(directory / SUSPECTS, index=False, encoding="utf-8", lineterminator="\n")
        (directory / REPORT).write_text(render_audit(data, findings, ranking, command, seconds), encoding="utf-8")

    publish_directory(Path(output_dir), fill)
    logger.info("Audit written to %s (%d suspected rows in %s)", Path(output_dir) / REPORT, len(suspects), SUSPECTS)
    return Path(output_dir) / REPORT
