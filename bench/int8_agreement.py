#!/usr/bin/env python
"""How often ONNX Runtime's int8 exports change a run's predicted labels, and at what speed, quantized in several ways.

The Predictor's "onnx-int8" (per-channel weights, reduced range, ONNX Runtime's dynamic quantization) keeps a run's
validation accuracy, yet on tweets it flipped 1.5-1.8% of the labels PyTorch fp32 predicts (bench/RESULTS.md,
"Batch prediction"), short of issue 28's 99.5% agreement. This measures, on ROWS texts of the run's validation and test
files (repeated), side by side in one process, each way of quantizing the run's fp32 ONNX export against PyTorch fp32:
- rows/s on every core (one-core ONNX Runtime sessions side by side, batches of 16, as predict.py runs them);
- the share of labels equal to PyTorch fp32's, and the largest probability difference;
and, where this CPU has bf16 units, PyTorch bf16 ("half") the same way.

    python bench/int8_agreement.py            # a few minutes on 2 cores
    python bench/int8_agreement.py --quick    # 300 texts: a smoke test

Results go to bench/RESULTS.md (section "int8 agreement").
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from batch_predict import DEFAULT_RUN, run_texts

from textclf import exit_code_of
from textclf.hardware import serving_plan
from textclf.reports.benchmarks import RESULTS_FILE, peak_matmul_flops, shown, update_section
from textclf.runs.folder import TRAIN_COMMAND, is_finished
from textclf.serving.predictor import (
    HALF,
    OnnxForward,
    Predictor,
    available_cores,
    cached_onnx_model,
    root_logger_records_dropped,
)

logger = logging.getLogger("int8_agreement")


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", default=DEFAULT_RUN, help="a finished run (default: %(default)s)")
    parser.add_argument("--rows", type=int, default=6000, help="texts each way predicts (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="300 texts")
    parser.add_argument("--results", default=str(RESULTS_FILE), help="the results file (default: bench/RESULTS.md)")
    return parser.parse_args()


def matmul_names(path: Path, keep: Callable[[str], bool]) -> list[str]:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return [node.name for node in graph.node if node.op_type == "MatMul" and keep(node.name)]


def is_second_feed_forward_matmul(name: str) -> bool:
    """The feed-forward block's output projection (`layer.N/output/dense`), whose input, after GELU, has the widest range."""
    return name.endswith("/output/dense/MatMul") and "/attention/" not in name


# (name, what, options of onnxruntime.quantization.quantize_dynamic; a callable gets the fp32 graph's path)
WAYS = [
    ("shipped", "per-channel weights, reduced range (the Predictor's onnx-int8)", {}),
    ("full range", "per-channel weights, full 8-bit range", {"reduce_range": False}),
    ("per tensor", "one scale per weight matrix, reduced range", {"per_channel": False}),
    ("matmuls only", "shipped, the embeddings (Gather) kept fp32", {"op_types_to_quantize": ["MatMul"]}),
    ("FFN output fp32", "matmuls only, the feed-forward output projections kept fp32",
     lambda fp32: {"op_types_to_quantize": ["MatMul"], "nodes_to_exclude": matmul_names(fp32, is_second_feed_forward_matmul)}),
]


def quantize(fp32: Path, output: Path, options: dict) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    settings = {"weight_type": QuantType.QInt8, "per_channel": True, "reduce_range": True} | options
    with root_logger_records_dropped(from_path="onnxruntime/quantization"):
        quantize_dynamic(str(fp32), str(output), **settings)


def timed(predictor: Predictor, texts: list[str], workers: int, batch_size: int) -> tuple[float, np.ndarray]:
    """(rows/s, probabilities) after a short warm-up."""
    predictor.predict_proba_on_every_core(texts[:100], workers, batch_size)
    started = time.perf_counter()
    probabilities = predictor.predict_proba_on_every_core(texts, workers, batch_size)
    return len(texts) / (time.perf_counter() - started), probabilities


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_arguments()
    rows = 300 if args.quick else args.rows
    run_dir = Path(args.run).resolve()
    if not is_finished(run_dir):
        sys.exit(f"error: {run_dir} is not a finished run; make the default one with: {TRAIN_COMMAND}")
    texts = run_texts(run_dir)
    texts = [texts[index % len(texts)] for index in range(rows)]
    cores = available_cores()
    peaks = peak_matmul_flops()
    reference = Predictor.from_run(run_dir, "fp32")
    reference_rate, reference_probabilities = timed(reference, texts, 1, 64)
    reference_labels = reference.predicted_ids(reference_probabilities)
    fp32_graph = cached_onnx_model(run_dir, reference.tokenizer, reference.input_names, int8=False)  # made where missing
    table = [("PyTorch fp32", "the reference: the model as trained (every core, batches of 64)", reference_rate,
              reference_probabilities)]
    with tempfile.TemporaryDirectory(prefix="int8-agreement-") as work:
        for name, what, options in WAYS:
            path = Path(work) / f"{name.replace(' ', '-')}.onnx"
            quantize(fp32_graph, path, options(fp32_graph) if callable(options) else options)
            rate, probabilities = timed(reference.with_forward(OnnxForward(path), name), texts, cores, 16)
            table.append((name, what, rate, probabilities))
            logger.info("%s: %.1f rows/s", name, rate)
    if serving_plan().half_dtype is not None:
        half = Predictor.from_run(run_dir, HALF)
        rate, probabilities = timed(half, texts, cores, 64)
        table.append(("half", "PyTorch bf16 (this CPU has bf16 units), batches of 64", rate, probabilities))
    lines = [
        f"Run `{shown(run_dir)}`, {rows:,} texts of its validation and test files; ONNX Runtime's sessions one core each, "
        f"{cores} side by side, batches of 16. Measured matmul peak on this machine: fp32 {peaks['fp32'] / 1e9:.0f} "
        f"GFLOP/s, bf16 {peaks['bf16'] / 1e9:.0f} GFLOP/s.",
        "",
        "| way | what | rows/s | labels equal to PyTorch fp32 | largest probability difference |",
        "|---|---|---|---|---|",
        *[f"| {name} | {what} | {rate:.1f} | {np.mean(reference.predicted_ids(probabilities) == reference_labels):.2%} | "
          f"{np.abs(probabilities - reference_probabilities).max():.3f} |" for name, what, rate, probabilities in table],
        "",
        f"Reproduce: `python bench/int8_agreement.py{' --quick' if args.quick else ''} --run {shown(run_dir)} --rows {rows}`",
    ]
    body = "\n".join(lines)
    print(body)
    logger.info("Written to %s", update_section("int8 agreement" + (" (--quick)" if args.quick else ""), body,
                                               Path(args.results)))


if __name__ == "__main__":
    sys.exit(exit_code_of(main))
