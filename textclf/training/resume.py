"""The Trainer's side of interrupted runs: checkpoints by the clock, evaluation and prediction in chunks.

A laptop lid closed, Ctrl-C or the out-of-memory killer must not cost the whole run. Training saves a
checkpoint every few minutes of wall time (`--save_every_minutes`, whatever the step time of the model
and data), and evaluation and prediction save their logits a chunk of rows at a time
(`--prediction_chunk_rows`): the same command, run again, continues from both (where to start:
textclf/runs/progress.py). The arguments are upstream's TrainingArguments plus these, and
`--overwrite_output_dir`, which transformers 5 removed and whose 4.x meaning is back.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import numpy as np
from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_utils import EvalPrediction, PredictionOutput, denumpify_detensorize

from textclf import is_disk_full
from textclf.faults import KILL_AT, kill_point
from textclf.runs.folder import CHECKPOINT_PREFIX, PREDICTION_CHUNKS, TRANSFORMER_WEIGHT_FILES, write_json_atomically
from textclf.training.trainer import InOrderEvaluationTrainer, length_order, predict_in_length_order

logger = logging.getLogger(__name__)

CHUNK_SIGNATURE = "signature.json"  # which model, rows and chunk size a folder of chunks belongs to
EPOCH_START_RNG = "epoch_start_rng_state.pth"  # in each checkpoint: see SameOrderOnResume
# Free space under which a failed write is taken for a full disk (torch.save does not say why it failed).
NEARLY_FULL_BYTES = 1 << 20


@dataclass
class ResumableTrainingArguments(TrainingArguments):
    """TrainingArguments with what run_classification.py needs to continue an interrupted run."""

    overwrite_output_dir: bool = field(
        default=False,
        metadata={
            "help": (
                "Overwrite the content of the output directory: train from scratch rather than resume from its last "
                "checkpoint (transformers 4.x's meaning). Without it, --do_train resumes an interrupted run found in "
                "--output_dir, and refuses a --output_dir that is not empty and holds nothing to resume."
            )
        },
    )
    save_every_minutes: float | None = field(
        default=None,
        metadata={
            "help": (
                "Not upstream. Also save a checkpoint after every N minutes of training (wall time), so that an "
                "interrupted run loses at most that much; with --save_total_limit 1 only the last one is kept. The "
                "task scripts use 5."
            )
        },
    )
    keep_checkpoints: bool = field(
        default=False,
        metadata={"help": "Not upstream. Keep the checkpoint-* folders when the run finishes (by default they are "
                          "deleted then: the final model is saved in --output_dir)."},
    )
    prediction_chunk_rows: int = field(
        default=1024,
        metadata={
            "help": (
                "Not upstream. Evaluation and prediction save their results every N rows (under "
                f"--output_dir/{PREDICTION_CHUNKS}, removed when the run finishes), so that an interrupted run "
                "continues where it stopped."
            )
        },
    )


@contextmanager
def full_disk_said(directory: str) -> Iterator[None]:
    """Make a full disk under `directory` an OSError(ENOSPC), which the entry points report in one line.

    torch.save, which writes the optimizer into a checkpoint, fails on a full disk with a bare
    RuntimeError ("unexpected pos ..."); the free space left tells what happened.
    """
    try:
        yield
    except RuntimeError as error:
        if is_disk_full(error) or shutil.disk_usage(directory).free < NEARLY_FULL_BYTES:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), directory) from error
        raise


class ResumableTrainer(InOrderEvaluationTrainer):
    """The Trainer of run_classification.py, whose saves report a full disk as such."""

    def _save_checkpoint(self, model, trial) -> None:
        with full_disk_said(self.args.output_dir):
            super()._save_checkpoint(model, trial)

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        with full_disk_said(output_dir or self.args.output_dir):
            super().save_model(output_dir, _internal_call)


class SaveEveryMinutes(TrainerCallback):
    """Ask the Trainer for a checkpoint once `minutes` of training have passed since the last one.

    Not at the last step of an epoch: the evaluation that follows it draws random numbers, which a
    run resumed from there would not, so the next step saves instead (see SameOrderOnResume).
    """

    def __init__(self, minutes: float):
        self.seconds = minutes * 60
        self.last_save = time.monotonic()

    def on_train_begin(self, args, state, control, **kwargs):
        self.last_save = time.monotonic()

    def on_save(self, args, state, control, **kwargs):
        self.last_save = time.monotonic()  # a checkpoint of any strategy restarts the clock

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= state.max_steps or state.epoch == int(state.epoch):
            return control  # the final model is saved anyway; an epoch's end waits for the next step
        if all_processes_agree(time.monotonic() - self.last_save >= self.seconds, args):
            control.should_save = True
        return control


class SameOrderOnResume(TrainerCallback):
    """A resumed run reads the rest of its epoch in the order the interrupted run would have.

    Length-grouped batches (the scripts' --train_sampling_strategy group_by_length) are drawn from
    the global torch generator when an epoch starts; the Trainer restores that generator only at
    the checkpoint's step, so a run resumed in the middle of an epoch would skip the right number
    of batches of a different order. Each checkpoint therefore also keeps the generator's state at
    the start of its epoch, and the resumed run starts that epoch from it.
    """

    def __init__(self, resume_from_checkpoint: str | None):
        self.resume_from_checkpoint = resume_from_checkpoint
        self.epoch_start_state = None

    def state_file(self, checkpoint: Path, args: TrainingArguments) -> Path:
        return Path(checkpoint) / (EPOCH_START_RNG if args.world_size <= 1 else f"{EPOCH_START_RNG}.{args.process_index}")

    def on_epoch_begin(self, args, state, control, **kwargs):
        import torch

        if self.resume_from_checkpoint is not None:
            saved = self.state_file(Path(self.resume_from_checkpoint), args)
            if saved.is_file():
                torch.random.set_rng_state(torch.load(saved, weights_only=True))
            else:
                logger.info("%s has no %s: the rest of its epoch is read in another order", self.resume_from_checkpoint, saved.name)
            self.resume_from_checkpoint = None
        self.epoch_start_state = torch.random.get_rng_state()

    def on_save(self, args, state, control, **kwargs):
        import torch

        checkpoint = Path(args.output_dir) / f"{CHECKPOINT_PREFIX}-{state.global_step}"
        if self.epoch_start_state is not None and checkpoint.is_dir():
            torch.save(self.epoch_start_state, self.state_file(checkpoint, args))


def all_processes_agree(due: bool, args: TrainingArguments) -> bool:
    """One decision for every process of a distributed run (their clocks differ): saving is collective."""
    if args.world_size <= 1:
        return due
    import torch
    import torch.distributed

    flag = torch.tensor([int(due)], device=args.device)
    torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
    return bool(flag.item())


class KillAtStep(TrainerCallback):
    """The interruption tests' kill points inside training: `train:step-<n>` (textclf/faults.py)."""

    def on_step_end(self, args, state, control, **kwargs):
        kill_point(f"train:step-{state.global_step}")


def resume_callbacks(args: ResumableTrainingArguments, resume_from_checkpoint: str | None) -> list[TrainerCallback]:
    callbacks: list[TrainerCallback] = [SameOrderOnResume(resume_from_checkpoint)]
    if args.save_every_minutes is not None:
        callbacks.append(SaveEveryMinutes(args.save_every_minutes))
    if KILL_AT in os.environ:
        callbacks.append(KillAtStep())
    return callbacks


# --------------------------------------------------------------------------- prediction in chunks


def model_identity(model_dir: str) -> str:
    """The saved weights a model was loaded from (path, size, modification time), or its name."""
    for name in TRANSFORMER_WEIGHT_FILES:
        path = Path(model_dir) / name
        if path.is_file():
            stat = path.stat()
            return f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    return str(model_dir)


def rows_digest(dataset: datasets.Dataset, order: np.ndarray) -> str:
    """A digest of the tokenized rows (and labels) in prediction order: the same data, cut the same way."""
    digest = hashlib.sha256()
    columns = [name for name in ("input_ids", "label") if name in dataset.column_names]
    for name in columns:
        values = dataset[name]
        for index in order:
            digest.update(repr(values[index]).encode())
    return digest.hexdigest()


@dataclass
class Chunk:
    predictions: np.ndarray
    label_ids: np.ndarray | None
    metrics: dict


def save_chunk(path: Path, chunk: Chunk) -> None:
    """Write a chunk so that a reader never finds half of it: a temporary file, then a rename."""
    partial = path.with_name(path.name + ".partial")
    arrays = {"predictions": chunk.predictions, "metrics": np.array(json.dumps(chunk.metrics))}
    if chunk.label_ids is not None:
        arrays["label_ids"] = chunk.label_ids
    try:
        with open(partial, "wb") as file:
            np.savez(file, **arrays)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def load_chunk(path: Path) -> Chunk:
    with np.load(path) as arrays:
        label_ids = arrays["label_ids"] if "label_ids" in arrays.files else None
        return Chunk(arrays["predictions"], label_ids, json.loads(str(arrays["metrics"])))


def saved_chunks(folder: Path, signature: dict, is_main_process: bool) -> set[Path]:
    """The chunks an interrupted run saved for the same model and rows; other runs' chunks are removed."""
    try:
        matches = json.loads((folder / CHUNK_SIGNATURE).read_text(encoding="utf-8")) == signature
    except (OSError, ValueError):
        matches = False
    if matches:
        return {path for path in folder.glob("chunk-*.npz")}
    if is_main_process:
        if folder.exists():
            logger.info("%s: predictions of another model, data or chunk size; predicting again", folder)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        write_json_atomically(folder / CHUNK_SIGNATURE, signature)
    return set()


def combined_metrics(trainer: Trainer, chunks: list[Chunk], predictions: np.ndarray, label_ids: np.ndarray | None,
                     prefix: str) -> dict:
    """The metrics trainer.predict gives for the whole split, from its chunks."""
    rows = len(predictions)
    metrics: dict = {}
    losses = [(chunk.metrics[f"{prefix}_loss"], len(chunk.predictions)) for chunk in chunks if f"{prefix}_loss" in chunk.metrics]
    if losses and len(losses) == len(chunks):
        metrics[f"{prefix}_loss"] = sum(loss * count for loss, count in losses) / rows
    if trainer.compute_metrics is not None and label_ids is not None:
        scores = denumpify_detensorize(trainer.compute_metrics(EvalPrediction(predictions=predictions, label_ids=label_ids)))
        metrics |= {name if name.startswith(f"{prefix}_") else f"{prefix}_{name}": value for name, value in scores.items()}
    runtime = sum(chunk.metrics.get(f"{prefix}_runtime", 0.0) for chunk in chunks)  # earlier attempts' too
    steps = sum(math.ceil(len(chunk.predictions) / (trainer.args.eval_batch_size * trainer.args.world_size)) for chunk in chunks)
    metrics[f"{prefix}_runtime"] = round(runtime, 4)
    if runtime > 0:
        metrics[f"{prefix}_samples_per_second"] = round(rows / runtime, 3)
        metrics[f"{prefix}_steps_per_second"] = round(steps / runtime, 3)
    return metrics


def predict_in_chunks(trainer: Trainer, dataset: datasets.Dataset, metric_key_prefix: str, output_dir: str,
                      chunk_rows: int, model_dir: str) -> PredictionOutput:
    """`predict_in_length_order`, a chunk of rows at a time, each chunk's results saved as it finishes.

    The rows are sorted longest first over the whole split, as in one call, and cut into chunks of
    `chunk_rows` (rounded up to whole batches, so batches are the same as in one call). A chunk that
    an interrupted run saved for the same model (`model_dir`'s weights) and the same rows is read back
    instead of predicted again. Results come back in data order, with the metrics of the whole split.
    """
    if len(dataset) == 0:
        return predict_in_length_order(trainer, dataset, metric_key_prefix)
    batch = trainer.args.eval_batch_size * trainer.args.world_size
    chunk_rows = max(batch, math.ceil(chunk_rows / batch) * batch)
    order = length_order(dataset)
    folder = Path(output_dir) / PREDICTION_CHUNKS / metric_key_prefix
    signature = {"rows": len(dataset), "chunk_rows": chunk_rows, "model": model_identity(model_dir),
                 "inputs": rows_digest(dataset, order)}
    saved = saved_chunks(folder, signature, trainer.is_world_process_zero())
    starts = range(0, len(order), chunk_rows)
    paths = [folder / f"chunk-{index:05d}.npz" for index in range(len(starts))]
    if saved:
        logger.info("%s: reusing %d of %d chunks (%d rows each) saved before the interruption",
                    metric_key_prefix, len(saved & set(paths)), len(paths), chunk_rows)
    chunks = []
    for index, (start, path) in enumerate(zip(starts, paths)):
        if path in saved:
            chunks.append(load_chunk(path))
            continue
        output = predict_in_length_order(trainer, dataset.select(order[start:start + chunk_rows]), metric_key_prefix)
        chunk = Chunk(output.predictions, output.label_ids, output.metrics)
        if trainer.is_world_process_zero():
            save_chunk(path, chunk)
        chunks.append(chunk)
        kill_point(f"predict:{metric_key_prefix}-chunk-{index}")
    in_length_order = np.concatenate([chunk.predictions for chunk in chunks])
    labels_in_length_order = None if chunks[0].label_ids is None else np.concatenate([chunk.label_ids for chunk in chunks])
    data_order = np.empty_like(order)
    data_order[order] = np.arange(len(order))
    predictions = in_length_order[data_order]
    label_ids = None if labels_in_length_order is None else labels_in_length_order[data_order]
    return PredictionOutput(predictions, label_ids, combined_metrics(trainer, chunks, predictions, label_ids, metric_key_prefix))
