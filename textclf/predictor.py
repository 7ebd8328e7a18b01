"""Class probabilities from a finished run, fast on a CPU: the model behind the web demo.

Loaded once per run; texts are tokenized, sorted by length and batched with dynamic padding, so a
batch pads only to its own longest text (the same trick that makes training fast here).

Four ways to run the model (`variant`), measured by bench/serve_latency.py (bench/RESULTS.md):
- "fp32": the PyTorch model as trained; the reference scores;
- "int8": PyTorch dynamic quantization of the Linear layers;
- "onnx": the model exported to ONNX and run by ONNX Runtime (far less overhead per operator,
  which dominates for one short text);
- "onnx-int8": that export with ONNX Runtime's dynamic int8 quantization: the fastest, at a small
  cost in accuracy.
The web demo serves "onnx" by default (SERVING_VARIANT). The exports are cached in the run's `onnx/` folder.
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from textclf import UserInputError
from textclf.calibration import Calibration
from textclf.problem_types import REGRESSION
from textclf.runs import RunInfo
from textclf.tokenization import tokenize

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


VARIANTS = ("fp32", "int8", "onnx", "onnx-int8")
# The web demo's default: the fastest variant that keeps the validation accuracy exactly. On the
# tweets run, one tweet in 3.6 ms at the median against 10.9 for fp32 PyTorch; onnx-int8 took 1.5 ms
# but lost 0.53 points of accuracy, over our 0.5-point limit for a default (bench/RESULTS.md).
SERVING_VARIANT = "onnx"
ONNX_DIR = "onnx"  # in the run directory: the cached exports
ONNX_OPSET = 17
# A forward function: padded numpy arrays (input_ids, attention_mask, ...) in, logits out.
Forward = Callable[[dict[str, np.ndarray]], np.ndarray]


def torch_forward(model: torch.nn.Module) -> Forward:
    def forward(batch: dict[str, np.ndarray]) -> np.ndarray:
        with torch.inference_mode():
            return model(**{name: torch.from_numpy(values) for name, values in batch.items()}).logits.float().numpy()

    return forward


def load_run_model(run_dir: Path, **options) -> torch.nn.Module:
    """The run's model. A run with its own model code (decoupled/main.py) is loaded with that code, which
    runs the Python file in the run folder: only for runs that record it in run_info.json."""
    trust = RunInfo.read(run_dir).has_model_code
    return AutoModelForSequenceClassification.from_pretrained(run_dir, trust_remote_code=trust, **options)


def export_onnx(run_dir: Path, input_names: list[str], path: Path) -> None:
    """The run's model as an ONNX graph with any batch size and length.

    Exported with eager attention from a padded example batch: tracing sdpa attention on an
    unpadded example records the shortcut that drops the attention mask, and the graph then
    ignores padding. TorchScript exporter: it needs no onnxscript.
    """
    model = load_run_model(run_dir, attn_implementation="eager").eval()
    # Inputs go to forward() by position: order them as its signature does, not as the tokenizer lists them.
    input_names = [name for name in inspect.signature(model.forward).parameters if name in input_names]
    path.parent.mkdir(parents=True, exist_ok=True)
    mask = torch.ones(2, 8, dtype=torch.long)
    mask[1, 5:] = 0
    example = {"input_ids": torch.full((2, 8), 5, dtype=torch.long), "attention_mask": mask,
               "token_type_ids": torch.zeros(2, 8, dtype=torch.long)}
    dynamic_axes = {name: {0: "batch", 1: "length"} for name in input_names} | {"logits": {0: "batch"}}
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # the exporter's deprecation and tracer warnings say nothing to a user
        torch.onnx.export(model, tuple(example[name] for name in input_names), str(path), input_names=input_names,
                          output_names=["logits"], dynamic_axes=dynamic_axes, opset_version=ONNX_OPSET, dynamo=False)


def cached_onnx_model(run_dir: Path, input_names: list[str], int8: bool) -> Path:
    """The run's ONNX export (int8-quantized if asked), made on first use and again when the weights change."""
    weights = max((run_dir / name).stat().st_mtime for name in os.listdir(run_dir) if name.endswith((".safetensors", ".bin")))
    fp32_path = run_dir / ONNX_DIR / "model.onnx"
    path = run_dir / ONNX_DIR / ("model.int8.onnx" if int8 else "model.onnx")
    if path.exists() and path.stat().st_mtime >= weights:
        return path
    logger.info("Exporting %s to ONNX (once; cached in %s)", run_dir, path.parent)
    if not fp32_path.exists() or fp32_path.stat().st_mtime < weights:
        export_onnx(run_dir, input_names, fp32_path)
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        with root_logger_records_dropped(from_path="onnxruntime/quantization"):  # a tip for model authors
            quantize_dynamic(str(fp32_path), str(path), weight_type=QuantType.QInt8)
    return path


@contextmanager
def root_logger_records_dropped(from_path: str) -> Iterator[None]:
    """Drop what code under `from_path` logs straight on the root logger, from this thread only:
    the web server's other threads, and every other logger, keep logging."""
    thread = threading.get_ident()

    def keep(record: logging.LogRecord) -> bool:
        return record.thread != thread or from_path not in record.pathname.replace(os.sep, "/")

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)


def onnx_forward(path: Path) -> Forward:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    wanted = [graph_input.name for graph_input in session.get_inputs()]

    def forward(batch: dict[str, np.ndarray]) -> np.ndarray:
        return session.run(["logits"], {name: batch[name] for name in wanted})[0]

    return forward


def pad_batch(encoded: dict[str, list[list[int]]], rows: np.ndarray, pad_token_id: int) -> dict[str, np.ndarray]:
    """The `rows` of a tokenizer's output as int64 arrays padded to their longest row."""
    width = max(len(encoded["input_ids"][row]) for row in rows)
    batch = {}
    for name, values in encoded.items():
        fill = pad_token_id if name == "input_ids" else 0
        padded = np.full((len(rows), width), fill, dtype=np.int64)
        for position, row in enumerate(rows):
            padded[position, : len(values[row])] = values[row]
        batch[name] = padded
    return batch


class Predictor:
    """A run's model and tokenizer, ready to score texts."""

    def __init__(self, forward: Forward, tokenizer, labels: list[str], task: str, model_name: str, max_length: int,
                 variant: str = "fp32", tail_tokens: int = 0, calibration: Calibration | None = None):
        self.forward = forward
        self.tokenizer = tokenizer
        self.labels = labels
        self.task = task
        self.model_name = model_name
        self.max_length = max_length
        self.tail_tokens = tail_tokens  # head+tail truncation, as the run was trained (run_classification.py)
        self.variant = variant
        # The run's temperature and decision threshold (calibration.json), when it applies them.
        self.calibration = calibration or Calibration()
        # Concurrent callers (web users) take turns per batch: each forward pass already uses every
        # core, and two at once would only fight over them.
        self._lock = threading.Lock()

    @classmethod
    def from_run(cls, run_dir: str | Path, variant: str = "fp32") -> Predictor:
        """Load a run written by run_classification.py, run by `variant` (one of VARIANTS)."""
        if variant not in VARIANTS:
            raise UserInputError(f"unknown variant {variant!r}; choose one of: {', '.join(VARIANTS)}")
        run_dir = Path(run_dir)
        info = RunInfo.read(run_dir)
        if info.task == REGRESSION:
            raise UserInputError(
                f"{run_dir}: a regression run predicts a score, not classes; serve a classification run"
            )
        configure_torch_threads()
        tokenizer = AutoTokenizer.from_pretrained(run_dir, trust_remote_code=info.has_model_code)
        model = load_run_model(run_dir)
        model.eval()
        if variant == "fp32":
            forward = torch_forward(model)
        elif variant == "int8":
            forward = torch_forward(quantize_linear_layers(model))
        else:
            onnx_path = cached_onnx_model(run_dir, list(tokenizer.model_input_names), int8=variant == "onnx-int8")
            forward = onnx_forward(onnx_path)
        labels = [model.config.id2label[index] for index in range(model.config.num_labels)]
        max_length = min(info.max_seq_length or tokenizer.model_max_length, tokenizer.model_max_length)
        logger.info("Loaded %s (%s, %d labels, max %d tokens, %s)", run_dir, info.model, len(labels), max_length, variant)
        return cls(forward, tokenizer, labels, info.task, info.model, max_length, variant, info.truncation_tail_tokens,
                   Calibration.applied_in(run_dir))

    def predict_proba(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Probabilities, one row per text in input order, one column per label.

        Texts longer than `max_length` tokens are truncated, not rejected.
        """
        probabilities = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        if not texts:
            return probabilities
        encoded = tokenize(self.tokenizer, list(texts), self.max_length, self.tail_tokens)
        encoded = {name: encoded[name] for name in self.tokenizer.model_input_names if name in encoded}
        lengths = np.array([len(ids) for ids in encoded["input_ids"]])
        order = np.argsort(-lengths, kind="stable")
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            batch = pad_batch(encoded, rows, self.tokenizer.pad_token_id or 0)
            with self._lock:
                logits = self.forward(batch)
            probabilities[rows] = self.calibration.probabilities(logits, self.task)
        return probabilities

    def predicted_ids(self, probabilities: np.ndarray) -> np.ndarray:
        """The class each row of predict_proba's output predicts: the most probable one, or the
        run's decision threshold's choice for two classes."""
        return self.calibration.predicted_ids(probabilities)

    def predict_one(self, text: str) -> dict[str, float]:
        """{label: probability} for one text."""
        return dict(zip(self.labels, self.predict_proba([text])[0].tolist()))
