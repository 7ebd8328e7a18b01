#!/usr/bin/env python
"""Turn raw public datasets into train/validation/test CSV files.

The CSV files are what ``run_classification.py`` reads with ``--train_file``,
``--validation_file`` and ``--test_file``. Everything works offline from raw files
(see ``../shared/data/SOURCES.md`` for the formats). Only ``--from_hub`` touches
the network, through ``datasets.load_dataset``.

Tasks and outputs
-----------------
* ``tweets``  (Kaggle "NLP with Disaster Tweets"): ``train.csv``/``test.csv``, plain or
  ``.gz``. Columns ``id,keyword,location,text,target`` (``target`` = int 0/1). Validation
  is a seeded, stratified split of Kaggle's train file. ``test.csv`` is Kaggle's test file
  with every row in the original order, its ``id`` column and no label column.
* ``imdb``: ``train.csv[.gz]``/``test.csv[.gz]`` with ``text`` and ``label`` columns, or the
  original ``aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt`` layout. Output columns
  ``id,rating,label,text``, ``label`` in {``negative``, ``positive``}. Validation is carved
  from train; the official test split stays the test split. The ``<br />`` tags that mark line
  breaks in most reviews become newlines (in both splits; the count is logged).
* ``ag_news``: the original headerless CSVs (class index 1..4, title, description).
  Output columns ``label,title,description,text`` with ``text = title + " " + description``
  and ``label`` in {World, Sports, Business, Sci/Tech}. Without ``train.csv`` the script
  refuses unless ``--carve_from_test`` is given.
* ``csv``: any CSV/TSV/JSON/JSONL file(s) given with ``--input`` (or every such file in
  ``--raw_dir``), split into train/validation/test.

How rows are cleaned and split: textclf/data/preparation.py. How each dataset's raw files are read:
textclf/data/corpora.py. A ``PROTOCOL.txt`` written next to the CSVs records sources (with sha256),
options, removals and split sizes.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

from textclf import UserInputError, exit_code_of
from textclf.data.preparation import DEFAULT_TEST_SIZE, DEFAULT_VAL_SIZE, LOGGER, PreparationOptions, prepare
from textclf.tasks import TASKS

CHOICES = (*TASKS, "csv")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Turn raw public datasets into train/validation/test CSV files for "
                    "run_classification.py (--train_file/--validation_file/--test_file).",
    )
    parser.add_argument("--task", required=True, choices=CHOICES,
                        help=f"a task of the task table (textclf/tasks.py: {', '.join(TASKS)}), whose raw "
                             "files it knows, or csv (any CSV/TSV/JSON/JSONL file with a text and a label column)")
    parser.add_argument("--raw_dir", type=Path,
                        help="folder with the raw files (e.g. ../shared/data/tweets); "
                             "*.gz files are accepted everywhere")
    parser.add_argument("--input", type=Path, nargs="+", metavar="FILE",
                        help="csv task only: input file(s) to use instead of --raw_dir")
    parser.add_argument("--output_dir", type=Path, required=True,
                        help="where train.csv, validation.csv, test.csv and PROTOCOL.txt go")
    parser.add_argument("--val_size", type=float, default=DEFAULT_VAL_SIZE,
                        help="validation fraction (of the train pool, or of all data when "
                             "test is carved too; default: %(default)s)")
    parser.add_argument("--test_size", type=float, default=None,
                        help=f"test fraction when test is carved (csv task, ag_news with "
                             f"--carve_from_test; default: {DEFAULT_TEST_SIZE})")
    parser.add_argument("--seed", type=int, default=42, help="seed for splitting and shuffling (default: %(default)s)")
    parser.add_argument("--text_column", default="text", help="csv task: text column name (default: %(default)s)")
    parser.add_argument("--label_column", default="label", help="csv task: label column name (default: %(default)s)")
    parser.add_argument("--carve_from_test", action="store_true",
                        help="ag_news without train.csv: carve train/validation/test from the "
                             "official test.csv (NOT comparable to published results)")
    parser.add_argument("--from_hub", action="store_true",
                        help="imdb/ag_news without --raw_dir: download with "
                             "datasets.load_dataset (needs internet)")
    return parser


def validate_args(args: argparse.Namespace) -> None:
    if not 0.0 < args.val_size < 1.0:
        raise UserInputError(f"--val_size must be between 0 and 1, got {args.val_size}")
    task = TASKS.get(args.task)  # None: --task csv, the user's own files
    carves_test = task is None or (task.can_carve_from_test and args.carve_from_test)
    if args.test_size is not None and not carves_test:
        LOGGER.warning("--test_size is ignored: task %s uses its official test split", args.task)
    if args.test_size is None:
        args.test_size = DEFAULT_TEST_SIZE
    if carves_test and not (0.0 < args.test_size < 1.0 and args.val_size + args.test_size < 1.0):
        raise UserInputError(f"--val_size + --test_size must be below 1 (and each above 0), "
                            f"got {args.val_size} + {args.test_size}")
    if args.input and args.task != "csv":
        raise UserInputError("--input is only for --task csv; use --raw_dir")
    if args.input and args.raw_dir:
        raise UserInputError("give either --input or --raw_dir, not both")
    if args.from_hub and args.raw_dir:
        raise UserInputError("give either --raw_dir or --from_hub, not both")
    on_the_hub = [name for name, known in TASKS.items() if known.hub_dataset]
    if args.from_hub and not (task and task.hub_dataset):
        raise UserInputError(f"--from_hub works only for --task {' or '.join(on_the_hub)}")
    if args.carve_from_test and not (task and task.can_carve_from_test):
        carvable = [name for name, known in TASKS.items() if known.can_carve_from_test]
        raise UserInputError(f"--carve_from_test is only for --task {' or '.join(carvable)}")
    if not (args.raw_dir or args.input or args.from_hub):
        raise UserInputError(f"--raw_dir is required (or --input for csv, or --from_hub for {'/'.join(on_the_hub)})")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.INFO)
    try:
        return exit_code_of(lambda: (validate_args(args), prepare(PreparationOptions(**vars(args)))))
    finally:
        LOGGER.removeHandler(handler)


if __name__ == "__main__":
    sys.exit(main())
