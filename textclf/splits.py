"""Summarise scripts/repeat_splits.sh: the same recipe scored on several seeded validation splits.

    python -m textclf.splits experiments/splits-tweets 42 1 2 3 4
prints, and writes to <root>/splits.md, one row per split (the model's scores and TF-IDF's) and their
mean and standard deviation.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from textclf import UserInputError, exit_code_of
from textclf.runs import VALIDATION_METRICS, RunInfo, read_json

SCORES = ("accuracy", "macro_f1", "positive_f1")


def split_scores(run_dir: Path) -> dict[str, float]:
    """The validation scores of one finished run (its validation_metrics.json)."""
    path = run_dir / VALIDATION_METRICS
    if not path.is_file():
        raise UserInputError(f"{path}: missing; is the run finished?")
    metrics = read_json(path)
    return {name: metrics[name] for name in SCORES if name in metrics}


def summary_table(root: Path, seeds: list[str]) -> str:
    """A markdown table: per split the model's and TF-IDF's scores, then mean and standard deviation."""
    rows = {seed: (split_scores(root / f"split{seed}"), split_scores(root / f"split{seed}-tfidf")) for seed in seeds}
    names = [name for name in SCORES if all(name in model for model, _ in rows.values())]
    model = RunInfo.read(root / f"split{seeds[0]}").model.rstrip("/").split("/")[-1]  # a hub id or a path: its last part is name enough
    header = [f"{model} {name}" for name in names] + [f"TF-IDF {name}" for name in names]
    lines = ["| split seed | " + " | ".join(header) + " |", "|---" * (len(header) + 1) + "|"]
    columns: list[list[float]] = [[] for _ in header]
    for seed, (ours, tfidf) in rows.items():
        values = [ours[name] for name in names] + [tfidf[name] for name in names]
        for column, value in zip(columns, values):
            column.append(value)
        lines.append(f"| {seed} | " + " | ".join(f"{value:.4f}" for value in values) + " |")
    lines.append("| **mean** | " + " | ".join(f"**{statistics.mean(c):.4f}**" for c in columns) + " |")
    if len(seeds) > 1:
        lines.append("| sd | " + " | ".join(f"{statistics.stdev(c):.4f}" for c in columns) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise UserInputError("usage: python -m textclf.splits OUTPUT_ROOT SEED [SEED ...]")
    root = Path(argv[0])
    table = summary_table(root, argv[1:])
    (root / "splits.md").write_text(table, encoding="utf-8")
    print(table + f"\n(written to {root / 'splits.md'})")


if __name__ == "__main__":
    sys.exit(exit_code_of(lambda: main(sys.argv[1:])))
