"""The Trainer as run_classification.py uses it: predictions in data order, rows read longest first.

With dynamic padding a batch pads to its longest row, so rows sorted by length barely pad; that makes
evaluation and prediction on long, varied texts (IMDB reviews) much faster. The results go back to
data order, so every prediction file pairs each row with its own prediction.
"""

from __future__ import annotations

import datasets
import numpy as np
import torch
from torch.utils.data import SequentialSampler
from transformers import PreTrainedModel, Trainer
from transformers.trainer_utils import PredictionOutput, has_length

from textclf import UserInputError
from textclf.problem_types import logits_of


class InOrderEvaluationTrainer(Trainer):
    """A Trainer whose evaluation and prediction read the rows in data order.

    Since transformers PR #33514, `--train_sampling_strategy group_by_length` (upstream's
    `--group_by_length`, which our scripts use) also groups evaluation rows by length, in a seeded random
    order, and `trainer.predict` returns its predictions in that order: eval_predictions.csv,
    predictions.csv, predict_results.txt and Kaggle's submission.csv paired each row with another
    row's prediction. Metrics were right (labels and predictions were shuffled together).
    Sorting by length, which is what made it fast, is done before: see `length_order`.
    """

    def _get_eval_sampler(self, eval_dataset):
        if self.args.train_sampling_strategy != "group_by_length" or eval_dataset is None or not has_length(eval_dataset):
            return super()._get_eval_sampler(eval_dataset)
        return SequentialSampler(eval_dataset) if self.args.world_size <= 1 else None  # as for the other strategies


def leave_process_group() -> None:
    """End a distributed run's process group, if any, before the process exits.

    A process that exits with its Gloo process group alive can abort in the interpreter's teardown
    ("terminate called without an active exception", SIGABRT) after all its work is done, failing the
    run (pytorch/pytorch#190489); transformers' Trainer leaves the group to its user. Call it once the
    process needs no more collectives: leaving is local, so a process that finishes first does not wait.
    """
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def logits_only(outputs: torch.Tensor | tuple[torch.Tensor, ...], labels: torch.Tensor | None) -> torch.Tensor:
    """Trainer's `preprocess_logits_for_metrics`: keep each evaluation batch's logits, drop the other outputs.

    T5ForSequenceClassification also returns the encoder's hidden states (rows x tokens x hidden),
    which the Trainer would otherwise gather for every row: gigabytes for a test set, to be thrown away.
    """
    return logits_of(outputs)


def length_order(dataset: datasets.Dataset) -> np.ndarray:
    """Row indices, longest first (stable among equal lengths)."""
    return np.argsort([len(ids) for ids in dataset["input_ids"]], kind="stable")[::-1]


def predict_in_length_order(trainer: Trainer, dataset: datasets.Dataset, metric_key_prefix: str) -> PredictionOutput:
    """trainer.predict on the rows sorted by length, results back in data order.

    With dynamic padding a batch pads to its longest row; sorted rows barely pad, which makes
    prediction on long, varied texts (IMDB reviews) much faster. Metrics do not depend on order.
    """
    order = length_order(dataset)
    output = trainer.predict(dataset.select(order), metric_key_prefix=metric_key_prefix)
    data_order = np.empty_like(order)
    data_order[order] = np.arange(len(order))
    label_ids = None if output.label_ids is None else output.label_ids[data_order]
    return PredictionOutput(logits_of(output.predictions)[data_order], label_ids, output.metrics)


def first_rows(dataset: datasets.Dataset, limit: int | None) -> datasets.Dataset:
    """`--max_*_samples`: the first `limit` rows."""
    return dataset if limit is None else dataset.select(range(min(limit, len(dataset))))


# Embedding-side modules some architectures keep outside `embeddings`, which feed every layer: left
# trainable, their gradient runs back down through every frozen layer (MPNet trained at the speed of
# no freezing). Paths from the base model; tests/test_architectures.py checks that no gradient flows.
FEEDS_THE_LAYERS = {
    "electra": ("embeddings_project",),  # small embeddings projected up to the hidden size
    "mpnet": ("encoder.relative_attention_bias",),  # one relative-position bias for every layer's attention
    "deberta-v2": ("encoder.rel_embeddings", "encoder.LayerNorm"),  # relative-position embeddings, their norm
}


def layer_stack(model: PreTrainedModel) -> torch.nn.ModuleList | None:
    """The encoder's transformer layers, lowest first, whatever the architecture calls them; None where
    its layers share one set of weights (ALBERT)."""
    count = model.config.num_hidden_layers
    stacks = [module for module in model.base_model.modules() if isinstance(module, torch.nn.ModuleList) and len(module) == count]
    return stacks[0] if stacks else None  # the encoder's stack comes first (T5 also has a decoder's)


def layer_depths(model: PreTrainedModel) -> dict[int, int]:
    """How many layers below the top each parameter sits, by id(parameter): 1 in the top layer, 2 in
    the one below, ..., the number of layers + 1 in the embeddings (with what FEEDS_THE_LAYERS); what
    sits above the layers (pooler, head) is not listed. For layer-wise learning-rate decay."""
    stack = layer_stack(model)
    layers = [] if stack is None else list(stack)  # ALBERT's one shared layer: no depth to decay by
    depth = {id(parameter): len(layers) + 1 for module in embedding_modules(model) for parameter in module.parameters()}
    for index, layer in enumerate(layers):
        depth |= {id(parameter): len(layers) - index for parameter in layer.parameters()}
    return depth


def embedding_modules(model: PreTrainedModel) -> list[torch.nn.Module]:
    """The modules below the first layer: the embeddings and what FEEDS_THE_LAYERS in this architecture."""
    base = model.base_model
    modules: list[torch.nn.Module] = [model.get_input_embeddings()]
    if isinstance(getattr(base, "embeddings", None), torch.nn.Module):
        modules.append(base.embeddings)  # positions, token types, their LayerNorm
    for path in FEEDS_THE_LAYERS.get(model.config.model_type, ()):
        try:
            modules.append(base.get_submodule(path))
        except AttributeError:  # not in this configuration (ELECTRA's embeddings as wide as its layers)
            pass
    return modules


def freeze_lower_layers(model: PreTrainedModel, layers: int) -> int:
    """`--freeze_lower_layers`: freeze the embeddings and the lowest `layers` transformer layers.

    Backpropagation then stops at the first trainable layer: a frozen layer needs neither its weight
    gradients nor the gradients of its input, about two thirds of its training cost, and the optimizer
    skips its parameters. Returns the number of parameters frozen.
    """
    frozen = embedding_modules(model)
    if layers > 0:
        stack = layer_stack(model)
        if stack is None:
            raise UserInputError(
                f"--freeze_lower_layers {layers}: no stack of {model.config.num_hidden_layers} layers found in this "
                f"{model.config.model_type} model (its layers may share weights); 0 freezes only the embeddings"
            )
        if layers > len(stack):
            raise UserInputError(f"--freeze_lower_layers {layers}: the model has {len(stack)} layers")
        frozen.extend(stack[:layers])  # lowest first
    parameters = {id(parameter): parameter for module in frozen for parameter in module.parameters()}
    for parameter in parameters.values():
        parameter.requires_grad_(False)
    return sum(parameter.numel() for parameter in parameters.values())
