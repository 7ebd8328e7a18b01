#!/usr/bin/env python
"""How fast a trained run answers: the plain transformers pipeline against the demo's predictor.

For a finished run (default: experiments/tweets-all-MiniLM-L6-v2, made by
`bash scripts/train_tweets.sh`), measured side by side in one process:
- single-request latency (p50, p95): validation tweets sent one at a time, as a web user would, the
  variants taking turns in rounds (each meets the machine's slow spells in the same share);
- batch throughput: 1,000 tweets of the run's test file in one call (the demo's CSV tab), the
  median of BATCH_ROUNDS calls, the variants again taking turns;
- validation accuracy of each variant, so a faster variant's cost in quality is in the same table.
Variants: `pipeline("text-classification")` as users call it; textclf.serving.predictor.Predictor (what
app.py uses) in each of its variants: PyTorch fp32, PyTorch int8 (dynamic quantization of the Linear
layers), ONNX Runtime fp32, ONNX Runtime int8 (per-channel weights), and "auto", the app's default,
which serves ONNX Runtime int8 where it keeps the run's validation accuracy within 0.3 point; and
"half" (PyTorch bf16) where the serving plan has it (a GPU, or a CPU with bf16 units).
Then what a token explanation (textclf.serving.explain, the demo's /explain) costs against one prediction of
the same tweet, for the demo's variant and fp32 (the report's): the target is at most 20x.

    python bench/serve_latency.py            # about 3 minutes on 2 cores
    python bench/serve_latency.py --quick    # fewer requests, 200 tweets: a fast look

Results go to bench/RESULTS.md (section "Serving latency").
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textclf import exit_code_of
from textclf.hardware import serving_plan
from textclf.reports.benchmarks import RESULTS_FILE, update_section
from textclf.runs.folder import TRAIN_COMMAND, RunInfo, find_data_file, is_finished
from textclf.serving.explain import explain
from textclf.serving.predictor import HALF, SERVING_VARIANT, VARIANTS, Predictor, configure_torch_threads

logger = logging.getLogger("serve_latency")
DEFAULT_RUN = "experiments/tweets-all-MiniLM-L6-v2"


@dataclass
class Variant:
    name: str
    single: Callable[[str], str]  # one text in, its predicted label out
    batch: Callable[[list[str]], list[str]]
    label: str = ""  # a Predictor's variant (served_label); empty for the pipeline


@dataclass
class ExplanationCost:
    variant: str
    explain_p50_ms: float
    explain_p95_ms: float
    predict_p50_ms: float
    ratio_p50: float  # over tweets, of the explanation's time over one prediction of the same tweet
    ratio_p95: float
    words_p50: float


SINGLE_REQUEST_ROUNDS = 30  # single requests are timed in rounds, the variants taking turns (time_single_requests)
WARM_UP_REQUESTS = 5  # untimed calls before each block of a variant's timed ones
BATCH_ROUNDS = 3  # the batch is timed this many times a variant, the variants taking turns
EXPLANATION_TARGET = 20  # an explanation may cost at most this many predictions of the same text


@dataclass
class Measurement:
    name: str
    p50_ms: float
    p95_ms: float
    batch_texts_per_second: float
    accuracy: float
    label: str = ""  # as Variant.label


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default=DEFAULT_RUN, help="a finished run directory (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="30 single requests and a 200-text batch")
    parser.add_argument("--requests", type=int, default=300, help="single requests timed (default 300)")
    parser.add_argument("--batch_size", type=int, default=1000, help="texts in the throughput batch (default 1000)")
    parser.add_argument("--explain_requests", type=int, default=100, help="tweets explained per variant (default 100)")
    parser.add_argument("--results", default=str(RESULTS_FILE), help="results file to update")
    return parser.parse_args()


def read_texts_and_labels(run_dir: Path) -> tuple[list[str], list[str], list[str]]:
    """(validation texts, their labels, texts for the batch) from the files the run was trained on."""
    import pandas as pd

    info = RunInfo.read(run_dir)
    columns, label_column = info.text_columns, info.label_column

    def texts_of(frame) -> list[str]:
        return frame[columns].fillna("").astype(str).agg(" ".join, axis=1).str.strip().tolist()

    validation_file = find_data_file(info.data_file("validation"), run_dir)
    if validation_file is None:
        sys.exit(f"error: {run_dir}: its validation file is not here; the benchmark scores the variants on it")
    validation = pd.read_csv(validation_file)
    test_file = find_data_file(info.data_file("test"), run_dir)
    batch_source = pd.read_csv(test_file) if test_file is not None else validation
    labels = [info.class_names.get(value, value) for value in validation[label_column].astype(str)]  # --class_names
    return texts_of(validation), labels, texts_of(batch_source)


def served_label(asked: str, predictor: Predictor) -> str:
    """The variant asked for, and the one served where they differ ("auto: onnx-int8")."""
    return asked if predictor.variant == asked else f"{asked}: {predictor.variant}"


def pipeline_variant(run_dir: Path) -> Variant:
    from transformers import pipeline

    classifier = pipeline("text-classification", model=str(run_dir), device="cpu")
    return Variant(
        "transformers pipeline (fp32)",
        single=lambda text: classifier(text)[0]["label"],
        batch=lambda texts: [result["label"] for result in classifier(texts)],
    )


def predictor_variant(run_dir: Path, variant: str) -> Variant:
    predictor = Predictor.from_run(run_dir, variant=variant)

    def labels_of(texts: list[str]) -> list[str]:
        return [predictor.labels[i] for i in predictor.predict_proba(texts).argmax(axis=1)]

    label = served_label(variant, predictor)
    return Variant(
        f"textclf Predictor ({label})",
        single=lambda text: max(predictor.predict_one(text).items(), key=lambda item: item[1])[0],
        batch=labels_of,
        label=label,
    )


def time_single_requests(variants: list[Variant], requests: list[str], rounds: int) -> list[list[float]]:
    """Each variant's seconds for each of `requests`, sent one at a time.

    The requests are cut into `rounds` blocks; in each round every variant times one block in turn,
    the order reversed every other round. This machine switches between a fast and a slow state
    for seconds at a time, whatever the process does (one ONNX session's p50 over blocks of 100
    tweets: 4.4 ms for 7 s, 2.7 ms after a pause, 4.5 ms again 10 s later, nothing else running):
    timed one variant after the other, a slow spell lands on whichever variant ran then and the ratios
    show it (onnx-int8 and auto, one model, measured 3.0 and 4.8 ms in one run); in short rounds
    each variant meets the slow spells in the same share. The ratios still move from run to run: a
    slow spell slows ONNX Runtime's small kernels more than the pipeline (bench/RESULTS.md). Blocks, not one text each in turn: ONNX Runtime's threads spin for a while
    after a call and take the next variant's cores.
    """
    timings: list[list[float]] = [[] for _ in variants]
    for round_index, block in enumerate(np.array_split(np.arange(len(requests)), rounds)):
        for index in turns(len(variants), round_index):
            single = variants[index].single
            for text in requests[:WARM_UP_REQUESTS]:  # first calls allocate; another variant just had the caches
                single(text)
            for position in block:
                started = time.perf_counter()
                single(requests[position])
                timings[index].append(time.perf_counter() - started)
    return timings


def time_batches(variants: list[Variant], batch: list[str], rounds: int) -> list[list[float]]:
    """Each variant's seconds for the whole batch in one call, once a round, taking turns as in
    time_single_requests: one call a variant met the machine's slow spells by chance (the PyTorch
    Predictor measured 2.4x to 3.1x the pipeline across runs of one day)."""
    seconds: list[list[float]] = [[] for _ in variants]
    for round_index in range(rounds):
        for index in turns(len(variants), round_index):
            started = time.perf_counter()
            variants[index].batch(batch)
            seconds[index].append(time.perf_counter() - started)
    return seconds


def turns(variant_count: int, round_index: int) -> list[int]:
    """The order the variants take their turns in a round: reversed every other round."""
    order = list(range(variant_count))
    return order if round_index % 2 == 0 else order[::-1]


def measure(variant: Variant, single_seconds: list[float], batch_seconds: list[float], batch: list[str],
            texts: list[str], labels: list[str]) -> Measurement:
    """The variant's single-request percentiles and batch speed (timed in turns), and its accuracy."""
    accuracy = float(np.mean([p == t for p, t in zip(variant.batch(texts), labels)]))
    result = Measurement(variant.name, np.percentile(single_seconds, 50) * 1000, np.percentile(single_seconds, 95) * 1000,
                         len(batch) / float(np.median(batch_seconds)), accuracy, variant.label)
    logger.info("%s: p50 %.1f ms, p95 %.1f ms, %.0f texts/s, accuracy %.4f", result.name, result.p50_ms,
                result.p95_ms, result.batch_texts_per_second, result.accuracy)
    return result


def measure_explanations(run_dir: Path, variant: str, texts: list[str]) -> ExplanationCost:
    """Each tweet predicted once and explained once, timed one after the other."""
    from textclf.serving.explain import segments

    predictor = Predictor.from_run(run_dir, variant=variant)
    for text in texts[:5]:  # warm-up: batch shapes the single requests did not use yet
        explain(predictor, text)
    predict_times, explain_times = [], []
    for text in texts:
        started = time.perf_counter()
        predictor.predict_one(text)
        predict_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        explain(predictor, text)
        explain_times.append(time.perf_counter() - started)
    ratios = np.array(explain_times) / np.array(predict_times)
    cost = ExplanationCost(served_label(variant, predictor), np.percentile(explain_times, 50) * 1000,
                           np.percentile(explain_times, 95) * 1000,
                           np.percentile(predict_times, 50) * 1000, float(np.percentile(ratios, 50)),
                           float(np.percentile(ratios, 95)), float(np.median([len(segments(t)) for t in texts])))
    logger.info("explanation (%s): p50 %.1f ms, %.1fx one prediction (p95 %.1fx)", variant, cost.explain_p50_ms,
                cost.ratio_p50, cost.ratio_p95)
    return cost


def explanation_report(costs: list[ExplanationCost], texts: list[str]) -> list[str]:
    lines = [
        "", f"Token explanations (textclf.serving.explain: occlusion, one batch of the tweet with each word masked), "
        f"{len(texts)} validation tweets, each predicted once then explained once:", "",
        "| variant | words p50 | explain p50 ms | explain p95 ms | one prediction p50 ms | explain / predict p50 | p95 |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in costs:
        lines.append(f"| textclf Predictor ({c.variant}) | {c.words_p50:.0f} | {c.explain_p50_ms:.1f} | {c.explain_p95_ms:.1f} | "
                     f"{c.predict_p50_ms:.1f} | {c.ratio_p50:.1f}x | {c.ratio_p95:.1f}x |")
    lines += ["", f"Target: explaining a tweet costs at most {EXPLANATION_TARGET}x one prediction of it."]
    for c in costs:
        met = "met" if c.ratio_p50 <= EXPLANATION_TARGET else "not met"
        lines.append(f"- textclf Predictor ({c.variant}): {c.ratio_p50:.1f}x at the median ({met}), {c.ratio_p95:.1f}x at p95"
                     + (" (the web demo's default)" if is_default(c.variant) else ""))
    return lines


def is_default(label: str) -> bool:
    """Whether a variant's label (served_label) is the web demo's default variant."""
    return label.split(":")[0] == SERVING_VARIANT


def report(measurements: list[Measurement], run_dir: Path, requests: list[str], batch: list[str], args,
           more: list[str] = ()) -> str:
    baseline, *predictors = measurements
    lines = [
        f"Run `{run_dir}`; {len(requests)} single requests (validation tweets, median {np.median([len(t) for t in requests]):.0f} "
        f"characters), a batch of {len(batch)} tweets (the median of {BATCH_ROUNDS} calls); accuracy on the {args.validation_rows} validation tweets.",
        "",
        "| variant | single p50 ms | single p95 ms | batch texts/s | batch vs pipeline | validation accuracy |",
        "|---|---|---|---|---|---|",
    ]
    for m in measurements:
        lines.append(f"| {m.name} | {m.p50_ms:.1f} | {m.p95_ms:.1f} | {m.batch_texts_per_second:.0f} | "
                     f"{m.batch_texts_per_second / baseline.batch_texts_per_second:.1f}x | {m.accuracy:.4f} |")
    lines += ["", "Targets: p50 <= 5 ms through the predictor; batch >= 3x the pipeline; accuracy drop <= 0.5 point for a default variant."]
    for m in predictors:
        drop = (baseline.accuracy - m.accuracy) * 100
        lines.append(f"- {m.name}: p50 {m.p50_ms:.1f} ms ({'met' if m.p50_ms <= 5 else 'not met'}), "
                     f"batch {m.batch_texts_per_second / baseline.batch_texts_per_second:.1f}x the pipeline "
                     f"({'met' if m.batch_texts_per_second >= 3 * baseline.batch_texts_per_second else 'not met'}), "
                     f"validation accuracy {0.0 - drop:+.2f} points against the pipeline's"
                     + (" (the web demo's default)" if is_default(m.label) else ""))
    default = next(m for m in predictors if is_default(m.label))
    fp32 = next(m for m in predictors if m.label == "fp32")
    lines += [
        "",
        f"- the web demo's default, {default.name}: single p50 {default.p50_ms / baseline.p50_ms:.2f}x the pipeline's "
        f"(target <= 0.25x), validation accuracy {(default.accuracy - fp32.accuracy) * 100:+.2f} points against fp32 "
        "(target: within 0.3)",
    ]
    lines += [*more, "", f"Reproduce: `.venv/bin/python bench/serve_latency.py{' --quick' if args.quick else ''}`"]
    return "\n".join(lines)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    warnings.filterwarnings("ignore", category=UserWarning)
    args = parse_arguments()
    if args.quick:
        args.requests, args.batch_size, args.explain_requests = 30, 200, 10
    run_dir = Path(args.run)
    if not is_finished(run_dir):
        sys.exit(f"error: {run_dir} is not a finished run; make the default one with: {TRAIN_COMMAND}")
    configure_torch_threads()
    texts, labels, batch_source = read_texts_and_labels(run_dir)
    args.validation_rows = len(texts)
    requests = texts[: args.requests]
    batch = (batch_source * (args.batch_size // max(len(batch_source), 1) + 1))[: args.batch_size]

    measured = [*VARIANTS, *([HALF] if serving_plan().half_dtype is not None else [])]  # no "half" where it is fp32
    variants = [pipeline_variant(run_dir)] + [predictor_variant(run_dir, variant) for variant in measured]
    single_seconds = time_single_requests(variants, requests, rounds=min(SINGLE_REQUEST_ROUNDS, len(requests)))
    batch_seconds = time_batches(variants, batch, BATCH_ROUNDS)
    measurements = [measure(variant, single, whole_batch, batch, texts, labels)
                    for variant, single, whole_batch in zip(variants, single_seconds, batch_seconds)]
    explained = texts[: args.explain_requests]
    costs = [measure_explanations(run_dir, variant, explained) for variant in dict.fromkeys((SERVING_VARIANT, "fp32"))]
    body = report(measurements, run_dir, requests, batch, args, explanation_report(costs, explained))
    print(body)
    path = update_section("Serving latency" + (" (--quick)" if args.quick else ""), body, Path(args.results))
    logger.info("Written to %s", path)


if __name__ == "__main__":
    sys.exit(exit_code_of(main))
