#!/usr/bin/env python
"""How fast predict.py applies a finished run to a file, against run_classification.py --do_predict.

On one run (default: experiments/tweets-all-MiniLM-L6-v2, made by `bash scripts/train_tweets.sh`) and
the same ROWS texts (the run's validation and test texts, repeated), measured side by side in one run,
each command timed end to end (start-up and model loading included, as a user waits for them), in
ROUNDS rounds whose order alternates, the best round kept:
- (a) `run_classification.py --model_name_or_path RUN --do_predict`: PyTorch, what the task scripts did;
- (b) `predict.py RUN rows.csv`: the run's `auto` variant, one-core sessions side by side on every core;
- (c) `predict.py --workers 1`: the same on one core;
- (d) on a CPU with bf16 units only, `predict.py --variant half --batch_size 64`: PyTorch bf16.
Before them, one predict.py call on 100 rows makes what the run caches on first use (the ONNX exports
and the int8 check), timed apart. Then the peak memory of (b) on a generated file of LARGE_ROWS rows (1,000,000 by default).
Targets (issue 28): b/a >= 3x rows/s with >= 99.5% of labels equal where the gate chose int8; b/c >= 1.7x;
peak memory under 2 GB.

    python bench/batch_predict.py            # tens of minutes on 2 cores, most of it the 1,000,000 rows
    python bench/batch_predict.py --quick    # 300 rows, 3,000 large rows, one round: a smoke test

Results go to bench/RESULTS.md (section "Batch prediction").
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from textclf import REPO_ROOT, exit_code_of
from textclf.hardware import serving_plan
from textclf.reports.benchmarks import RESULTS_FILE, peak_matmul_flops, shown, update_section
from textclf.runs.folder import TRAIN_COMMAND, RunInfo, find_data_file, is_finished
from textclf.serving.predictor import ONNX_DIR, available_cores

logger = logging.getLogger("batch_predict")
DEFAULT_RUN = "experiments/tweets-all-MiniLM-L6-v2"
PYTHON = sys.executable
MEMORY_LIMIT_BYTES = 2 * 1024**3


@dataclass
class Timing:
    name: str
    what: str
    command: list[str]
    seconds: float = float("inf")  # the best round


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", default=DEFAULT_RUN, help="a finished run (default: %(default)s)")
    parser.add_argument("--rows", type=int, default=5000, help="texts each command predicts (default: %(default)s)")
    parser.add_argument("--large_rows", type=int, default=1_000_000,
                        help="rows of the generated file whose peak memory is measured (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the three commands (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="300 rows, 3,000 large rows, one round")
    parser.add_argument("--work_dir", help="where the files go (default: a temporary folder)")
    parser.add_argument("--results", default=str(RESULTS_FILE), help="the results file (default: bench/RESULTS.md)")
    return parser.parse_args()


def run_texts(run_dir: Path) -> list[str]:
    """The texts of the run's validation and test files, in the run's text column(s) joined as trained."""
    from textclf.serving.batch import texts_of
    from textclf.tables import read_table

    info = RunInfo.read(run_dir)
    texts = []
    for role in ("validation", "test"):
        path = find_data_file(info.data_file(role), run_dir)
        if path is not None:
            table = read_table(path)
            texts += [text for text in texts_of(table, info.text_columns) if text.strip()]
    if not texts:
        sys.exit(f"error: {run_dir}: its validation and test files are not where run_info.json says")
    return texts


def write_rows(path: Path, texts: list[str], count: int) -> Path:
    """`count` rows (id, text), the texts repeated in turn."""
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["id", "text"])
        for index in range(count):
            writer.writerow([index, texts[index % len(texts)]])
    return path


def run_classification_command(run_dir: Path, rows: Path, output_dir: Path) -> list[str]:
    info = RunInfo.read(run_dir)
    return [PYTHON, str(REPO_ROOT / "run_classification.py"), "--model_name_or_path", str(run_dir),
            "--test_file", str(rows), "--text_column_names", "text", "--do_predict", "--output_dir", str(output_dir),
            "--overwrite_output_dir", "--max_seq_length", str(info.max_seq_length or 128),
            "--truncation_tail_tokens", str(info.truncation_tail_tokens), "--per_device_eval_batch_size", "64",
            "--bf16", "true" if info.precision == "bf16" else "false", "--report_to", "none"]


def predict_command(run_dir: Path, rows: Path, output: Path, workers: int, *options: str) -> list[str]:
    return [PYTHON, str(REPO_ROOT / "predict.py"), str(run_dir), str(rows), "--text_columns", "text",
            "--output", str(output), "--overwrite", "--workers", str(workers), *options]


def agreement(upstream: Path, ours: Path) -> float:
    """The share of rows whose predicted labels are equal in run_classification.py's predictions and predict.py's."""
    theirs = pd.read_csv(upstream, dtype=str, keep_default_na=False)["prediction"]
    mine = pd.read_csv(ours, dtype=str, keep_default_na=False)["prediction"]
    return float((theirs.to_numpy() == mine.to_numpy()).mean())


def run(command: list[str], log: Path) -> float:
    started = time.monotonic()
    with open(log, "w") as file:
        completed = subprocess.run(command, cwd=REPO_ROOT, stdout=file, stderr=subprocess.STDOUT)
    if completed.returncode != 0:
        sys.exit(f"error: {command[1]} failed (exit {completed.returncode}); see {log}")
    return time.monotonic() - started


def peak_memory(command: list[str], log: Path) -> tuple[float, int]:
    """(seconds, peak resident bytes) of `command`, in a fresh process whose only child it is."""
    probe = ("import resource, subprocess, sys, time; started = time.monotonic(); "
             "code = subprocess.run(sys.argv[2:], stdout=open(sys.argv[1], 'w'), stderr=subprocess.STDOUT).returncode; "
             "print(time.monotonic() - started, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024, code)")
    out = subprocess.run([PYTHON, "-c", probe, str(log), *command], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    seconds, peak, code = out.stdout.split()
    if code != "0":
        sys.exit(f"error: predict.py failed on the large file (exit {code}); see {log}")
    return float(seconds), int(peak)


def served_variant(log: Path) -> str:
    """The variant predict.py served, from its log line "Serving RUN as VARIANT, ..."."""
    for line in log.read_text().splitlines():
        if " as " in line and "Serving " in line:
            return line.split(" as ", 1)[1].split(",", 1)[0]
    return "?"


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_arguments()
    if args.quick:
        args.rows, args.large_rows, args.rounds = 300, 3000, 1
    run_dir = Path(args.run).resolve()
    if not is_finished(run_dir):
        sys.exit(f"error: {run_dir} is not a finished run; make the default one with: {TRAIN_COMMAND}")
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="batch-predict-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    texts = run_texts(run_dir)
    rows = write_rows(work / "rows.csv", texts, args.rows)
    cores = available_cores()
    cached_before = (run_dir / ONNX_DIR).is_dir()
    first_call = run(predict_command(run_dir, write_rows(work / "first.csv", texts, 100), work / "first-out.csv", cores),
                     work / "first.log")
    timings = [
        Timing("a", "run_classification.py --do_predict (PyTorch)", run_classification_command(run_dir, rows, work / "a")),
        Timing("b", f"predict.py, {cores} one-core sessions side by side", predict_command(run_dir, rows, work / "b.csv", cores)),
        Timing("c", "predict.py --workers 1 (one core)", predict_command(run_dir, rows, work / "c.csv", 1)),
    ]
    plan = serving_plan()
    if plan.device == "cpu" and plan.half_dtype is not None:  # PyTorch bf16: only where this CPU has bf16 units
        timings.append(Timing("d", "predict.py --variant half: PyTorch bf16, batches of 64",
                              predict_command(run_dir, rows, work / "d.csv", cores, "--variant", "half", "--batch_size", "64")))
    peaks = peak_matmul_flops()
    for round_index in range(args.rounds):  # the order alternates: each command meets the slow spells alike
        for timing in timings if round_index % 2 == 0 else timings[::-1]:
            seconds = run(timing.command, work / f"{timing.name}.log")
            logger.info("round %d (%s) %.1f s, %.1f rows/s", round_index + 1, timing.name, seconds, args.rows / seconds)
            timing.seconds = min(timing.seconds, seconds)
    agreements = {t.name: agreement(work / "a" / "predictions.csv", work / f"{t.name}.csv") for t in timings[1:]}
    variant = served_variant(work / "b.log")

    large = write_rows(work / "large.csv", texts, args.large_rows)
    large_seconds, peak = peak_memory(predict_command(run_dir, large, work / "large-out.csv", cores), work / "large.log")
    with open(work / "large-out.csv", newline="", encoding="utf-8") as written:  # a tweet may hold a newline
        large_out_rows = sum(1 for _ in csv.reader(written)) - 1

    rate = {t.name: args.rows / t.seconds for t in timings}
    lines = [
        f"Run `{shown(run_dir)}` ({RunInfo.read(run_dir).model}), {args.rows:,} texts of its validation and test "
        f"files; each command end to end (start-up and loading included), best of {args.rounds} round(s), the order "
        f"alternating. Measured matmul peak on this machine: fp32 {peaks['fp32'] / 1e9:.0f} GFLOP/s, "
        f"bf16 {peaks['bf16'] / 1e9:.0f} GFLOP/s.",
        "",
        "| command | what | seconds | rows/s |",
        "|---|---|---|---|",
        *[f"| ({t.name}) | {t.what} | {t.seconds:.1f} | {rate[t.name]:.1f} |" for t in timings],
        "",
        f"- b/a = {rate['b'] / rate['a']:.2f}x run_classification's rows/s (target >= 3x), predict.py serving `{variant}`; "
        f"labels equal on {agreements['b']:.2%} of rows (target >= 99.5% where the gate chose int8)",
        f"- b/c = {rate['b'] / rate['c']:.2f}x from one core to {cores} (target >= 1.7x)",
        *([f"- d/a = {rate['d'] / rate['a']:.2f}x, d/b = {rate['d'] / rate['b']:.2f}x; (d)'s labels equal to (a)'s on "
           f"{agreements['d']:.2%} of rows"] if "d" in rate else []),
        f"- before these, predict.py's first call on 100 rows took {first_call:.1f} s ("
        f"{'the run already had its ONNX exports' if cached_before else 'it made the ONNX exports and the int8 check'}; "
        "cached in the run, not counted above)",
        f"- peak memory of (b) on {args.large_rows:,} generated rows: {peak / 1024**2:,.0f} MiB "
        f"(target < {MEMORY_LIMIT_BYTES / 1024**2:,.0f} MiB), {large_seconds:.0f} s, {args.large_rows / large_seconds:.0f} "
        f"rows/s; {large_out_rows:,} rows written",
        "",
        "Commands:",
        "",
        *[f"- ({t.name}) `{' '.join(['python', *[shown(Path(p)) if p.startswith('/') else p for p in t.command[1:]]])}`"
          for t in timings],
        "",
        f"Reproduce: `python bench/batch_predict.py{' --quick' if args.quick else ''} --run {shown(run_dir)} "
        f"--rows {args.rows} --large_rows {args.large_rows} --rounds {args.rounds}`",
    ]
    body = "\n".join(lines)
    print(body)
    (work / "figures.json").write_text(json.dumps({"rows_per_second": rate, "agreement": agreements, "peak_bytes": peak,
                                                    "variant": variant}, indent=2))
    path = update_section("Batch prediction" + (" (--quick)" if args.quick else ""), body, Path(args.results))
    logger.info("Written to %s", path)


if __name__ == "__main__":
    sys.exit(exit_code_of(main))
