#!/usr/bin/env python
"""Audit a prepared task directory before training on it, and optionally clean its training split.

Reads DATA_DIR/{train,validation,test}.csv (as prepare_data.py writes them) and writes into
--output_dir (default DATA_DIR/audit/) audit.md (duplicates, conflicting labels, overlap between
splits, class balance, length outliers, encoding debris, suspected label errors), suspects.csv and
label_quality.png. With --clean_output_dir it also writes a new prepared directory whose train.csv
is cleaned; validation.csv and test.csv are copied byte for byte.

    python audit_data.py data/tweets --task tweets
    python audit_data.py data/tweets --text_column text --label_column target \\
        --clean_output_dir data/tweets-clean --drop_suspects_above 0.9 --merge_conflicting_duplicates majority
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from pathlib import Path

from textclf import UserInputError, exit_code_of
from textclf.audit.checks import check_replaceable, load_prepared_data, run_checks
from textclf.audit.cleaning import MERGE_CHOICES, CleaningSettings, write_clean_directory
from textclf.audit.label_issues import OOF_MODELS, TransformerSettings, rank_rows
from textclf.models.offline import DEFAULT_MODEL
from textclf.reports.audit_report import REPORT, write_audit
from textclf.tasks import TASKS

logger = logging.getLogger("audit_data")


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Audit a prepared task directory; optionally clean its training split.")
    parser.add_argument("data_dir", type=Path, help="a directory made by prepare_data.py (train.csv, validation.csv, test.csv)")
    parser.add_argument("--task", choices=sorted(TASKS), help="sets the columns prepare_data.py writes for the task")
    parser.add_argument("--text_column", help='text column(s), comma-separated, joined with a space (default: "text")')
    parser.add_argument("--label_column", help='label column (default: "label")')
    parser.add_argument("--output_dir", type=Path, help="where audit.md, suspects.csv and the plot go (default: DATA_DIR/audit)")
    parser.add_argument("--oof", choices=OOF_MODELS, default="tfidf", help="model of the out-of-fold probabilities (default: %(default)s)")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=42, help="seed of the folds and the models (default: %(default)s)")
    parser.add_argument("--include_validation", action="store_true", help="rank the validation rows too (reported only, never cleaned)")
    transformer = parser.add_argument_group("--oof transformer")
    transformer.add_argument("--model", default=DEFAULT_MODEL, help="--model_name_or_path of each fold's run (default: %(default)s)")
    transformer.add_argument("--epochs", type=float, default=2.0, help="epochs per fold (default: %(default)s)")
    transformer.add_argument("--max_seq_length", type=int, default=128, help="tokens per text (default: %(default)s)")
    transformer.add_argument("--run_arguments", default="", help='other run_classification.py arguments, e.g. "--learning_rate 1e-4"')
    cleaning = parser.add_argument_group("cleaning (training split only)")
    cleaning.add_argument("--clean_output_dir", type=Path, help="write a cleaned copy of DATA_DIR here")
    action = cleaning.add_mutually_exclusive_group()
    action.add_argument("--drop_suspects_above", type=float, metavar="CONFIDENCE", help="drop flagged rows with a higher mislabel confidence")
    action.add_argument("--relabel_suspects_above", type=float, metavar="CONFIDENCE", help="relabel them to the out-of-fold prediction")
    cleaning.add_argument("--merge_conflicting_duplicates", choices=MERGE_CHOICES, help="majority: keep one copy with the majority label; drop: drop all copies")
    args = parser.parse_args(argv)
    task = TASKS.get(args.task)
    args.text_column = args.text_column or (task.text_columns if task else "text")
    args.label_column = args.label_column or (task.label_column if task else "label")
    args.output_dir = args.output_dir or args.data_dir / "audit"
    return args


def cleaning_settings(args: argparse.Namespace, command: str) -> CleaningSettings | None:
    asked = [args.drop_suspects_above, args.relabel_suspects_above, args.merge_conflicting_duplicates]
    if args.clean_output_dir is None:
        if any(option is not None for option in asked):
            raise UserInputError("the cleaning options need --clean_output_dir")
        return None
    if all(option is None for option in asked):
        raise UserInputError("--clean_output_dir: say what to clean (--drop_suspects_above, --relabel_suspects_above or --merge_conflicting_duplicates)")
    return CleaningSettings(args.clean_output_dir, args.drop_suspects_above, args.relabel_suspects_above, args.merge_conflicting_duplicates, command)


def main(argv: list[str] | None = None) -> None:
    started = time.monotonic()
    arguments = sys.argv[1:] if argv is None else argv
    args = parse_arguments(arguments)
    command = shlex.join(["python", "audit_data.py", *arguments])
    cleaning = cleaning_settings(args, command)
    data = load_prepared_data(args.data_dir, args.text_column, args.label_column)
    check_replaceable(args.output_dir, REPORT, "--output_dir")  # before the minutes of ranking, not after
    if cleaning:
        cleaning.check(data.data_dir)
    findings = run_checks(data)
    ranked_splits = ["train", "validation"] if args.include_validation else ["train"]
    ranked_rows = data.labelled_rows[data.labelled_rows["split"].isin(ranked_splits)]
    transformer = TransformerSettings(args.model, args.epochs, args.max_seq_length, shlex.split(args.run_arguments))
    ranking = rank_rows(ranked_rows, args.oof, args.folds, args.seed, transformer)
    write_audit(args.output_dir, data, findings, ranking, command, time.monotonic() - started)
    if cleaning:
        write_clean_directory(data, ranking, cleaning)
    logger.info("Done in %.1f s: read %s", time.monotonic() - started, args.output_dir / REPORT)


def cli() -> int:
    """Entry point: problems with the user's input become one `error:` line and exit code 2."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s - %(name)s - %(message)s")
    return exit_code_of(main)


if __name__ == "__main__":
    sys.exit(cli())
