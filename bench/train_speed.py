#!/usr/bin/env python
"""Training speed against the upstream recipe, measured side by side in one run.

Same model, same Disaster Tweets train/validation split, one epoch, same seed, back to back:
  (a) the handout's recipe as upstream runs it: static padding to --max_seq_length 512, batch 32,
      lr 2e-5, fp32. Its cost per step is constant, so it is timed over --a_steps steps; its F1
      only in --full mode (about two hours per epoch on 2 cores);
  (b) upstream with dynamic padding: --pad_to_max_length False --max_seq_length 128;
  (c0) round 1's default recipe of `bash scripts/train_tweets.sh`, pinned here as a fixed reference
      (3 epochs, every layer trained), whatever the script's defaults become;
  (c) `bash scripts/train_tweets.sh` with its defaults, the whole recipe.
For each it prints training samples/s, training and wall time and validation F1, then the ratios
c/a and c/b (samples/s), c0/c (training time of the whole recipe) and the utilisation: useful (non-pad)
tokens/s x FLOPs per token over the fp32 matmul FLOP/s measured first on this machine (and, for runs
in bf16, over the bf16 rate too). FLOPs per token: 2 per non-embedding parameter for the forward pass,
4 more for the backward pass of those trained; a frozen layer (--freeze_lower_layers) runs forward only.

    python bench/train_speed.py            # about 15 minutes on 2 cores
    python bench/train_speed.py --quick    # a 640-tweet subset, 2 steps of (a): a fast look
    python bench/train_speed.py --full     # (a) for a whole epoch, with its F1

Results go to bench/RESULTS.md (section "Training speed") and experiments/bench/train_speed/.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from textclf import REPO_ROOT, exit_code_of
from textclf.data.preparation import incomplete_reason
from textclf.models.offline import DEFAULT_MODEL, resolve_model_name_or_path
from textclf.reports.benchmarks import (
    RESULTS_FILE,
    commands_section,
    peak_matmul_flops,
    read_run,
    run_and_time,
    shown,
    update_section,
)

logger = logging.getLogger("train_speed")
QUICK_TRAIN_SAMPLES = 640
QUICK_A_STEPS = 2


@dataclass
class Result:
    name: str
    description: str
    command: str
    samples_per_second: float
    train_seconds: float
    wall_seconds: float
    tokens_per_sample: float  # useful (non-pad) tokens, after truncation at the run's max length
    bf16: bool
    f1: float | None = None
    notes: list[str] = field(default_factory=list)
    frozen_layers: int | None = None  # --freeze_lower_layers of the run
    flops_per_token: float = 0.0  # 2 per parameter forward, 4 more backward for trained ones (set by main)

    @property
    def useful_tokens_per_second(self) -> float:
        return self.samples_per_second * self.tokens_per_sample


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help=f"train on {QUICK_TRAIN_SAMPLES} tweets; (a) for {QUICK_A_STEPS} steps")
    mode.add_argument("--full", action="store_true", help="run (a) for a whole epoch and report its F1 (hours)")
    parser.add_argument("--a_steps", type=int, default=4, help="steps over which (a) is timed (default 4)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model for all three runs (default: %(default)s)")
    parser.add_argument("--data_dir", default="data/tweets", help="prepared tweets splits (made if missing)")
    parser.add_argument("--work_dir", default="experiments/bench/train_speed", help="where the runs are written")
    parser.add_argument("--results", default=str(RESULTS_FILE), help="results file to update")
    parser.add_argument("--max_train_samples", type=int, default=None, help="train on the first N shuffled tweets")
    return parser.parse_args()


def ensure_tweets_data(data_dir: Path) -> None:
    """Prepare the splits the task script would, from the raw Kaggle files, when they are missing or incomplete."""
    if incomplete_reason(data_dir) is None:
        return
    for raw in (REPO_ROOT / "data/raw/tweets", REPO_ROOT.parent / "shared/data/tweets"):
        if raw.is_dir():
            subprocess.run(
                [sys.executable, "prepare_data.py", "--task", "tweets", "--raw_dir", str(raw), "--output_dir", str(data_dir)],
                cwd=REPO_ROOT, check=True,
            )
            return
    sys.exit(f"error: no {data_dir}/train.csv and no raw tweets in data/raw/tweets or ../shared/data/tweets")


def non_embedding_parameters(model_path: str, frozen_layers: int | None = None) -> tuple[int, int, int]:
    """(all parameters, those outside the embedding tables, those of them trained) of the model with a
    2-class head, with `frozen_layers` as --freeze_lower_layers freezes them."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from textclf.training.trainer import freeze_lower_layers

    model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=2)
    if frozen_layers is not None:
        freeze_lower_layers(model, frozen_layers)
    embedding_tables = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    total = sum(p.numel() for p in model.parameters())
    outside = [p for p in model.parameters() if id(p) not in embedding_tables]
    return total, sum(p.numel() for p in outside), sum(p.numel() for p in outside if p.requires_grad)


def mean_tokens_per_sample(model_path: str, train_file: Path, max_length: int, limit: int | None) -> float:
    import pandas as pd
    from transformers import AutoTokenizer

    texts = pd.read_csv(train_file)["text"].fillna("").astype(str).tolist()
    texts = texts[:limit] if limit else texts
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]]
    return float(np.mean(lengths))


def upstream_command(model: str, data_dir: Path, output_dir: Path, max_seq_length: int, static_padding: bool,
                     max_train_samples: int | None, max_steps: int | None, evaluate: bool) -> list[str]:
    """The handout's command (lr 2e-5, batch 32, one epoch), as upstream's defaults run it."""
    command = [
        sys.executable, "run_classification.py", "--model_name_or_path", model,
        "--train_file", str(data_dir / "train.csv"), "--validation_file", str(data_dir / "validation.csv"),
        "--text_column_names", "text", "--label_column_name", "target", "--metric_name", "f1",
        "--do_train", "--shuffle_train_dataset", "--seed", "42",
        "--max_seq_length", str(max_seq_length), "--pad_to_max_length", str(static_padding),
        "--per_device_train_batch_size", "32", "--learning_rate", "2e-5", "--num_train_epochs", "1",
        "--save_strategy", "no", "--output_dir", str(output_dir), "--overwrite_output_dir",
    ]
    if evaluate:
        command.append("--do_eval")
    if max_train_samples:
        command += ["--max_train_samples", str(max_train_samples)]
    if max_steps:
        command += ["--max_steps", str(max_steps)]
    return command


def run_upstream(name: str, description: str, args, data_dir: Path, model_path: str, max_seq_length: int,
                 static_padding: bool, max_steps: int | None, evaluate: bool) -> Result:
    output_dir = Path(args.work_dir) / name
    command = upstream_command(args.model, data_dir, output_dir, max_seq_length, static_padding,
                               args.max_train_samples, max_steps, evaluate)
    wall = run_and_time(command, Path(args.work_dir) / f"{name}.log")
    samples_per_second, train_seconds, f1, hyperparameters = read_run(output_dir)
    tokens = mean_tokens_per_sample(model_path, data_dir / "train.csv", max_seq_length, args.max_train_samples)
    shown_command = ["python", *(shown(Path(a)) if a.startswith("/") else a for a in command[1:])]
    result = Result(name, description, shlex.join(shown_command), samples_per_second, train_seconds, wall, tokens,
                    bool(hyperparameters.get("bf16")), f1)
    if max_steps:
        result.notes.append(f"timed over {max_steps} steps of 32")
    return result


# Round 1's default recipe (issue 16 calls it c0), every variable of scripts/train_tweets.sh that shapes training.
REFERENCE_RECIPE = {"EPOCHS": "3", "LR": "5e-5", "BATCH_SIZE": "32", "WARMUP_STEPS": "20", "MAX_SEQ_LENGTH": "64",
                    "BF16": "auto", "OPTIM": "adamw_torch_fused", "SAMPLING": "group_by_length",
                    "FREEZE_LOWER_LAYERS": ""}


def run_our_script(name: str, description: str, recipe: dict[str, str], args, data_dir: Path, model_path: str) -> Result:
    output_dir = Path(args.work_dir) / name
    env = {**recipe, "MODEL": args.model, "DATA_DIR": str(data_dir), "OUTPUT_DIR": str(output_dir),
           "MAX_TRAIN_SAMPLES": str(args.max_train_samples or ""), "OVERWRITE": "1"}
    wall = run_and_time(["bash", "scripts/train_tweets.sh"], Path(args.work_dir) / f"{name}.log", env)
    samples_per_second, train_seconds, f1, hyperparameters = read_run(output_dir)
    tokens = mean_tokens_per_sample(model_path, data_dir / "train.csv", hyperparameters["max_seq_length"], args.max_train_samples)
    # The recipe's empty values too (FREEZE_LOWER_LAYERS=): left out, the script's default would apply.
    shown_env = {k: shown(Path(v)) if v.startswith("/") else v for k, v in env.items()
                 if (v or k in recipe) and k != "OVERWRITE"}
    command = " ".join(f"{k}={v}" for k, v in shown_env.items()) + " bash scripts/train_tweets.sh"
    result = Result(name, description, command, samples_per_second, train_seconds, wall, tokens,
                    bool(hyperparameters.get("bf16")), f1)
    frozen = hyperparameters.get("freeze_lower_layers")
    result.frozen_layers = frozen
    result.notes.append(
        f"{hyperparameters['num_train_epochs']:g} epochs, lr {hyperparameters['learning_rate']:g}, "
        f"batch {hyperparameters['per_device_train_batch_size']}, max length {hyperparameters['max_seq_length']}, "
        f"{hyperparameters['train_sampling_strategy']}, bf16 {hyperparameters.get('bf16')}, {hyperparameters.get('optim')}, "
        + ("every layer trained" if frozen is None else f"embeddings and lowest {frozen} layers frozen")
        + "; wall time includes predicting test.csv"
    )
    return result


def utilisation(result: Result, peak_flops: float) -> float:
    return result.useful_tokens_per_second * result.flops_per_token / peak_flops


def report(results: list[Result], peaks: dict[str, float], total: int, non_embedding: int, args) -> str:
    a, b, c0, c = results
    lines = [
        f"Model {args.model}: {total / 1e6:.1f}M parameters, {non_embedding / 1e6:.1f}M outside the embeddings. "
        f"Measured matmul peak on this machine: fp32 {peaks['fp32'] / 1e9:.0f} GFLOP/s, bf16 {peaks['bf16'] / 1e9:.0f} GFLOP/s.",
        f"Data: {shown(Path(args.data_dir))}/train.csv and validation.csv" + (f", first {args.max_train_samples} shuffled training tweets" if args.max_train_samples else "") + ".",
        "",
        "| run | what | train samples/s | train time s | wall s | val F1 | useful tokens/s | utilisation of fp32 peak | of bf16 peak |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        fp32_use = utilisation(r, peaks["fp32"])
        bf16_use = f"{utilisation(r, peaks['bf16']):.0%}" if r.bf16 else "-"
        f1 = "-" if r.f1 is None else f"{r.f1:.4f}"
        what = r.description + ("".join(f"; {n}" for n in r.notes))
        lines.append(f"| ({r.name}) | {what} | {r.samples_per_second:.1f} | {r.train_seconds:.0f} | {r.wall_seconds:.0f} | {f1} | "
                     f"{r.useful_tokens_per_second:.0f} | {fp32_use:.0%} | {bf16_use} |")
    f1_gap = None if (b.f1 is None or c.f1 is None) else (c.f1 - b.f1) * 100
    lines += [
        "",
        f"- c/a = {c.samples_per_second / a.samples_per_second:.1f}x (target >= 40)",
        f"- c/b = {c.samples_per_second / b.samples_per_second:.2f}x (target >= 2.0)",
        f"- F1 of c minus F1 of b = {f1_gap:+.1f} points (target: no worse than -0.5)" if f1_gap is not None else "- F1 gap: not measured",
        f"- utilisation of c = {utilisation(c, peaks['fp32']):.0%} of the fp32 peak (target >= 50%)",
        f"- c0/c = {c0.train_seconds / c.train_seconds:.2f}x in training time of the whole recipe, "
        f"{c0.wall_seconds / c.wall_seconds:.2f}x in wall time (target >= 1.5x)",
        f"- F1 of c minus F1 of c0 = {(c.f1 - c0.f1) * 100:+.1f} points on this split (target: within 0.5 point on the "
        "five-split protocol, scripts/repeat_splits.sh; one split's draw moves F1 by two points)"
        if c.f1 is not None and c0.f1 is not None else "- F1 of c against c0: not measured",
        *commands_section({r.name: r.command for r in results},
                          f".venv/bin/python bench/train_speed.py{' --quick' if args.quick else ''}{' --full' if args.full else ''}"),
    ]
    return "\n".join(lines)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_arguments()
    if args.quick and args.max_train_samples is None:
        args.max_train_samples = QUICK_TRAIN_SAMPLES
    a_steps = None if args.full else (QUICK_A_STEPS if args.quick else args.a_steps)
    # The runs start in the repository root; paths given relative to where this was started.
    data_dir, args.work_dir = Path(args.data_dir).resolve(), str(Path(args.work_dir).resolve())
    ensure_tweets_data(data_dir)
    Path(args.work_dir).mkdir(parents=True, exist_ok=True)
    model_path = resolve_model_name_or_path(args.model).path

    peaks = peak_matmul_flops()
    total, non_embedding, _ = non_embedding_parameters(model_path)
    logger.info("fp32 %.0f GFLOP/s, bf16 %.0f GFLOP/s; %s: %.1fM parameters, %.1fM outside the embeddings",
                peaks["fp32"] / 1e9, peaks["bf16"] / 1e9, args.model, total / 1e6, non_embedding / 1e6)

    results = [
        run_upstream("a", "upstream recipe: static padding to 512, batch 32, lr 2e-5, fp32", args, data_dir, model_path,
                     512, True, a_steps, evaluate=args.full),
        run_upstream("b", "upstream with dynamic padding, max length 128", args, data_dir, model_path,
                     128, False, None, evaluate=True),
        run_our_script("c0", "reference: round 1's scripts/train_tweets.sh defaults, pinned", REFERENCE_RECIPE,
                       args, data_dir, model_path),
        run_our_script("c", "scripts/train_tweets.sh defaults", {}, args, data_dir, model_path),
    ]
    for r in results:  # a frozen layer runs forward only: 2 FLOPs per parameter and token instead of 6
        _, outside, trained = non_embedding_parameters(model_path, r.frozen_layers)
        r.flops_per_token = 2 * outside + 4 * trained
    for r in results:
        logger.info("(%s) %.1f samples/s, train %.0f s, wall %.0f s, F1 %s", r.name, r.samples_per_second,
                    r.train_seconds, r.wall_seconds, "-" if r.f1 is None else f"{r.f1:.4f}")
    body = report(results, peaks, total, non_embedding, args)
    print(body)
    path = update_section("Training speed" + (" (--quick)" if args.quick else ""), body, Path(args.results))
    logger.info("Written to %s", path)


if __name__ == "__main__":
    sys.exit(exit_code_of(main))
