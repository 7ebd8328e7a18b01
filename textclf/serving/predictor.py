"""Class probabilities from a finished run, fast on a CPU: the model behind the web demo.

Loaded once per run; texts are tokenized, sorted by length and batched with dynamic padding, so a
batch pads only to its own longest text (the same trick that makes training fast here).

Ways to run the model (`variant`), measured by bench/serve_latency.py (bench/RESULTS.md):
- "fp32": the PyTorch model as trained; the reference scores;
- "int8": PyTorch dynamic quantization of the Linear layers;
- "onnx": the model exported to ONNX and run by ONNX Runtime (far less overhead per operator,
  which dominates for one short text);
- "onnx-int8": that export with ONNX Runtime's dynamic int8 quantization, one scale per output
  channel of each weight matrix: the fastest;
- "auto", the web demo's default (SERVING_VARIANT): "onnx-int8" where it scores the run's validation
  rows within INT8_MAX_ACCURACY_DROP of "onnx", else "onnx" (the check is cached, see int8_check).
The exports are cached in the run's `onnx/` folder, each checked against the PyTorch model first.
Where a variant cannot be made for an architecture, the nearest one that can is served, and one log
line says so (FALLBACKS).
"""

from __future__ import annotations

import copy
import functools
import inspect
import logging
import os
import threading
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from textclf import UserInputError
from textclf.hardware import CPU_PROVIDER, ServingPlan, serving_plan
from textclf.problem_types import REGRESSION, SINGLE_LABEL
from textclf.runs.calibration import Calibration
from textclf.runs.folder import EVAL_PREDICTIONS, RunInfo, read_json, write_json_atomically
from textclf.tables import one_line
from textclf.tokenization import tokenize

logger = logging.getLogger(__name__)


def available_cores() -> int:
    """The CPUs this process may run on (a restricted CPU set counts, not the machine's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def configure_torch_threads() -> None:
    """At most one intra-op thread per CPU this process may use, unless the user chose (OMP_NUM_THREADS).

    torch's default can count more cores than the process is allowed to run on (a restricted CPU
    set), and more threads than cores make every forward pass slower.
    """
    if os.environ.get("OMP_NUM_THREADS"):
        return
    if torch.get_num_threads() > available_cores():
        torch.set_num_threads(available_cores())


def quantize_linear_layers(model: torch.nn.Module) -> torch.nn.Module:
    """int8 weights for every nn.Linear, activations quantized on the fly (CPU inference only).

    torch marks torch.ao.quantization deprecated in favour of torchao, which is not a dependency
    here; the eager API still works, so its warnings are silenced rather than shown to every user.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"torch\.ao\.quantization is deprecated", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor", category=UserWarning)
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


AUTO = "auto"
VARIANTS = ("fp32", "int8", "onnx", "onnx-int8", AUTO)  # what a CPU serves (the benchmarks compare these)
HALF = "half"  # PyTorch in half precision: on a GPU, or bf16 on a CPU with bf16 units (textclf.hardware.ServingPlan)
ALL_VARIANTS = (*VARIANTS[:-1], HALF, AUTO)
# The web demo's default: int8 where the run's own validation rows show it costs at most 0.3 point of
# accuracy. On the tweets run, per-channel int8 weights scored 0.8252 against fp32's 0.8238 (one
# scale per weight matrix, ONNX Runtime's default, lost 0.53 points) in a third of fp32's time at
# the median (bench/RESULTS.md).
SERVING_VARIANT = AUTO
INT8_MAX_ACCURACY_DROP = 0.003
INT8_CHECK_ROWS = 2000  # the first validation rows the check scores: seconds for tweets, a minute for reviews
ONNX_DIR = "onnx"  # in the run directory: the cached exports
ONNX_FP32, ONNX_INT8, INT8_CHECK = "model.onnx", "model.int8.per-channel.onnx", "int8_check.json"
ONNX_OPSET = 17
# A forward function: padded numpy arrays (input_ids, attention_mask, ...) in, logits out.
Forward = Callable[[dict[str, np.ndarray]], np.ndarray]


# Where a variant cannot be made for a model (an exporter that cannot trace an architecture, say),
# the nearest one that can is served instead, and one log line says so. PyTorch's int8 stands in for
# ONNX Runtime's when there is no ONNX export; where only ONNX Runtime's quantization fails, the
# unquantized export serves (see cached_onnx_model).
FALLBACKS = {"int8": "fp32", "onnx": "fp32", "onnx-int8": "int8", HALF: "fp32"}
# Texts the exports are traced on and then checked on, tokenized by the run's own tokenizer (so each
# row carries the architecture's special tokens; T5 needs its </s>). Checked on other batch and text
# lengths than traced, with padding: a graph fixed to one shape, or one that ignores the attention
# mask, scores them differently from the PyTorch model.
EXPORT_TEXTS = ["a short text", "a longer text of several words, so that the first one is padded"]
CHECK_TEXTS = ["one", "a third text, longer than the others, whose words make the graph read more positions than it "
               "was traced with", "two words"]
EXPORT_TOLERANCE = 1e-3  # logits of the ONNX graph against PyTorch's, absolute and relative


class VariantUnavailable(Exception):
    """A variant that cannot be made for this model; `fallback` is the nearest one to serve instead."""

    def __init__(self, reason: str, fallback: str):
        super().__init__(reason)
        self.fallback = fallback


def model_input_names(model: torch.nn.Module, tokenizer) -> list[str]:
    """What the tokenizer gives that the model's forward takes, in the forward's order.

    BERT's tokenizer (which transformers gives DistilBERT checkpoints too) also returns token_type_ids,
    which DistilBERT, MPNet, ModernBERT and T5 do not take; training drops them the same way (the
    Trainer keeps the dataset columns named in forward's signature).
    """
    parameters = inspect.signature(model.forward).parameters
    return [name for name in parameters if name in tokenizer.model_input_names]


def torch_forward(model: torch.nn.Module) -> Forward:
    """The model's forward on numpy arrays, on the model's device (a GPU's logits come back to the CPU in float32)."""
    device = next(model.parameters()).device

    def forward(batch: dict[str, np.ndarray]) -> np.ndarray:
        with torch.inference_mode():
            inputs = {name: torch.from_numpy(values).to(device) for name, values in batch.items()}
            return model(**inputs).logits.float().cpu().numpy()

    return forward


def load_run_model(run_dir: Path, **options) -> torch.nn.Module:
    """The run's model. A run with its own model code (decoupled/main.py) is loaded with that code, which
    runs the Python file in the run folder: only for runs that record it in run_info.json."""
    trust = RunInfo.read(run_dir).has_model_code
    # In float32, whatever the run was saved in: transformers loads a config's dtype ("auto"), and a run
    # trained on a GPU may be saved in float16, which a CPU computes slowly and ONNX Runtime cannot quantize.
    options = {"dtype": torch.float32} | options
    return AutoModelForSequenceClassification.from_pretrained(run_dir, trust_remote_code=trust, **options)


def example_batch(tokenizer, input_names: list[str], texts: list[str]) -> dict[str, np.ndarray]:
    """`texts` as the model's padded inputs."""
    encoded = tokenize(tokenizer, texts, min(tokenizer.model_max_length, 64))
    encoded = {name: encoded[name] for name in input_names}
    return pad_batch(encoded, np.arange(len(texts)), tokenizer.pad_token_id or 0)


class LogitsOnly(torch.nn.Module):
    """The classifier with positional inputs and one output, the logits, as an ONNX graph wants it
    (T5ForSequenceClassification also returns its encoder's hidden states and a cache)."""

    def __init__(self, model: torch.nn.Module, input_names: list[str]):
        super().__init__()
        self.model = model
        self.input_names = input_names

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.input_names, inputs))).logits


def export_onnx(run_dir: Path, tokenizer, input_names: list[str], path: Path) -> None:
    """The run's model as an ONNX graph with any batch size and length, checked against PyTorch.

    Exported with eager attention from a padded example batch: tracing sdpa attention on an
    unpadded example records the shortcut that drops the attention mask, and the graph then
    ignores padding. TorchScript exporter: it needs no onnxscript. Written under a temporary name
    and renamed once checked, so the cache never holds a graph that failed.
    """
    model = load_run_model(run_dir, attn_implementation="eager").eval()
    example = example_batch(tokenizer, input_names, EXPORT_TEXTS)
    example = {name: torch.from_numpy(values) for name, values in example.items()}
    dynamic_axes = {name: {0: "batch", 1: "length"} for name in input_names} | {"logits": {0: "batch"}}
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.draft")
    check = example_batch(tokenizer, input_names, CHECK_TEXTS)
    expected = torch_forward(model)(check)
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")  # the exporter's deprecation and tracer warnings say nothing to a user
            # In eval mode: the exporter puts the module back in the mode it found it in, dropout included.
            torch.onnx.export(LogitsOnly(model, input_names).eval(), tuple(example.values()), str(draft),
                              input_names=input_names, output_names=["logits"], dynamic_axes=dynamic_axes,
                              opset_version=ONNX_OPSET, dynamo=False)
        exported = OnnxForward(draft)(check)
        if not np.allclose(exported, expected, atol=EXPORT_TOLERANCE, rtol=EXPORT_TOLERANCE):
            raise ValueError(f"the exported graph scores texts differently from the PyTorch model "
                             f"(logits differ by up to {np.abs(exported - expected).max():.3g})")
        os.replace(draft, path)
    finally:
        draft.unlink(missing_ok=True)


def weights_mtime(run_dir: Path) -> float:
    weights = [run_dir / name for name in os.listdir(run_dir) if name.endswith((".safetensors", ".bin"))]
    return max(path.stat().st_mtime for path in weights)


def is_fresh(path: Path, run_dir: Path) -> bool:
    """An export made since the weights were last written."""
    return path.exists() and path.stat().st_mtime >= weights_mtime(run_dir)


def cached_onnx_model(run_dir: Path, tokenizer, input_names: list[str], int8: bool) -> Path:
    """The run's ONNX export (int8-quantized if asked), made on first use and again when the weights change.

    Raises VariantUnavailable, naming the nearest variant, where the model cannot be exported or quantized.
    """
    fp32_path = run_dir / ONNX_DIR / ONNX_FP32
    path = run_dir / ONNX_DIR / (ONNX_INT8 if int8 else ONNX_FP32)
    if is_fresh(path, run_dir):
        return path
    logger.info("Exporting %s to ONNX (once; cached in %s)", run_dir, path.parent)
    if not is_fresh(fp32_path, run_dir):
        try:
            export_onnx(run_dir, tokenizer, input_names, fp32_path)
        except Exception as error:  # whatever the exporter or the check met: serve another variant
            raise VariantUnavailable(f"it cannot be exported to ONNX ({reason(error)})",
                                     FALLBACKS["onnx-int8" if int8 else "onnx"]) from error
    if int8:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        try:
            with root_logger_records_dropped(from_path="onnxruntime/quantization"):  # a tip for model authors
                # Per channel: one scale per weight column, not per matrix; on tweets 0.53 points of
                # accuracy lost per matrix, none per channel (bench/RESULTS.md). Reduced range (7-bit
                # weights): CPUs without VNNI (AVX2 only) multiply int8 pairs with a saturating
                # instruction; there full-range weights lost 0.14 point on tweets and moved a tiny T5's
                # probabilities by 0.12, reduced ones lost none (2026-12-01). The export may be served
                # on another CPU than the one that made it, so every export is reduced.
                quantize_dynamic(str(fp32_path), str(path), weight_type=QuantType.QInt8, per_channel=True,
                                 reduce_range=True)
            OnnxForward(path)(example_batch(tokenizer, input_names, CHECK_TEXTS))
        except Exception as error:  # the quantizer or ONNX Runtime refused the quantized graph
            path.unlink(missing_ok=True)
            raise VariantUnavailable(f"ONNX Runtime cannot quantize its export ({reason(error)})", "onnx") from error
    return path


def int8_check(run_dir: Path, int8: Predictor, unquantized: Callable[[], Predictor]) -> dict | None:
    """Validation accuracy of the int8 export and of the unquantized one (made only if the check is
    not cached), on the run's first INT8_CHECK_ROWS validation rows; cached in onnx/int8_check.json
    until the weights change. None, and one log line, where the validation rows are not here (a
    Space carries no data)."""
    path = run_dir / ONNX_DIR / INT8_CHECK
    if is_fresh(path, run_dir) and path.stat().st_mtime >= (run_dir / ONNX_DIR / ONNX_INT8).stat().st_mtime:
        return read_json(path)
    rows, why_not = validation_rows(run_dir)
    if rows is None:
        logger.info("%s: serving onnx, not onnx-int8: no validation rows to check int8 weights on (%s)", run_dir, why_not)
        return None
    texts, labels = rows
    check = {"rows": len(texts), "fp32_accuracy": unquantized().accuracy(texts, labels),
             "int8_accuracy": int8.accuracy(texts, labels)}
    write_json_atomically(path, check)
    return check


def validation_rows(run_dir: Path) -> tuple[tuple[list[str], list[str]] | None, str]:
    """(texts, labels) of the run's first INT8_CHECK_ROWS validation rows, or None and why not."""
    table_path = run_dir / EVAL_PREDICTIONS
    if not table_path.is_file():
        return None, f"no {EVAL_PREDICTIONS}"
    try:  # the data readers: not in a Space's bundle, which carries no data either
        import pandas as pd

        from textclf.runs.data_files import validation_texts
    except ImportError as error:
        return None, f"cannot read data files here ({error})"
    table = pd.read_csv(table_path, dtype={"label": str}, keep_default_na=False).head(INT8_CHECK_ROWS)
    texts, why_not = validation_texts(run_dir, RunInfo.read(run_dir), table)
    return (None, why_not) if texts is None else ((texts, table["label"].tolist()), "")


def variant_forward(run_dir: Path, model: torch.nn.Module, tokenizer, input_names: list[str], variant: str,
                    plan: ServingPlan) -> Forward:
    """The forward function of `variant` where `plan` says; raises VariantUnavailable where it cannot be made
    for this model or machine. PyTorch's fp32 and half run on the plan's device (a GPU where there is one),
    int8 on the CPU (PyTorch's dynamic quantization is a CPU kernel), the ONNX exports on the plan's providers."""
    if variant == "fp32":
        return torch_forward(model.to(plan.device))
    if variant == HALF:
        if plan.half_dtype is None:
            raise VariantUnavailable("no GPU here, and this CPU has no bf16 units: half precision would be slower "
                                     "than fp32", FALLBACKS[HALF])
        return torch_forward(model.to(plan.device, plan.half_dtype))
    if variant == "int8":
        try:
            forward = torch_forward(quantize_linear_layers(model))
            forward(example_batch(tokenizer, input_names, CHECK_TEXTS))
        except Exception as error:  # an architecture dynamic quantization cannot handle
            raise VariantUnavailable(f"PyTorch cannot quantize it ({reason(error)})", FALLBACKS["int8"]) from error
        return forward
    return OnnxForward(cached_onnx_model(run_dir, tokenizer, input_names, int8=variant == "onnx-int8"), plan.onnx_providers)


def nearest_working_variant(run_dir: Path, model: torch.nn.Module, tokenizer, input_names: list[str],
                            variant: str, plan: ServingPlan) -> tuple[Forward, str]:
    """The forward function of `variant`, else of the nearest variant that works, and the variant served.

    What could not be made is one warning line, never a traceback: a user asking for onnx-int8 gets a
    demo either way.
    """
    try:
        return variant_forward(run_dir, model, tokenizer, input_names, variant, plan), variant
    except VariantUnavailable as unavailable:
        logger.warning("%s: variant %s is not available for this %s model: %s; serving %s instead",
                       run_dir, variant, model.config.model_type, unavailable, unavailable.fallback)
        return nearest_working_variant(run_dir, model, tokenizer, input_names, unavailable.fallback, plan)


def reason(error: Exception) -> str:
    """An exporter's or quantizer's error in a log line: some run to pages."""
    text = one_line(error) or type(error).__name__
    return text if len(text) <= 300 else text[:297] + "..."


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


class OnnxForward:
    """A run's ONNX export in ONNX Runtime: a session on every core, and one on a single core for the
    concurrent user batches of a web server (`on_one_core`, opened on first use). Measured under load
    on a 2-core machine (bench/serve_load.py): a session's threads over every core stall together
    whenever the server's own thread takes a core, and wait for it spinning; one-thread runs side by
    side do neither.
    """

    def __init__(self, path: Path, providers: tuple[str, ...] = (CPU_PROVIDER,)):
        self.path = path
        self.providers = list(providers)
        self.session = self._open(threads=torch.get_num_threads())
        self.input_names = [graph_input.name for graph_input in self.session.get_inputs()]

    def _open(self, threads: int):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        return onnxruntime.InferenceSession(str(self.path), options, providers=self.providers)

    @functools.cached_property
    def one_core_session(self):
        return self._open(threads=1)

    def _run(self, session, batch: dict[str, np.ndarray]) -> np.ndarray:
        return session.run(["logits"], {name: batch[name] for name in self.input_names})[0]

    def __call__(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return self._run(self.session, batch)

    def on_one_core(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return self._run(self.one_core_session, batch)


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

    def __init__(self, forward: Forward, tokenizer, labels: list[str], problem_type: str, model_name: str, max_length: int,
                 variant: str = "fp32", tail_tokens: int = 0, input_names: list[str] | None = None,
                 calibration: Calibration | None = None):
        self.forward = forward
        self.tokenizer = tokenizer
        self.input_names = input_names or list(tokenizer.model_input_names)  # what the model takes
        self.labels = labels
        self.problem_type = problem_type
        self.model_name = model_name
        self.max_length = max_length
        self.tail_tokens = tail_tokens  # head+tail truncation, as the run was trained (run_classification.py)
        self.variant = variant  # the variant served: the one asked for, or the nearest that works (FALLBACKS)
        # The run's temperature and decision threshold (calibration.json), when it applies them.
        self.calibration = calibration or Calibration()
        # Concurrent callers (web users) take turns per batch: each forward pass already uses every
        # core, and two at once would only fight over them (unless each takes one core: predict_proba's
        # share_cores). They take turns at the tokenizer too: a fast tokenizer changing its truncation
        # settings fails while another thread is using it.
        self._lock = threading.Lock()
        self._tokenizing = threading.Lock()

    @classmethod
    def from_run(cls, run_dir: str | Path, variant: str = "fp32") -> Predictor:
        """Load a run written by run_classification.py, run by `variant` (one of VARIANTS), or by the
        nearest variant that works where the model cannot be exported or quantized (see FALLBACKS)."""
        if variant not in ALL_VARIANTS:
            raise UserInputError(f"unknown variant {variant!r}; choose one of: {', '.join(ALL_VARIANTS)}")
        run_dir = Path(run_dir)
        plan = serving_plan(cpu_half=variant == HALF)  # a GPU where there is one (textclf.hardware); no CPU probe unless asked
        info = RunInfo.read(run_dir)
        if info.problem_type == REGRESSION:
            raise UserInputError(
                f"{run_dir}: a regression run predicts a score, not classes; serve a classification run"
            )
        if variant == AUTO and plan.auto_variant != "onnx-int8":  # on a GPU
            return cls.from_run(run_dir, plan.auto_variant)
        if variant == AUTO:  # where int8 cannot be made by ONNX Runtime, what "onnx" serves
            int8 = cls.from_run(run_dir, "onnx-int8")
            return int8.int8_if_it_keeps_accuracy(run_dir) if int8.variant == "onnx-int8" else cls.from_run(run_dir, "onnx")
        configure_torch_threads()
        tokenizer = AutoTokenizer.from_pretrained(run_dir, trust_remote_code=info.has_model_code)
        model = load_run_model(run_dir)
        model.eval()
        input_names = model_input_names(model, tokenizer)
        forward, variant = nearest_working_variant(run_dir, model, tokenizer, input_names, variant, plan)
        labels = [model.config.id2label[index] for index in range(model.config.num_labels)]
        max_length = min(info.max_seq_length or tokenizer.model_max_length, tokenizer.model_max_length)
        logger.info("Loaded %s (%s, %d labels, max %d tokens, %s)", run_dir, info.model, len(labels), max_length, variant)
        return cls(forward, tokenizer, labels, info.problem_type, info.model, max_length, variant, info.truncation_tail_tokens,
                   input_names, Calibration.applied_in(run_dir))

    def predict_proba(self, texts: list[str], batch_size: int = 64, share_cores: bool = False) -> np.ndarray:
        """Probabilities, one row per text in input order, one column per label.

        Texts longer than `max_length` tokens are truncated, not rejected; they go through the model
        sorted by length, `batch_size` at a time. With `share_cores` (callers running at the same time,
        as the web demo's user batches), an ONNX variant runs this call on one core, side by side with
        the others, instead of taking turns on every core (OnnxForward).
        """
        probabilities = np.zeros((len(texts), len(self.labels)), dtype=np.float32)
        if not texts:
            return probabilities
        with self._tokenizing:
            encoded = tokenize(self.tokenizer, list(texts), self.max_length, self.tail_tokens)
        encoded = {name: encoded[name] for name in self.input_names if name in encoded}
        lengths = np.array([len(ids) for ids in encoded["input_ids"]])
        order = np.argsort(-lengths, kind="stable")
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            batch = pad_batch(encoded, rows, self.tokenizer.pad_token_id or 0)
            if share_cores and isinstance(self.forward, OnnxForward):
                logits = self.forward.on_one_core(batch)
            else:
                with self._lock:
                    logits = self.forward(batch)
            probabilities[rows] = self.calibration.probabilities(logits, self.problem_type)
        return probabilities

    def with_forward(self, forward: Forward, variant: str) -> Predictor:
        """This run's predictor (tokenizer, labels, calibration) running another forward function: its own
        lock for the model, the tokenizer's shared."""
        other = copy.copy(self)
        other.forward, other.variant, other._lock = forward, variant, threading.Lock()
        return other

    def int8_if_it_keeps_accuracy(self, run_dir: Path) -> Predictor:
        """This onnx-int8 predictor where it scores the run's validation rows within INT8_MAX_ACCURACY_DROP
        of the unquantized export, else a predictor of that export ("onnx")."""
        @functools.cache  # the unquantized export's session, opened only where it is scored or served
        def unquantized() -> Predictor:
            return self.with_forward(OnnxForward(run_dir / ONNX_DIR / ONNX_FP32, self.forward.providers), "onnx")

        if self.problem_type != SINGLE_LABEL:  # accuracy, the check's measure, is defined for one class a text
            logger.info("%s: serving onnx, not onnx-int8: int8 weights are checked on single-label runs only", run_dir)
            return unquantized()
        check = int8_check(run_dir, self, unquantized)
        if check is None:
            return unquantized()
        kept = check["int8_accuracy"] >= check["fp32_accuracy"] - INT8_MAX_ACCURACY_DROP
        logger.log(logging.INFO if kept else logging.WARNING,
                   "%s: int8 weights score %.4f on %d validation rows against %.4f unquantized: serving %s", run_dir,
                   check["int8_accuracy"], check["rows"], check["fp32_accuracy"], "onnx-int8" if kept else "onnx")
        return self if kept else unquantized()

    def predict_proba_on_every_core(self, texts: list[str], workers: int | None = None,
                                    batch_size: int = 16) -> np.ndarray:
        """predict_proba's probabilities, computed by `workers` threads (default: one per core) side by side.

        Each thread runs one-core ONNX Runtime sessions (share_cores), the fastest way found to use
        every core (bench/serve_load.py, bench/batch_predict.py: one session's threads over both cores
        wait for each other); rows are dealt out in turn, so each thread gets texts of every length.
        A PyTorch variant runs in this thread on torch's threads, one per core: its callers would only
        take turns at the model.
        """
        if not isinstance(self.forward, OnnxForward):
            return self.predict_proba(texts, batch_size=batch_size)
        workers = workers or available_cores()
        parts = [part for part in (np.arange(len(texts))[worker::workers] for worker in range(workers)) if len(part)]
        if len(parts) <= 1:
            return self.predict_proba(texts, batch_size=batch_size, share_cores=True)
        probabilities = np.zeros((len(texts), len(self.labels)), dtype=np.float32)

        def predict_part(part: np.ndarray) -> np.ndarray:
            return self.predict_proba([texts[i] for i in part], batch_size=batch_size, share_cores=True)

        with ThreadPoolExecutor(max_workers=len(parts)) as pool:
            for part, part_probabilities in zip(parts, pool.map(predict_part, parts)):
                probabilities[part] = part_probabilities
        return probabilities

    def accuracy(self, texts: list[str], labels: list[str]) -> float:
        """The share of `texts` whose predicted class is their label (class names)."""
        predicted = self.predicted_ids(self.predict_proba_on_every_core(texts))
        return float(np.mean([self.labels[i] == label for i, label in zip(predicted, labels)]))

    def predicted_ids(self, probabilities: np.ndarray) -> np.ndarray:
        """The class each row of predict_proba's output predicts: the most probable one, or the
        run's decision threshold's choice for two classes."""
        return self.calibration.predicted_ids(probabilities)

    def predict_one(self, text: str) -> dict[str, float]:
        """{label: probability} for one text."""
        return dict(zip(self.labels, self.predict_proba([text])[0].tolist()))
