#!/usr/bin/env python
"""Classify every row of a file with a finished run: any size, every core, resumable.

    python predict.py experiments/tweets-all-MiniLM-L6-v2 tickets.csv --output tickets-predicted.csv
    python predict.py RUN reviews.jsonl --output predicted.jsonl --text_columns title,body
    python predict.py RUN huge.csv --output predicted/ --ray local      # the same on Ray Data
    python predict.py RUN data/imdb/test.csv --as_test_split            # the run's own predictions.csv, scored

Writes the input's columns, then `prediction` and `prob_<class>` for every class (the demo's CSV tab
writes the same). Killed or interrupted, the same command continues from its last finished chunk;
the output appears only when complete. See textclf/serving/batch.py.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from textclf import exit_code_of
from textclf.reports.report import write_run_report
from textclf.runs.folder import BATCH_TEST_OUTPUT, TEST_PREDICTIONS, resolve_run
from textclf.runs.predictions import write_test_predictions, write_test_results
from textclf.serving.batch import (
    BATCH_SIZE,
    CHUNK_ROWS,
    BatchJob,
    check_output,
    check_readable_text,
    count_rows,
    run_batch,
    text_columns_for,
)
from textclf.serving.predictor import ALL_VARIANTS, SERVING_VARIANT, Predictor, available_cores

logger = logging.getLogger("predict")


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("run", help="a finished run folder (the --output_dir of run_classification.py or decoupled/main.py)")
    parser.add_argument("input", type=Path, help="a CSV, TSV or JSON Lines file (optionally .gz) with the text column(s)")
    parser.add_argument("--output", type=Path,
                        help="the output file: .csv, .tsv or .jsonl by its name (with --ray: a folder of CSV files)")
    parser.add_argument("--as_test_split", action="store_true",
                        help="write the run's own test predictions instead (predictions.csv, predict_results.txt, "
                             "submission.csv, test metrics where the input has labels) and rebuild its report")
    parser.add_argument("--text_columns", help="comma-separated text column(s) (default: those the run was trained on)")
    parser.add_argument("--variant", choices=ALL_VARIANTS, default=SERVING_VARIANT,
                        help="how the model runs (default: %(default)s: int8 where it keeps the run's validation accuracy; "
                             "half: PyTorch in bf16 where the CPU has bf16 units (AMX, AVX512-BF16) or in half precision on a GPU, "
                             "the labels of the model as trained; see bench/RESULTS.md)")
    parser.add_argument("--workers", type=int, default=available_cores(),
                        help="one-core model sessions side by side (default: every core, %(default)s)")
    parser.add_argument("--chunk_rows", type=int, default=CHUNK_ROWS,
                        help="rows read, predicted and saved at a time: what an interruption can lose (default: %(default)s)")
    parser.add_argument("--batch_size", type=int, default=BATCH_SIZE, help="texts per model call (default: %(default)s)")
    parser.add_argument("--ray", metavar="ADDRESS",
                        help="run on Ray Data: 'local' starts Ray on this machine, 'auto' joins the cluster this machine "
                             "belongs to, ray://HOST:10001 a remote one (see docs/batch_prediction.md)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    arguments = parser.parse_args(argv)
    if arguments.output is None and not arguments.as_test_split:
        parser.error("give --output FILE (or --as_test_split)")
    if min(arguments.workers, arguments.chunk_rows, arguments.batch_size) < 1:
        parser.error("--workers, --chunk_rows and --batch_size must be at least 1")
    return arguments


def predict(arguments: argparse.Namespace) -> None:
    started = time.monotonic()
    run_dir = resolve_run(arguments.run, Path("experiments"))
    check_readable_text(arguments.input)
    chosen = [c.strip() for c in arguments.text_columns.split(",") if c.strip()] if arguments.text_columns else None
    text_columns = text_columns_for(run_dir, arguments.input, chosen)
    # --as_test_split: predict.py's own table first, in the run folder, then the run's prediction files from it.
    output = run_dir / BATCH_TEST_OUTPUT if arguments.as_test_split else arguments.output
    check_output(output, arguments.overwrite or arguments.as_test_split, folder=bool(arguments.ray))
    job = BatchJob(str(run_dir), str(arguments.input), str(output), text_columns, arguments.variant, arguments.chunk_rows)

    predictor = Predictor.from_run(run_dir, arguments.variant)
    logger.info("Serving %s as %s, %d text column(s): %s", run_dir, predictor.variant, len(text_columns),
                ", ".join(text_columns))
    if arguments.ray:
        from textclf.serving.ray_batch import predict_on_ray

        rows = predict_on_ray(job, predictor.variant, arguments.ray, arguments.workers, arguments.batch_size)
    else:
        rows = run_batch(job, predictor, arguments.workers, arguments.batch_size, total_rows=count_rows(arguments.input))
    seconds = time.monotonic() - started
    logger.info("Predicted %d rows in %.0f s (%.1f rows/s, %s, %d worker(s)): %s", rows, seconds, rows / seconds,
                predictor.variant, arguments.workers, output)
    if arguments.as_test_split:
        write_test_predictions(run_dir, output, str(arguments.input))
        write_run_report(run_dir)  # scores the test split where it has labels, writes submission.csv
        write_test_results(run_dir, seconds)
        output.unlink()
        logger.info("Test predictions of %s: %s", run_dir, run_dir / TEST_PREDICTIONS)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", level=logging.INFO)
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    return exit_code_of(lambda: predict(arguments),
                        interrupted_hint="; run the same command again to continue from the last finished chunk")


if __name__ == "__main__":
    sys.exit(main())
