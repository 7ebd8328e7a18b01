"""Step 2 of 3, the model: a pretrained encoder with a classification head written out.

    encoder (AutoModel) -> one vector per text (pooling) -> dropout -> linear -> one score per class

The encoder turns each token into a vector; the head is the part we add and train from scratch.
To change the model structure (another pooling, a hidden layer, a different loss), edit this file
and nothing else: main.py builds the model with `DecoupledClassifier.from_encoder` and calls it
with a batch, the rest of the toolkit loads it back from the run folder.

Why the two transformers base classes (PreTrainedConfig, PreTrainedModel) around a plain nn.Module:
`save_pretrained` then writes config.json, model.safetensors and a copy of this file into the run,
so the web demo, the Predictor (PyTorch and ONNX) and a Hugging Face Space load the run with
`AutoModelForSequenceClassification.from_pretrained(run, trust_remote_code=True)`, offline.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedConfig, PreTrainedModel
from transformers.configuration_utils import SubConfigSpec
from transformers.modeling_outputs import SequenceClassifierOutput

POOLINGS = ("cls", "mean")
OPTIMIZERS = ("adamw_torch", "adamw_torch_fused")  # --optim: AdamW, plain or fused (configure_optimizer)


class DecoupledConfig(PreTrainedConfig):
    """What it takes to rebuild the model: the encoder's own config and the head's settings."""

    model_type = "decoupled_classifier"
    sub_configs_defaults = {"encoder": SubConfigSpec(config_class=AutoConfig, model_type="bert")}

    encoder: PreTrainedConfig | dict | None = None  # the pretrained encoder's config (BERT, MPNet, ...)
    pooling: str = "cls"  # "cls": the first token's vector; "mean": the average of the text's tokens
    dropout: float = 0.1  # on the pooled vector, in training only
    class_weights: list[float] | None = None  # one per class, for the loss; None: every class counts the same


class DecoupledClassifier(PreTrainedModel):
    config_class = DecoupledConfig
    _supports_sdpa = True  # the encoder's fast attention; the head does not care

    def __init__(self, config: DecoupledConfig):
        super().__init__(config)
        self.encoder = AutoModel.from_config(config.encoder)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.encoder.hidden_size, config.num_labels)
        # A student's new layer goes here, e.g. self.hidden = nn.Linear(size, size), and into forward().
        self.post_init()  # random weights for the head (normal, std 0.02), as transformers' heads start

    @classmethod
    def from_encoder(cls, path: str, labels: list[str], pooling: str = "cls", dropout: float = 0.1,
                     class_weights: list[float] | None = None) -> DecoupledClassifier:
        """The pretrained encoder at `path` with a new head for `labels` (class names in id order)."""
        encoder = AutoModel.from_pretrained(path)
        config = DecoupledConfig(
            encoder=encoder.config.to_dict(), pooling=pooling, dropout=dropout, class_weights=class_weights,
            id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)},
        )
        model = cls(config)
        model.encoder = encoder  # keep the pretrained weights; only the head starts from scratch
        return model

    def configure_optimizer(self, learning_rate: float, weight_decay: float, layer_decay: float = 1.0,
                            depth: dict[int, int] | None = None, fused: bool = True) -> torch.optim.AdamW:
        """AdamW; weight decay on the weight matrices only (not on biases and LayerNorm), as the Trainer does.

        fused (--optim adamw_torch_fused): one kernel updates every parameter, where the device and dtype
        have it (else the plain loop, --optim adamw_torch); `optimizer.defaults["fused"]` says which ran.

        layer_decay < 1 (layer-wise learning-rate decay): a parameter `depth[id(parameter)]` layers below
        the head learns at learning_rate x layer_decay ** depth (main.py passes textclf.training.trainer.layer_depths:
        1 for the top layer, the embeddings deepest). The lower layers hold the general knowledge of
        language, which fine-tuning should move least.
        """
        groups: dict[tuple[float, float], list[nn.Parameter]] = {}
        for parameter in self.parameters():
            if parameter.requires_grad:
                rate = learning_rate * layer_decay ** (depth or {}).get(id(parameter), 0)
                decay = weight_decay if parameter.ndim >= 2 else 0.0
                groups.setdefault((rate, decay), []).append(parameter)
        param_groups = [{"params": params, "lr": rate, "weight_decay": decay} for (rate, decay), params in groups.items()]
        if fused:
            try:  # fused: one kernel updates every parameter (13 ms a step here instead of 72, bench/RESULTS.md)
                return torch.optim.AdamW(param_groups, lr=learning_rate, fused=True)
            except RuntimeError:  # a device or dtype without the fused kernel
                pass
        return torch.optim.AdamW(param_groups, lr=learning_rate)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None,
                labels: torch.Tensor | None = None) -> SequenceClassifierOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:  # BERT has them, MPNet and RoBERTa do not
            inputs["token_type_ids"] = token_type_ids
        tokens = self.encoder(**inputs).last_hidden_state  # (batch, length, hidden)
        logits = self.classifier(self.dropout(pool(tokens, attention_mask, self.config.pooling)))
        loss = None if labels is None else classification_loss(logits, labels, self.config.class_weights)
        return SequenceClassifierOutput(loss=loss, logits=logits)


def pool(tokens: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """One vector per text from its token vectors."""
    if pooling == "mean":
        # Padding tokens are not part of the text: average over the real ones only.
        mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
        return (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
    if pooling == "cls":
        # BERT-style encoders put a [CLS] token first; fine-tuning teaches it to summarise the text.
        return tokens[:, 0]
    raise ValueError(f"unknown pooling {pooling!r}; choose one of {POOLINGS}")


def classification_loss(logits: torch.Tensor, labels: torch.Tensor, class_weights: list[float] | None) -> torch.Tensor:
    """Cross-entropy: minus the log of the probability given to the right class, averaged over the batch.

    With class weights each row counts as much as its class's weight (the average is weighted too),
    so mistakes on a rare class cost more. Computed in float32 even under bf16 autocast.
    """
    weight = None if class_weights is None else torch.tensor(class_weights, device=logits.device)
    return nn.functional.cross_entropy(logits.float(), labels, weight=weight)


def r_drop_loss(logits: torch.Tensor, labels: torch.Tensor, class_weights: list[float] | None,
                alpha: float) -> torch.Tensor:
    """R-Drop (Liang et al., 2021): `logits` holds the batch twice, each copy through its own dropout
    masks (the first half, then the second). The cross-entropy of both, plus alpha x the symmetric KL
    divergence between their predicted distributions: the model is pushed to predict the same
    whatever dropout removed, a regulariser for small training sets."""
    first, second = logits.float().chunk(2)
    cross_entropy = (classification_loss(first, labels, class_weights)
                     + classification_loss(second, labels, class_weights)) / 2
    log_p, log_q = first.log_softmax(dim=-1), second.log_softmax(dim=-1)
    kl = nn.functional.kl_div
    symmetric_kl = (kl(log_q, log_p, log_target=True, reduction="batchmean")
                    + kl(log_p, log_q, log_target=True, reduction="batchmean")) / 2
    return cross_entropy + alpha * symmetric_kl


def balanced_class_weights(label_ids: list[int], num_classes: int) -> list[float]:
    """rows / (classes x rows of the class): scikit-learn's "balanced" weights; a class with half the
    average number of rows weighs 2. A class missing from training gets the weight of a single row."""
    counts = np.bincount(label_ids, minlength=num_classes)
    return (len(label_ids) / (num_classes * np.maximum(counts, 1))).tolist()


# save_pretrained copies this file into the run folder and names these classes in config.json's
# auto_map: what lets AutoModelForSequenceClassification load the run (with trust_remote_code=True).
DecoupledConfig.register_for_auto_class()
DecoupledClassifier.register_for_auto_class("AutoModelForSequenceClassification")
