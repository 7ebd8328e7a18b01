"""Summarise scripts/repeat_splits.sh: the same recipe scored on several seeded validation splits.

    python -m textclf.reports.splits experiments/splits-tweets 42 1 2 3 4
prints, and writes to <root>/splits.md, one row per split (the model's scores and TF-IDF's) and their
mean and standard deviation. A split whose runs have not finished is left out, with a line saying why.
"""

from __future__ import annotations

import logging
import statistics
import sys
from pathlib import Path

from textclf import UserInputError, exit_code_of
from textclf.runs.folder import VALIDATION_METRICS, RunInfo, read_json, unfinished_reason

logger = logging.getLogger(__name__)

SCORES = ("accuracy", "macro_f1", "positive_f1")


def split_scores(run_dir: Path) -> dict[str, float]:
    """The validation scores of one finished run (its validation_metrics.json)."""
    path = run_dir / VALIDATION_METRICS
    if not path.is_file():
        raise UserInputError(f"{path}: missing; is the run finished?")
    metrics = read_json(path)
    return {name: metrics[name] for name in SCORES if name in metrics}


def finished_seeds(root: Path, seeds: list[str]) -> list[str]:
    """The seeds whose model and TF-IDF runs both finished; the others are named, with the reason."""
    finished = []
    for seed in seeds:
        reasons = [f"{run}: {reason}" for run in (root / f"split{seed}", root / f"split{seed}-tfidf")
                   if (reason := unfinished_reason(run)) is not None]
        if reasons:
            logger.warning("Leaving out split %s: %s", seed, "; ".join(reasons))
        else:
            finished.append(seed)
    if not finished:
        raise UserInputError(f"{root}: no split has finished runs; run bash scripts/repeat_splits.sh again to continue")
    return finished


def summary_table(root: Path, seeds: list[str]) -> str:
    """A markdown table: per split the model's and TF-IDF's scores, then mean and standard deviation."""
    seeds = finished_seeds(root, seeds)
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
        raise UserInputError("usage: python -m textclf.reports.splits OUTPUT_ROOT SEED [SEED ...]")
    root = Path(argv[0])
    table = summary_table(root, argv[1:])
    (root / "splits.md").write_text(table, encoding="utf-8")
    print(table + f"\n(written to {root / 'splits.md'})")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sys.exit(exit_code_of(lambda: main(sys.argv[1:])))
