#!/usr/bin/env python
"""Step 3 of 3, the loop: fine-tune in plain PyTorch, score every epoch, keep the best epoch, predict
the test file, and leave a run folder the rest of the toolkit reads (report, web demo, Space).

    python decoupled/main.py --train_file data/tweets/train.csv --validation_file data/tweets/validation.csv \
      --test_file data/tweets/test.csv --label_column_name target --metric_name f1 --output_dir experiments/my-run

Flags are run_classification.py's where they mean the same; docs/decoupled.md walks through the three files.
"""

from __future__ import annotations

import argparse
import copy
import inspect
import logging
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from modeling import POOLINGS, DecoupledClassifier, balanced_class_weights, classification_loss, r_drop_loss
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm
from transformers import AutoTokenizer, EvalPrediction, get_linear_schedule_with_warmup, set_seed
from utils_data import collate, eval_batches, in_file_order, load_data, train_batches, write_predictions

from textclf import exit_code_of
from textclf.hardware import bf16_is_fast
from textclf.labels import LABEL, read_class_names
from textclf.metrics import load_metric, make_compute_metrics, resolve_metric
from textclf.offline import enable_offline_mode, hub_model_needs_network, resolve_model_name_or_path
from textclf.problem_types import SINGLE_LABEL
from textclf.report import write_run_report
from textclf.runs import ALL_RESULTS, TRAINER_STATE, RunInfo, write_json_atomically
from textclf.training import freeze_lower_layers, layer_depths

logger = logging.getLogger("decoupled")


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
    flag("--seed", type=int, default=42), flag("--output_dir", required=True)
    return parser.parse_args(argv)


def predict(model: DecoupledClassifier, batches, order: np.ndarray, bf16: bool) -> np.ndarray:
    """Logits of every row, back in file order (the batches read the rows longest first)."""
    model.eval()
    outputs = []
    with torch.inference_mode(), torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=bf16):
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
    bf16 = bf16_is_fast() if args.bf16 == "auto" else args.bf16 == "true"
    to_batch = collate(tokenizer, pad_to_multiple_of=8 if bf16 else None)  # lengths in multiples of 8 suit bf16
    batches = train_batches(data["train"], args.per_device_train_batch_size, to_batch, args.seed)
    validation, order = eval_batches(data["validation"], args.per_device_eval_batch_size, to_batch)
    truth = np.array(data["validation"][LABEL])

    # The model (modeling.py) and its optimiser; the learning rate climbs over the warmup steps, then
    # falls linearly to 0 at the last step.
    weights = balanced_class_weights(data["train"][LABEL], len(labels)) if args.class_weights == "balanced" else None
    model = DecoupledClassifier.from_encoder(source.path, labels, args.pooling, args.dropout, weights)
    if args.freeze_lower_layers is not None:  # no gradients below the first trained layer: cheaper steps
        freeze_lower_layers(model.encoder, args.freeze_lower_layers)
    model.to("cuda" if torch.cuda.is_available() else "cpu")
    optimizer = model.configure_optimizer(args.learning_rate, args.weight_decay, args.layer_lr_decay,
                                          layer_depths(model.encoder))
    # With --ema_decay, a copy of the model whose weights follow the trained ones slowly (each step moves
    # them 1 - ema_decay of the way): an average over the last 1 / (1 - ema_decay) steps, less noisy than
    # the weights of any one step. It is what gets scored and kept.
    averaged = None if args.ema_decay is None else AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(args.ema_decay))
    scheduler = get_linear_schedule_with_warmup(optimizer, args.warmup_steps, args.num_train_epochs * len(batches))
    logger.info("%d training rows, %d steps an epoch, bf16 %s, on %s", len(batches.dataset), len(batches), bf16,
                model.device)

    # The loop: a step per batch, a validation score per epoch; the best epoch's weights are kept.
    history, losses, best, step, stale = [], [], {"score": -np.inf}, 0, 0
    train_started = time.monotonic()
    for epoch in range(1, args.num_train_epochs + 1):
        model.train()
        for batch in (progress := tqdm(batches, desc=f"epoch {epoch}", disable=None)):
            batch = {name: value.to(model.device) for name, value in batch.items()}
            with torch.autocast(model.device.type, dtype=torch.bfloat16, enabled=bf16):  # bf16 matmuls where fast
                if args.rdrop_alpha > 0:  # the batch twice in one call: each copy gets its own dropout masks
                    labels_of_batch = batch.pop("labels")
                    logits = model(**{name: torch.cat([value, value]) for name, value in batch.items()}).logits
                    loss = r_drop_loss(logits, labels_of_batch, weights, args.rdrop_alpha)
                else:
                    loss = model(**batch).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.max_grad_norm)  # no step too large
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            if averaged is not None:
                averaged.update_parameters(model)
            step += 1
            losses.append(loss.item())
            progress.set_postfix(loss=f"{losses[-1]:.4f}")
            if step % args.logging_steps == 0:  # the training curve of the report
                history.append({"loss": float(np.mean(losses[-args.logging_steps:])), "epoch": epoch, "step": step,
                                "learning_rate": max(scheduler.get_last_lr())})  # the head's
        scored = model if averaged is None else averaged.module
        logits = predict(scored, validation, order, bf16)
        scores = {f"eval_{name}": value for name, value in compute_metrics(EvalPrediction(logits, truth)).items()}
        scores["eval_loss"] = classification_loss(torch.from_numpy(logits), torch.from_numpy(truth), weights).item()
        history.append({**scores, "epoch": epoch, "step": step})
        logger.info("epoch %d: training loss %.4f, %s", epoch, np.mean(losses[-len(batches):]),
                    ", ".join(f"{name} {value:.4f}" for name, value in scores.items()))
        score = next(iter(scores.values()))  # the metric asked for: with one label per text, higher is better
        if score > best["score"]:
            best, stale = {"score": score, "epoch": epoch, "step": step, "scores": scores, "logits": logits,
                           "weights": copy.deepcopy(scored.state_dict())}, 0
        elif (stale := stale + 1) >= args.early_stopping_patience:
            logger.info("Early stopping: no better %s for %d epochs", args.metric_name, stale)
            break
    train_runtime = time.monotonic() - train_started
    model.load_state_dict(best["weights"])
    logger.info("Best epoch: %d (%s %.4f)", best["epoch"], args.metric_name, best["score"])

    # The run folder, as run_classification.py leaves it (textclf/runs.py names its files).
    out = Path(args.output_dir)
    model.save_pretrained(out)  # config.json, model.safetensors, and the copy of modeling.py it loads with
    tokenizer.save_pretrained(out)
    test_logits = None
    if "test" in data:
        test_logits = predict(model, *eval_batches(data["test"], args.per_device_eval_batch_size, to_batch), bf16)
    write_predictions(out, tables, data, model.config.id2label, best["logits"], test_logits)
    write_json_atomically(out / ALL_RESULTS, {
        "epoch": epoch, "train_runtime": round(train_runtime, 3), "train_samples": len(data["train"]),
        "train_samples_per_second": round(len(data["train"]) * epoch / train_runtime, 3),
        "train_loss": float(np.mean(losses)), **best["scores"], "eval_samples": len(truth)})
    write_json_atomically(out / TRAINER_STATE, {"log_history": history, "global_step": step,
                                                "best_global_step": best["step"]})
    # The hyperparameters: every flag but the files, the columns, the metric and the model (the report shows those).
    settings = {name: value for name, value in vars(args).items()
                if not name.endswith(("_file", "_dir", "_name", "_names", "_path"))}
    info = RunInfo(
        model=source.display_name, model_path=source.path, parameters=model.num_parameters(), task=SINGLE_LABEL,
        labels=labels, metric=args.metric_name, text_columns=text_columns, label_column=args.label_column_name or LABEL,
        data={split: {"file": files[split], "rows": len(data[split])} for split in data},
        hyperparameters=settings | {"max_seq_length": max_length, "bf16": bf16, "best_epoch": best["epoch"],
                                    "optim": "adamw_torch_fused" if optimizer.defaults["fused"] else "adamw_torch"},
        device=str(model.device), wall_time_seconds=round(time.monotonic() - started, 1),
        command=shlex.join(["python", "decoupled/main.py", *argv]),
        class_names=class_names,  # submission.csv maps the names back to the data's values
        model_code=Path(inspect.getfile(DecoupledClassifier)).name,  # modeling.py: the model loads with its own code
        finished=False,  # the report reads it; the run counts as finished only once the report is written
    )
    info.write(out)
    write_run_report(out)  # report.md, validation_metrics.json, confusion matrix, learning curves, submission.csv
    info.write_finished(out)  # last: the demo and the comparison serve only finished runs
    logger.info("Done: read %s", out / "report.md")


if __name__ == "__main__":
    sys.exit(exit_code_of(main))
