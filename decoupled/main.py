#!/usr/bin/env python
"""Step 3 of 3, the loop: fine-tune in plain PyTorch, score every epoch, keep the best epoch, predict
the test file, and leave a run folder the rest of the toolkit reads (report, web demo, Space). Checkpoints
by the clock (--save_every_minutes) let the same command, run again, continue an interrupted run.

    python decoupled/main.py --train_file data/tweets/train.csv --validation_file data/tweets/validation.csv \
      --test_file data/tweets/test.csv --label_column_name target --metric_name f1 --output_dir experiments/my-run

Flags are run_classification.py's where they mean the same; docs/decoupled.md walks through the three files.
"""

from __future__ import annotations

import argparse
import copy
import inspect
import itertools
import logging
import os
import random
import shlex
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from modeling import OPTIMIZERS, POOLINGS, DecoupledClassifier, balanced_class_weights, classification_loss, r_drop_loss
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm
from transformers import AutoTokenizer, EvalPrediction, get_linear_schedule_with_warmup, set_seed
from transformers.trainer_pt_utils import safe_globals
from utils_data import SAMPLINGS, collate, eval_batches, in_file_order, load_data, train_batches, write_predictions

from textclf import UserInputError, exit_code_of
from textclf.data.labels import LABEL, read_class_names
from textclf.faults import kill_point
from textclf.hardware import BF16, FP16, FP32, compute_device, fast_precision, precision_flags
from textclf.models.offline import enable_offline_mode, hub_model_needs_network, resolve_model_name_or_path
from textclf.problem_types import SINGLE_LABEL
from textclf.reports.report import write_run_report
from textclf.runs.calibration import Calibration, measure_calibration, write_calibration
from textclf.runs.folder import (
    ALL_RESULTS,
    CHECKPOINT_PREFIX,
    TRAINER_STATE,
    RunInfo,
    begin_writing,
    script_settings_from_environment,
    write_json_atomically,
)
from textclf.runs.progress import checkpoints, clean_up_finished, plan_training
from textclf.training.metrics import load_metric, make_compute_metrics, resolve_metric
from textclf.training.resume import full_disk_said
from textclf.training.trainer import freeze_lower_layers, layer_depths

logger = logging.getLogger("decoupled")

# The task scripts' settings (scripts/lib/settings.sh) and what this edition does with each: flag -> (the
# scripts' variable, the values it takes). Any other value stops the run with one line before any work.
SUPPORTED = {
    "optim": ("OPTIM", OPTIMIZERS),  # AdamW, plain or fused (modeling.py)
    "train_sampling_strategy": ("SAMPLING", SAMPLINGS),  # batches of similar lengths, or shuffled rows (utils_data.py)
    "eval_strategy": ("EVAL_STRATEGY", ("epoch", "no")),  # score every epoch and keep the best, or once after the last
    "save_strategy": ("SAVE_STRATEGY", ("no", "epoch")),  # checkpoints by the clock only, or at each epoch's end too
    "calibrate_temperature": ("CALIBRATE", ("true", "false")),
    "tune_threshold": ("TUNE_THRESHOLD", ("true", "false")),
}
# Flags that do not change what is learnt: an interrupted run may continue with other values of these.
NOT_TRAINING = ("output_dir", "overwrite_output_dir", "test_file", "save_strategy", "save_every_minutes",
                "calibrate_temperature", "tune_threshold")
TRAINING_STATE = "training_state.pt"  # in each checkpoint-<step>/: see save_checkpoint


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    flag = (parser := argparse.ArgumentParser(description=__doc__.split("\n\n")[0])).add_argument
    flag("--model_name_or_path", default="all-MiniLM-L6-v2", help="a model folder, an offline model or a hub id")
    flag("--train_file", required=True), flag("--validation_file", required=True), flag("--test_file")
    flag("--text_column_names", help="comma-separated (default: sentence, else text)")
    flag("--label_column_name", help="default: label")
    flag("--class_names", help='readable class names, e.g. \'{"0": "not disaster", "1": "disaster"}\'')
    flag("--metric_name", default="accuracy", help="picks the best epoch: accuracy, f1, ... or a metric script")
    flag("--max_seq_length", type=int, default=128)
    flag("--truncation_tail_tokens", type=int, default=0, help="a long text keeps its last N tokens too")
    flag("--max_train_samples", type=int, help="a seeded random subset"), flag("--max_eval_samples", type=int)
    flag("--per_device_train_batch_size", type=int, default=8)
    flag("--per_device_eval_batch_size", type=int, default=8)
    flag("--learning_rate", type=float, default=5e-5), flag("--weight_decay", type=float, default=0.0)
    flag("--num_train_epochs", type=int, default=3), flag("--warmup_steps", type=int, default=0)
    flag("--max_grad_norm", type=float, default=1.0), flag("--logging_steps", type=int, default=20)
    flag("--early_stopping_patience", type=int, default=2, help="stop after this many epochs without a better score")
    flag("--pooling", choices=POOLINGS, default="cls", help="one vector per text: the first token's, or the mean")
    flag("--dropout", type=float, default=0.1)
    flag("--layer_lr_decay", type=float, default=1.0,
         help="below 1: each layer down from the top learns this many times slower than the one above (e.g. 0.9)")
    flag("--ema_decay", type=float, help="score and keep an exponential moving average of the weights (e.g. 0.99)")
    flag("--rdrop_alpha", type=float, default=0.0,
         help="above 0: R-Drop, each batch twice through dropout, this weight on the two predictions' divergence")
    flag("--freeze_lower_layers", type=int, help="keep the embeddings and the lowest N layers as pretrained (0: the embeddings)")
    flag("--class_weights", choices=("none", "balanced"), default="none", help="balanced: rare classes weigh more")
    flag("--bf16", type=str.lower, choices=("auto", "true", "false"), nargs="?", const="true", default="auto")
    flag("--fp16", type=str.lower, choices=("true", "false"), nargs="?", const="true", default="false",
         help="float16 mixed precision with loss scaling (GPUs without bf16, a T4)")
    flag("--seed", type=int, default=42), flag("--output_dir", required=True)
    # The task scripts' settings, named as in run_classification.py (SUPPORTED: the values this edition takes).
    flag("--optim", default="adamw_torch_fused", help="adamw_torch_fused: one kernel for every parameter; adamw_torch")
    flag("--train_sampling_strategy", default="group_by_length", help="group_by_length: rows of similar lengths; random")
    flag("--eval_strategy", default="epoch", help="epoch: score every epoch, keep the best; no: once, after the last")
    flag("--save_strategy", default="no", help="epoch: a checkpoint at the end of every epoch too")
    flag("--save_every_minutes", type=float,
         help="a checkpoint every N minutes of training: the same command continues from the last one")
    flag("--overwrite_output_dir", action="store_true", help="start from scratch, not from an interrupted run's checkpoint")
    flag("--calibrate_temperature", type=str.lower, nargs="?", const="true", default="false",
         help="true: the test predictions and the demo give temperature-scaled probabilities")
    flag("--tune_threshold", type=str.lower, nargs="?", const="true", default="false",
         help="true (two classes): predict the second class from the threshold that maximises the metric")
    args = parser.parse_args(argv)
    refuse_unsupported(args)
    return args


def refuse_unsupported(args: argparse.Namespace) -> None:
    """A setting this edition does not do stops the run in one line (textclf.UserInputError), before any work."""
    for name, (variable, values) in SUPPORTED.items():
        if (value := getattr(args, name)) not in values:
            raise UserInputError(f"--{name} {value} ({variable} in the task scripts): "
                                 f"the decoupled edition takes {' or '.join(values)}")
    if args.fp16 == "true" and args.bf16 == "true":
        raise UserInputError("--bf16 and --fp16 together: choose one precision (PRECISION in the task scripts)")
    if args.save_every_minutes is not None and args.save_every_minutes < 0:
        raise UserInputError(f"--save_every_minutes {args.save_every_minutes:g} (SAVE_EVERY_MINUTES in the task "
                             "scripts): a number of minutes, 0 or more")
    if args.num_train_epochs < 1:
        raise UserInputError(f"--num_train_epochs {args.num_train_epochs}: at least 1")


def training_settings(args: argparse.Namespace, precision: str) -> dict:
    """What an interrupted run may only continue with (textclf/runs/progress.py compares them): the flags that change
    what is learnt, as given, and the precision as decided (it may change, with a warning)."""
    settings = {name: value for name, value in vars(args).items() if name not in NOT_TRAINING}
    return settings | precision_flags(precision)


def training_precision(args: argparse.Namespace) -> str:
    """bf16, fp16 or fp32: as asked, or with --bf16 auto what this machine computes fast (textclf/hardware.py)."""
    if args.fp16 == "true":
        return FP16
    return {"true": BF16, "false": FP32}.get(args.bf16) or fast_precision()


@dataclass
class Progress:
    """All the loop has done so far: with the model, the optimizer, the schedule and the random generators,
    what a checkpoint holds, and what a resumed run starts from."""

    epoch: int = 1  # the epoch under way, from 1
    batches_done: int = 0  # of this epoch's batches
    step: int = 0  # optimizer steps, over all epochs
    order_state: torch.Tensor | None = None  # the state of the batch order's generator when this epoch started
    losses: list[float] = field(default_factory=list)  # the training loss of every step
    history: list[dict] = field(default_factory=list)  # the learning curves (trainer_state.json)
    best: dict = field(default_factory=dict)  # the best epoch: score, epoch, step, scores, validation logits, weights
    stale: int = 0  # epochs since the best one (early stopping)
    train_seconds: float = 0.0  # of training, earlier attempts included
    finished: bool = False  # the last epoch is done, or early stopping ended the training


def random_states() -> dict:
    """Every random generator the loop may draw from (dropout draws from torch's)."""
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.random.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def save_checkpoint(out: Path, model, optimizer, scheduler, scaler, averaged, progress: Progress) -> Path:
    """checkpoint-<step>/ in `out`: the model, the optimizer, the schedule, the moving average, the random
    states and the progress, in one file (training_state.pt), and trainer_state.json.

    Whole or not at all: written under a hidden name, then renamed, and trainer_state.json last inside it
    (textclf/runs/progress.py resumes only from a checkpoint that has one). Only the newest checkpoint is kept.
    """
    folder = out / f"{CHECKPOINT_PREFIX}-{progress.step}"
    partial = out / f".{folder.name}.partial"
    for leftover in out.glob(f".{CHECKPOINT_PREFIX}-*.partial"):  # of a save that was interrupted
        shutil.rmtree(leftover)
    partial.mkdir(parents=True)
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
             "scaler": scaler.state_dict(), "averaged": None if averaged is None else averaged.state_dict(), "random": random_states(),
             "progress": vars(progress)}
    with full_disk_said(str(out)):  # torch.save says a full disk in other words
        torch.save(state, partial / TRAINING_STATE)
    write_json_atomically(partial / TRAINER_STATE, {"global_step": progress.step, "epoch": progress.epoch,
                                                    "log_history": progress.history})
    os.replace(partial, folder)
    for older in checkpoints(out):
        if older != folder:
            shutil.rmtree(older, ignore_errors=True)
    logger.info("Saved %s (epoch %d, step %d)", folder, progress.epoch, progress.step)
    return folder


def load_checkpoint(folder: Path, model, optimizer, scheduler, scaler, averaged) -> Progress:
    """Put the model, the optimizer, the schedule, the moving average and the random generators back as
    `save_checkpoint` found them; returns the progress it saved."""
    # Beside the tensors, numpy arrays: numpy's random state (transformers' safe_globals) and the validation logits.
    with safe_globals(), torch.serialization.safe_globals([type(np.dtype(np.float32))]):
        state = torch.load(folder / TRAINING_STATE, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    if averaged is not None:
        averaged.load_state_dict(state["averaged"])
    random.setstate(state["random"]["python"])
    np.random.set_state(state["random"]["numpy"])
    torch.random.set_rng_state(state["random"]["torch"])
    if state["random"]["cuda"]:
        torch.cuda.set_rng_state_all(state["random"]["cuda"])
    return Progress(**state["progress"])


def predict(model: DecoupledClassifier, batches, order: np.ndarray, half: torch.dtype | None) -> np.ndarray:
    """Logits of every row, back in file order (the batches read the rows longest first)."""
    model.eval()
    outputs = []
    with torch.inference_mode(), torch.autocast(model.device.type, dtype=half, enabled=half is not None):
        for batch in batches:
            batch.pop("labels", None)
            outputs.append(model(**{name: value.to(model.device) for name, value in batch.items()}).logits.float())
    return in_file_order(torch.cat(outputs).cpu().numpy(), order)


def main(argv: list[str] | None = None) -> None:
    started, argv = time.monotonic(), sys.argv[1:] if argv is None else argv
    args = parse_arguments(argv)
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", level=logging.INFO)
    set_seed(args.seed)  # python, numpy and torch: the same seed gives the same run
    source = resolve_model_name_or_path(args.model_name_or_path)  # a local folder whenever there is one
    if (source.is_local or not hub_model_needs_network(source, None, "main", "--model_name_or_path")) \
            and resolve_metric(args.metric_name)[1]:
        enable_offline_mode()  # nothing to download, so nothing reaches the network

    # The data (utils_data.py): tables, token ids, batches.
    tokenizer = AutoTokenizer.from_pretrained(source.path)
    max_length = min(args.max_seq_length, tokenizer.model_max_length)
    files = {"train": args.train_file, "validation": args.validation_file, "test": args.test_file}
    class_names = read_class_names(args.class_names)  # {"1": "disaster", ...}: the labels a person reads
    tables, data, text_columns, labels = load_data(
        files, tokenizer, args.text_column_names, args.label_column_name, max_length, args.truncation_tail_tokens,
        args.max_train_samples, args.max_eval_samples, args.seed, class_names)
    compute_metrics = make_compute_metrics(load_metric(args.metric_name, SINGLE_LABEL), SINGLE_LABEL, labels)
    precision = training_precision(args)
    # Mixed precision: matmuls in bf16 or fp16 where the hardware computes them fast, the weights kept in fp32.
    half = {BF16: torch.bfloat16, FP16: torch.float16}.get(precision)
    to_batch = collate(tokenizer, pad_to_multiple_of=8 if half else None)  # lengths in multiples of 8 suit half precision
    batches = train_batches(data["train"], args.per_device_train_batch_size, to_batch, args.seed,
                            args.train_sampling_strategy)
    validation, order = eval_batches(data["validation"], args.per_device_eval_batch_size, to_batch)
    truth = np.array(data["validation"][LABEL])

    # Where training starts, decided as for run_classification.py (textclf/runs/progress.py): from scratch, or from
    # the last checkpoint of an interrupted run with the same settings; --overwrite_output_dir starts over.
    out = Path(args.output_dir)
    resume = plan_training(out, training_settings(args, precision), args.overwrite_output_dir, None)
    begin_writing(out)  # a finished run that was there no longer counts as finished

    # The model (modeling.py) and its optimiser; the learning rate climbs over the warmup steps, then
    # falls linearly to 0 at the last step.
    weights = balanced_class_weights(data["train"][LABEL], len(labels)) if args.class_weights == "balanced" else None
    model = DecoupledClassifier.from_encoder(source.path, labels, args.pooling, args.dropout, weights)
    if args.freeze_lower_layers is not None:  # no gradients below the first trained layer: cheaper steps
        freeze_lower_layers(model.encoder, args.freeze_lower_layers)
    model.to(compute_device())  # a GPU where there is one (textclf.hardware)
    optimizer = model.configure_optimizer(args.learning_rate, args.weight_decay, args.layer_lr_decay,
                                          layer_depths(model.encoder), fused=args.optim == "adamw_torch_fused")
    # With --ema_decay, a copy of the model whose weights follow the trained ones slowly (each step moves
    # them 1 - ema_decay of the way): an average over the last 1 / (1 - ema_decay) steps, less noisy than
    # the weights of any one step. It is what gets scored and kept.
    averaged = None if args.ema_decay is None else AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(args.ema_decay))
    scheduler = get_linear_schedule_with_warmup(optimizer, args.warmup_steps, args.num_train_epochs * len(batches))
    # fp16 has too few exponent bits for small gradients: the loss is scaled up before the backward pass and the
    # gradients down again before the step (a step whose gradients overflowed is skipped). bf16 and fp32 need none.
    scaler = torch.amp.GradScaler(model.device.type, enabled=precision == FP16)
    logger.info("%d training rows, %d steps an epoch, in %s, on %s", len(batches.dataset), len(batches), precision,
                model.device)

    # The loop: a step per batch; after each epoch a validation score (--eval_strategy epoch; "no": only after
    # the last), and the best epoch's weights are kept. `progress` is all the loop has done: a checkpoint saves
    # it with the model, optimizer, schedule and random states, so that a resumed run goes on exactly as the
    # interrupted one would have.
    progress = Progress(order_state=batches.generator.get_state())
    if resume.checkpoint:
        progress = load_checkpoint(Path(resume.checkpoint), model, optimizer, scheduler, scaler, averaged)
        logger.info("Resumed from %s at step %d: epoch %d, %d of its %d batches done (training finished: %s)",
                    resume.checkpoint, progress.step, progress.epoch, progress.batches_done, len(batches),
                    progress.finished)
    save_by_clock = args.save_every_minutes is not None
    train_started, last_save = time.monotonic() - progress.train_seconds, time.monotonic()
    while not progress.finished:
        epoch = progress.epoch
        # The epoch's batch order is drawn from batches.generator, from the state the epoch started with: a run
        # resumed within the epoch draws the same order, and skips the batches already trained on.
        batches.generator.set_state(progress.order_state)
        model.train()
        remaining = itertools.islice(batches, progress.batches_done, None)
        for batch in (bar := tqdm(remaining, desc=f"epoch {epoch}", initial=progress.batches_done, total=len(batches),
                                  disable=None)):
            batch = {name: value.to(model.device) for name, value in batch.items()}
            with torch.autocast(model.device.type, dtype=half, enabled=half is not None):
                if args.rdrop_alpha > 0:  # the batch twice in one call: each copy gets its own dropout masks
                    labels_of_batch = batch.pop("labels")
                    logits = model(**{name: torch.cat([value, value]) for name, value in batch.items()}).logits
                    loss = r_drop_loss(logits, labels_of_batch, weights, args.rdrop_alpha)
                else:
                    loss = model(**batch).loss
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)  # the gradients as they are, for clipping
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.max_grad_norm)  # no step too large
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            if averaged is not None:
                averaged.update_parameters(model)
            progress.step += 1
            progress.batches_done += 1
            progress.losses.append(loss.item())
            bar.set_postfix(loss=f"{progress.losses[-1]:.4f}")
            if progress.step % args.logging_steps == 0:  # the training curve of the report
                progress.history.append({"loss": float(np.mean(progress.losses[-args.logging_steps:])), "epoch": epoch,
                                         "step": progress.step, "learning_rate": max(scheduler.get_last_lr())})  # the head's
            kill_point(f"train:step-{progress.step}")  # where the interruption tests kill it (textclf/faults.py)
            # A checkpoint every --save_every_minutes; not at an epoch's last step: its end comes next.
            if save_by_clock and time.monotonic() - last_save >= 60 * args.save_every_minutes \
                    and progress.batches_done < len(batches):
                progress.train_seconds = time.monotonic() - train_started
                save_checkpoint(out, model, optimizer, scheduler, scaler, averaged, progress)
                last_save = time.monotonic()
        if args.eval_strategy == "epoch" or epoch >= args.num_train_epochs:
            scored = model if averaged is None else averaged.module
            logits = predict(scored, validation, order, half)
            metrics = compute_metrics(EvalPrediction(logits, truth))
            scores = {f"eval_{name}": float(value) for name, value in metrics.items()}  # plain floats, for checkpoints
            scores["eval_loss"] = classification_loss(torch.from_numpy(logits), torch.from_numpy(truth), weights).item()
            progress.history.append({**scores, "epoch": epoch, "step": progress.step})
            logger.info("epoch %d: training loss %.4f, %s", epoch, np.mean(progress.losses[-len(batches):]),
                        ", ".join(f"{name} {value:.4f}" for name, value in scores.items()))
            score = next(iter(scores.values()))  # the metric asked for: with one label per text, higher is better
            if not progress.best or score > progress.best["score"]:
                progress.best = {"score": score, "epoch": epoch, "step": progress.step, "scores": scores,
                                 "logits": logits, "weights": copy.deepcopy(scored.state_dict())}
                progress.stale = 0
            else:
                progress.stale += 1
                if progress.stale >= args.early_stopping_patience:
                    logger.info("Early stopping: no better %s for %d epochs", args.metric_name, progress.stale)
                    progress.finished = True
        progress.epoch, progress.batches_done, progress.order_state = epoch + 1, 0, batches.generator.get_state()
        progress.finished = progress.finished or epoch >= args.num_train_epochs
        # At every epoch's end with --save_strategy epoch; and once training is over when saving by the clock,
        # so that a run interrupted while it predicts does not train again.
        if args.save_strategy == "epoch" or (save_by_clock and progress.finished):
            progress.train_seconds = time.monotonic() - train_started
            save_checkpoint(out, model, optimizer, scheduler, scaler, averaged, progress)
            last_save = time.monotonic()
    train_runtime, epochs, best = time.monotonic() - train_started, progress.epoch - 1, progress.best
    model.load_state_dict(best["weights"])
    logger.info("Best epoch: %d (%s %.4f)", best["epoch"], args.metric_name, best["score"])

    # The run folder, as run_classification.py leaves it (textclf/runs/folder.py names its files).
    model.save_pretrained(out)  # config.json, model.safetensors, and the copy of modeling.py it loads with
    tokenizer.save_pretrained(out)
    # Calibration, as run_classification.py does it (textclf/runs/calibration.py): measured on the validation
    # predictions (calibration.json, in the report), applied to the test predictions and by the demo and the
    # Predictor only with --calibrate_temperature / --tune_threshold.
    measured = measure_calibration(best["logits"], truth, labels, args.metric_name, args.seed,
                                   args.calibrate_temperature == "true", args.tune_threshold == "true")
    if measured is not None:
        write_calibration(out, measured)
    test_logits = None
    if "test" in data:
        test_logits = predict(model, *eval_batches(data["test"], args.per_device_eval_batch_size, to_batch), half)
    write_predictions(out, tables, data, model.config.id2label, best["logits"], test_logits,
                      Calibration() if measured is None else Calibration.applied_by(measured))
    write_json_atomically(out / ALL_RESULTS, {
        "epoch": epochs, "train_runtime": round(train_runtime, 3), "train_samples": len(data["train"]),
        "train_samples_per_second": round(len(data["train"]) * epochs / train_runtime, 3),
        "train_loss": float(np.mean(progress.losses)), **best["scores"], "eval_samples": len(truth)})
    write_json_atomically(out / TRAINER_STATE, {"log_history": progress.history, "global_step": progress.step,
                                                "best_global_step": best["step"]})
    # The hyperparameters: every flag but the files, the columns, the metric and the model (the report shows
    # those), and how the run was saved.
    settings = {name: value for name, value in vars(args).items()
                if not name.endswith(("_file", "_dir", "_name", "_names", "_path")) and name != "overwrite_output_dir"}
    info = RunInfo(
        model=source.display_name, model_path=source.path, parameters=model.num_parameters(), problem_type=SINGLE_LABEL,
        labels=labels, metric=args.metric_name, text_columns=text_columns, label_column=args.label_column_name or LABEL,
        data={split: {"file": files[split], "rows": len(data[split])} for split in data},
        hyperparameters=settings | precision_flags(precision) | {"max_seq_length": max_length, "best_epoch": best["epoch"],
                                    "optim": "adamw_torch_fused" if optimizer.defaults["fused"] else "adamw_torch"},
        device=str(model.device), wall_time_seconds=round(time.monotonic() - started, 1),
        command=shlex.join(["python", "decoupled/main.py", *argv]),
        class_names=class_names,  # submission.csv maps the names back to the data's values
        model_code=Path(inspect.getfile(DecoupledClassifier)).name,  # modeling.py: the model loads with its own code
        finished=False,  # the report reads it; the run counts as finished only once the report is written
        resumed_from=resume.description,  # the report says so
        script_settings=script_settings_from_environment(),  # the task script's, when one started the run
    )
    info.write(out)
    write_run_report(out)  # report.md, validation_metrics.json, confusion matrix, learning curves, submission.csv
    clean_up_finished(out, keep_checkpoints=False)  # checkpoints and progress.json: only an unfinished run needs them
    info.write_finished(out)  # last: the demo and the comparison serve only finished runs
    logger.info("Done: read %s", out / "report.md")


if __name__ == "__main__":
    sys.exit(exit_code_of(main))
