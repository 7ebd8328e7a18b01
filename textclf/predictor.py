"""Class probabilities from a finished run, fast on a CPU: the model behind the web demo.

Loaded once per run; texts are tokenized, sorted by length and batched with dynamic padding, so a
batch pads only to its own longest text (the same trick that makes training fast here).
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from textclf import UserInputError
from textclf.runs import MULTI_LABEL, REGRESSION, SINGLE_LABEL, read_run_info

logger = logging.getLogger(__name__)


def configure_torch_threads() -> None:
    """At most one intra-op thread per CPU this process may use, unless the user chose (OMP_NUM_THREADS).

    torch's default can count more cores than the process is allowed to run on (a restricted CPU
    set), and more threads than cores make every forward pass slower.
    """
    if os.environ.get("OMP_NUM_THREADS"):
        return
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if torch.get_num_threads() > available:
        torch.set_num_threads(available)


def quantize_linear_layers(model: torch.nn.Module) -> torch.nn.Module:
    """int8 weights for every nn.Linear, activations quantized on the fly (CPU inference only).

    torch marks torch.ao.quantization deprecated in favour of torchao, which is not a dependency
    here; the eager API still works, so its warnings are silenced rather than shown to every user.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"torch\.ao\.quantization is deprecated", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor", category=UserWarning)
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


class Predictor:
    """A run's model and tokenizer, ready to score texts."""

    def __init__(self, model, tokenizer, labels: list[str], task: str, model_name: str, max_length: int):
        self.model = model
        self.tokenizer = tokenizer
        self.labels = labels
        self.task = task
        self.model_name = model_name
        self.max_length = max_length
        # Concurrent callers (web users) take turns per batch: each forward pass already uses every
        # core, and two at once would only fight over them.
        self._lock = threading.Lock()

    @classmethod
    def from_run(cls, run_dir: str | Path, int8: bool = False) -> Predictor:
        """Load a run written by run_classification.py; `int8` quantizes its Linear layers."""
        run_dir = Path(run_dir)
        info = read_run_info(run_dir)
        task = info.get("task", SINGLE_LABEL)
        if task == REGRESSION:
            raise UserInputError(
                f"{run_dir}: a regression run predicts a score, not classes; serve a classification run"
            )
        configure_torch_threads()
        tokenizer = AutoTokenizer.from_pretrained(run_dir)
        model = AutoModelForSequenceClassification.from_pretrained(run_dir)
        model.eval()
        if int8:
            model = quantize_linear_layers(model)
        labels = [model.config.id2label[index] for index in range(model.config.num_labels)]
        max_length = min(
            info.get("hyperparameters", {}).get("max_seq_length") or tokenizer.model_max_length,
            tokenizer.model_max_length,
        )
        logger.info("Loaded %s (%s, %d labels, max %d tokens%s)", run_dir, info.get("model"), len(labels),
                    max_length, ", int8" if int8 else "")
        return cls(model, tokenizer, labels, task, info.get("model", str(run_dir)), max_length)

    def predict_proba(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Probabilities, one row per text in input order, one column per label.

        Texts longer than `max_length` tokens are truncated, not rejected.
        """
        probabilities = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        if not texts:
            return probabilities
        encoded = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)
        lengths = np.array([len(ids) for ids in encoded["input_ids"]])
        order = np.argsort(-lengths, kind="stable")
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            batch = self.tokenizer.pad(
                {key: [values[i] for i in rows] for key, values in encoded.items()}, return_tensors="pt"
            )
            with self._lock, torch.inference_mode():
                logits = self.model(**batch).logits.float()
            probabilities[rows] = self._to_probabilities(logits).numpy()
        return probabilities

    def predict_one(self, text: str) -> dict[str, float]:
        """{label: probability} for one text."""
        return dict(zip(self.labels, self.predict_proba([text])[0].tolist()))

    def _to_probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        if self.task == MULTI_LABEL:
            return torch.sigmoid(logits)
        return torch.softmax(logits, dim=-1)
