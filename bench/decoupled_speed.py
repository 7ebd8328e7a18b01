#!/usr/bin/env python
"""The decoupled edition against run_classification.py: the same job, side by side in one run.

Both through `bash scripts/train_tweets.sh` with its defaults (the variables at the top of the script and of
scripts/lib/settings.sh, whatever they are today), on the same prepared split, back to back:
  (t) TRAINER=run_classification: the transformers Trainer;
  (d) TRAINER=decoupled: decoupled/main.py, the plain PyTorch loop.
It prints each run's validation F1 of the positive (disaster) class, per epoch and as reported (the
decoupled run reports its best epoch, the Trainer its last), training samples/s (epoch evaluations
included in both, as the Trainer counts them), the F1 difference and the speed ratio against their
targets (within 1 point, at least 0.9x), and the machine's matmul peaks measured first.

    python bench/decoupled_speed.py            # about 10 minutes on 2 cores
    python bench/decoupled_speed.py --quick    # 640 training tweets, 1 epoch: a fast look

Results go to bench/RESULTS.md (section "Decoupled edition") and experiments/bench/decoupled_speed/.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

from textclf.models.offline import DEFAULT_MODEL
from textclf.reports.benchmarks import (
    RESULTS_FILE,
    commands_section,
    peak_matmul_flops,
    read_run,
    run_and_time,
    shown,
    update_section,
)
from textclf.runs.folder import TRAINER_STATE, read_json

logger = logging.getLogger("decoupled_speed")
QUICK_TRAIN_SAMPLES = 640
TRAINERS = {"t": ("run_classification", "run_classification.py (Trainer)"),
            "d": ("decoupled", "decoupled/main.py (plain PyTorch loop)")}
F1_TARGET_POINTS, SPEED_TARGET = 1.0, 0.9


@dataclass
class Result:
    name: str
    description: str
    f1: float  # the validation F1 of the positive class the run reports (for d, its best epoch's)
    f1_per_epoch: list[float]
    samples_per_second: float  # training, epoch evaluations included (the Trainer's train_samples_per_second)
    train_seconds: float
    wall_seconds: float
    settings: dict
    command: str


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"train on {QUICK_TRAIN_SAMPLES} tweets for 1 epoch")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model for both runs (default: %(default)s)")
    parser.add_argument("--data_dir", default="data/tweets", help="prepared tweets splits (made by the script if missing)")
    parser.add_argument("--work_dir", default="experiments/bench/decoupled_speed", help="where the runs are written")
    parser.add_argument("--results", default=str(RESULTS_FILE), help="results file to update")
    return parser.parse_args()


def run(name: str, args: argparse.Namespace) -> Result:
    trainer, description = TRAINERS[name]
    output_dir = Path(args.work_dir) / name
    env = {"TRAINER": trainer, "MODEL": args.model, "DATA_DIR": str(Path(args.data_dir).resolve()),
           "OUTPUT_DIR": str(output_dir)}
    if args.quick:
        env |= {"MAX_TRAIN_SAMPLES": str(QUICK_TRAIN_SAMPLES), "EPOCHS": "1"}
    wall = run_and_time(["bash", "scripts/train_tweets.sh"], Path(args.work_dir) / f"{name}.log", env)
    samples_per_second, train_seconds, f1, settings = read_run(output_dir)
    per_epoch = [entry["eval_f1"] for entry in read_json(output_dir / TRAINER_STATE)["log_history"] if "eval_f1" in entry]
    shown_env = {key: shown(Path(value)) if value.startswith("/") else value for key, value in env.items()}
    command = " ".join(f"{key}={value}" for key, value in shown_env.items()) + " bash scripts/train_tweets.sh"
    return Result(name, description, f1, per_epoch, samples_per_second, train_seconds, wall, settings, command)


def report(trainer: Result, decoupled: Result, peaks: dict[str, float], args: argparse.Namespace) -> str:
    f1_gap = (decoupled.f1 - trainer.f1) * 100
    last_epoch_gap = (decoupled.f1_per_epoch[-1] - trainer.f1_per_epoch[-1]) * 100
    speed = decoupled.samples_per_second / trainer.samples_per_second
    lines = [
        f"Model {args.model}; data {shown(Path(args.data_dir))}/train.csv and validation.csv"
        + (f", first {QUICK_TRAIN_SAMPLES} shuffled training tweets, 1 epoch" if args.quick else "; scripts/train_tweets.sh defaults")
        + f". Measured matmul peak on this machine: fp32 {peaks['fp32'] / 1e9:.0f} GFLOP/s, bf16 {peaks['bf16'] / 1e9:.0f} GFLOP/s.",
        "",
        "| run | trainer | train samples/s | train time s | wall s | validation F1 (positive class) | F1 per epoch | bf16 | optimizer |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in (trainer, decoupled):
        per_epoch = ", ".join(f"{f1:.4f}" for f1 in r.f1_per_epoch)
        lines.append(f"| ({r.name}) | {r.description} | {r.samples_per_second:.1f} | {r.train_seconds:.0f} | "
                     f"{r.wall_seconds:.0f} | {r.f1:.4f} | {per_epoch} | {r.settings.get('bf16')} | {r.settings.get('optim')} |")
    lines += [
        "",
        f"- F1 of d minus F1 of t = {f1_gap:+.2f} points (target: within {F1_TARGET_POINTS:g}; "
        f"{'met' if abs(f1_gap) <= F1_TARGET_POINTS else 'not met'}); at the last epoch of both {last_epoch_gap:+.2f} points "
        "(d reports its best epoch, t its last)",
        f"- samples/s of d / t = {speed:.2f}x (target >= {SPEED_TARGET}; {'met' if speed >= SPEED_TARGET else 'not met'})",
    ]
    reproduce = f".venv/bin/python bench/decoupled_speed.py{' --quick' if args.quick else ''}"
    return "\n".join(lines + commands_section({r.name: r.command for r in (trainer, decoupled)}, reproduce))


def main() -> None:
    args = parse_arguments()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.work_dir = str(Path(args.work_dir).resolve())  # the runs start in the repository root
    Path(args.work_dir).mkdir(parents=True, exist_ok=True)
    peaks = peak_matmul_flops()
    trainer, decoupled = run("t", args), run("d", args)
    for r in (trainer, decoupled):
        logger.info("(%s) %.1f samples/s, train %.0f s, wall %.0f s, F1 %.4f", r.name, r.samples_per_second,
                    r.train_seconds, r.wall_seconds, r.f1)
    body = report(trainer, decoupled, peaks, args)
    print(body)
    path = update_section("Decoupled edition" + (" (--quick)" if args.quick else ""), body, Path(args.results))
    logger.info("Written to %s", path)


if __name__ == "__main__":
    main()
