#!/usr/bin/env python
"""Web demo of a fine-tuned run: type a text, see every class with its probability at once.

    python app.py                                   # the newest finished run in experiments/
    python app.py --run experiments/tweets-all-MiniLM-L6-v2 --host 0.0.0.0 --port 7860

The run can also be chosen with TEXTCLF_RUN (how a Hugging Face Space is configured), the address
with GRADIO_SERVER_NAME and GRADIO_SERVER_PORT. The page can switch between all finished runs in
experiments/ and classify a whole CSV file. Nothing is trained or downloaded at start-up.

API: `Client(url).predict(text, api_name="/predict")` is what the page's button calls;
`api_name="/explain"` gives the words that pushed the prediction which way (textclf.serving.explain).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import threading
import uuid
from pathlib import Path

# Gradio checks for updates and sends usage statistics unless told not to; this toolkit is
# offline-first, so the demo never reaches out (set before gradio is imported).
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# Gradio's queue also summarises every event it has served (up to 10,000, in a pandas DataFrame) each
# time one finishes, for its monitoring page: under load, work that grows with every request.
# Once every 1,000 events keeps the page's figures and drops that cost (bench/serve_load.py).
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")

import gradio as gr  # noqa: E402
import pandas as pd  # noqa: E402

from textclf import INTERRUPTED_EXIT_CODE, UserInputError, exit_code_of  # noqa: E402
from textclf.problem_types import REGRESSION  # noqa: E402
from textclf.runs.calibration import Calibration  # noqa: E402
from textclf.runs.folder import RunInfo, example_texts, finished_runs, read_validation_metrics, resolve_run  # noqa: E402
from textclf.serving.batch import prediction_table, texts_of  # noqa: E402
from textclf.serving.explain import explain  # noqa: E402
from textclf.serving.predictor import ALL_VARIANTS, SERVING_VARIANT, Predictor  # noqa: E402

logger = logging.getLogger("app")

APP_DIR = Path(__file__).resolve().parent
RUN_ENVIRONMENT_VARIABLE = "TEXTCLF_RUN"
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 7860
EMPTY_INPUT_MESSAGE = "Type or paste a text to classify."
# Occlusion explains the variant that answered (textclf.serving.explain).
EXPLANATION_LABEL = ("Why: words that pushed towards the prediction (red) or against it (purple), each masked in turn "
                     "({variant} model)")
# Texts a CSV job sends to the model between two progress updates.
CSV_CHUNK_ROWS = 256
# Parallel users: concurrent texts merged into one batch of up to TEXT_BATCH_SIZE; two batches in
# flight, each on one core (Predictor.predict_proba's share_cores), so that the web server's own
# thread is never waited for by a model call spread over both cores. Other events (CSV files,
# switching runs) may run side by side.
TEXT_BATCH_SIZE = 16
TEXT_BATCHES_IN_FLIGHT = 2
# A batch of users' texts goes through the model in calls of up to this many texts of similar length,
# not padded to the longest of the batch: 16 validation tweets on one core (int8) took 107 ms in one
# call, 75 to 84 in calls of 8, 70 to 74 in calls of 4.
TEXTS_PER_MODEL_CALL = 4
DEFAULT_CONCURRENCY = 4
METRIC_NAMES = {
    "accuracy": "accuracy",
    "subset_accuracy": "subset accuracy",
    "macro_f1": "macro F1",
    "micro_f1": "micro F1",
}


class RunRegistry:
    """The classification runs the page can switch between; each model is loaded once, on first use."""

    def __init__(self, experiments_dir: Path, first_run: Path, variant: str = SERVING_VARIANT):
        self.experiments_dir = experiments_dir
        self.first_run = first_run
        self.variant = variant
        self.runs: dict[str, Path] = {}
        self._predictors: dict[Path, Predictor] = {}
        self._loading = threading.Lock()
        self.refresh()

    def refresh(self) -> list[str]:
        """The chosen run, then the others in experiments/, newest first; rescanned on every page
        load so runs finished after start-up appear without a restart."""
        runs = {self.first_run.name: self.first_run}
        for run_dir in finished_runs(self.experiments_dir):
            if run_dir.resolve() == self.first_run.resolve():
                continue
            if RunInfo.read(run_dir).problem_type == REGRESSION:
                logger.info("Not offering %s: a regression run has no classes to show", run_dir)
                continue
            runs.setdefault(run_dir.name, run_dir)
        self.runs = runs
        return list(runs)

    def path(self, name: str) -> Path:
        if name not in self.runs:
            raise UserInputError(f"unknown run {name!r}; choose one of: {', '.join(self.runs)}")
        return self.runs[name]

    def predictor(self, name: str) -> Predictor:
        run_dir = self.path(name)
        with self._loading:  # two users choosing the same new run must not load it twice
            if run_dir not in self._predictors:
                self._predictors[run_dir] = Predictor.from_run(run_dir, variant=self.variant)
            return self._predictors[run_dir]


def describe_run(registry: RunRegistry, name: str) -> str:
    """Markdown: the model, the labels, the validation metrics and how the run was trained."""
    run_dir = registry.path(name)
    info = RunInfo.read(run_dir)
    labels = info.labels or []
    lines = [
        f"**Run** `{name}` · **model** `{info.model}` · "
        f"**{len(labels)} labels**: {', '.join(f'`{label}`' for label in labels)}",
        validation_summary(read_validation_metrics(run_dir)),
    ]
    calibration = Calibration.applied_in(run_dir).describe(labels)
    if calibration:
        lines.append(f"Calibrated on the validation split: {calibration}.")
    epochs = info.hyperparameters.get("num_train_epochs")
    if info.data_file("train"):
        lines.append(
            f"Trained on {info.data_rows('train'):,} rows of `{Path(info.data_file('train')).name}`, "
            f"{f'{epochs:g}' if isinstance(epochs, (int, float)) else '?'} epochs, "
            f"texts cut at {info.max_seq_length or '?'} tokens."
        )
    return "\n\n".join(lines)


def validation_summary(metrics: dict) -> str:
    if not metrics:
        return "No validation metrics (the run was trained without `--do_eval`)."
    scores = [f"{title} **{metrics[key]:.3f}**" for key, title in METRIC_NAMES.items() if key in metrics]
    if "positive_f1" in metrics:
        scores.append(
            f"F1 of `{metrics['positive_class']}` **{metrics['positive_f1']:.3f}** (precision "
            f"{metrics['positive_precision']:.3f}, recall {metrics['positive_recall']:.3f})"
        )
    rows = f" ({metrics['rows']:,} rows)" if "rows" in metrics else ""
    return f"**Validation{rows}**: " + " · ".join(scores)


def label_output(predictor: Predictor, scores) -> dict:
    """What gr.Label shows (its LabelData): the predicted class, which the run's decision threshold may
    make other than the most probable one, and every class with its probability, most probable first."""
    confidences = sorted(zip(predictor.labels, scores.tolist()), key=lambda item: -item[1])
    return {"label": predictor.labels[int(predictor.predicted_ids(scores[None])[0])],
            "confidences": [{"label": label, "confidence": confidence} for label, confidence in confidences]}


def message_output(message: str) -> dict:
    return {"label": message, "confidences": None}


def classify_texts(registry: RunRegistry, texts: list[str], run_names: list[str]) -> list[dict]:
    """Gradio batch function: concurrent users' texts arrive together and share model calls.

    Each text gets its prediction (label_output), or a message: an unknown run named by one API
    caller must not fail the other users' texts batched with it.
    """
    results = [message_output(EMPTY_INPUT_MESSAGE) for _ in texts]
    for name in dict.fromkeys(run_names):
        rows = [i for i, (text, run) in enumerate(zip(texts, run_names)) if run == name and text and text.strip()]
        if not rows:
            continue
        try:
            predictor = registry.predictor(name)
        except UserInputError as error:
            for row in rows:
                results[row] = message_output(str(error))
            continue
        probabilities = predictor.predict_proba([texts[i] for i in rows], batch_size=TEXTS_PER_MODEL_CALL,
                                                share_cores=True)  # the other batch in flight runs beside it
        for row, scores in zip(rows, probabilities):
            results[row] = label_output(predictor, scores)
    return results


def explain_text(registry: RunRegistry, text: str, run_name: str) -> list[tuple[str, float | None]] | None:
    """The text's words, each with how much it pushed the prediction (towards it: up to 1, against: down to -1)."""
    if not text or not text.strip():
        return None
    return explain(predictor_or_error(registry, run_name), text).highlighted()


def predictor_or_error(registry: RunRegistry, name: str) -> Predictor:
    try:
        return registry.predictor(name)
    except UserInputError as error:
        raise gr.Error(str(error)) from error


def csv_columns(path: str | None) -> gr.Dropdown:
    """The uploaded file's columns, the most text-like one chosen."""
    if not path:
        return gr.Dropdown(choices=[], value=None)
    table = read_uploaded_csv(path, rows=200)
    text_like = [column for column in table.columns if pd.api.types.is_string_dtype(table[column])]
    preferred = next((c for c in ("text", "sentence") if c in table.columns), None)
    chosen = preferred or max(text_like, key=lambda c: table[c].astype(str).str.len().mean(), default=table.columns[0])
    return gr.Dropdown(choices=list(table.columns), value=chosen)


def read_uploaded_csv(path: str, rows: int | None = None) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, nrows=rows)
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise gr.Error(f"{Path(path).name}: not a readable CSV file ({error})") from error
    if table.columns.empty:
        raise gr.Error(f"{Path(path).name}: the file has no columns")
    return table


def classify_csv(
    registry: RunRegistry, output_dir: Path, path: str | None, column: str | None, run_name: str,
    progress: gr.Progress = gr.Progress(),
) -> tuple[str, pd.DataFrame]:
    """The uploaded table with `prediction` and one `prob_<label>` column per class appended: the
    table predict.py writes (textclf.serving.batch), formula-like cells neutralised."""
    if not path:
        raise gr.Error("Upload a CSV file first.")
    table = read_uploaded_csv(path)
    if column not in table.columns:
        raise gr.Error(f"Choose the text column: one of {', '.join(map(str, table.columns))}.")
    predictor = predictor_or_error(registry, run_name)
    parts = []
    for start in progress.tqdm(range(0, len(table), CSV_CHUNK_ROWS), desc="Classifying"):
        chunk = table.iloc[start:start + CSV_CHUNK_ROWS]
        parts.append(prediction_table(predictor, chunk, texts_of(chunk, [column])))
    table = pd.concat(parts, ignore_index=True)
    result = output_dir / uuid.uuid4().hex / f"{Path(path).stem}-predictions.csv"
    result.parent.mkdir(parents=True)
    table.to_csv(result, index=False)
    return str(result), table.head(20)


def switch_run(registry: RunRegistry, name: str) -> tuple[str, gr.Dataset, dict, None]:
    """New details and examples for the chosen run; the previous prediction and explanation are cleared."""
    predictor_or_error(registry, name)  # load it now, so the first text is not the slow one
    examples = gr.Dataset(samples=[[text] for text in example_texts(registry.path(name))])
    return describe_run(registry, name), examples, {}, None


def build_demo(registry: RunRegistry, initial_run: str, review_dir: Path | None = None) -> gr.Blocks:
    output_dir = Path(tempfile.mkdtemp(prefix="textclf-demo-"))
    with gr.Blocks(title="Text classification demo", analytics_enabled=False) as demo:
        gr.Markdown("# Text classification demo\nType a text and see how the fine-tuned model classifies it.")
        run_choice = gr.Dropdown(choices=list(registry.runs), value=initial_run, label="Run", elem_id="run-choice")
        details = gr.Markdown(describe_run(registry, initial_run), elem_id="run-details")
        if review_dir is not None:  # --review: off by default, a public demo must not let visitors edit labels
            from textclf.audit.review_page import build_review_tab

            build_review_tab(demo, review_dir, registry.predictor, run_choice)
        with gr.Tab("Text"):
            with gr.Row():
                with gr.Column():
                    text = gr.Textbox(label="Text", lines=4, placeholder=EMPTY_INPUT_MESSAGE, elem_id="input-text")
                    classify = gr.Button("Classify", variant="primary", elem_id="classify")
                prediction = gr.Label(label="Prediction", elem_id="prediction")
            served = registry.predictor(initial_run).variant  # "auto" picks onnx-int8 or onnx per run
            explanation = gr.HighlightedText(label=EXPLANATION_LABEL.format(variant=served),
                                             elem_id="explanation")
            examples = gr.Examples([[t] for t in example_texts(registry.path(initial_run))], inputs=text)
        with gr.Tab("CSV file"):
            upload = gr.File(label="CSV file", file_types=[".csv"])
            # Custom values: API callers name the column without uploading through the page first.
            column = gr.Dropdown(label="Text column", choices=[], allow_custom_value=True)
            classify_file = gr.Button("Classify every row", variant="primary")
            download = gr.File(label="Predictions (CSV)")
            preview = gr.Dataframe(label="First rows", interactive=False)

        # Named functions: gradio_client users see these parameter names.
        def predict(text: list[str], run: list[str]) -> list[list]:
            return [classify_texts(registry, text, run)]

        def explain_words(text: str, run: str):
            return explain_text(registry, text, run)

        def predict_csv(csv_file: str, text_column: str, run: str, progress: gr.Progress = gr.Progress()):
            return classify_csv(registry, output_dir, csv_file, text_column, run, progress)

        gr.on(
            [classify.click, text.submit],
            predict,
            inputs=[text, run_choice],
            outputs=prediction,
            api_name="predict",
            batch=True,
            max_batch_size=TEXT_BATCH_SIZE,
            concurrency_limit=TEXT_BATCHES_IN_FLIGHT,
            postprocess=False,  # classify_texts returns gr.Label's data itself: the label may not be the most probable
        ).then(explain_words, inputs=[text, run_choice], outputs=explanation, api_name="explain", concurrency_limit=1)
        run_choice.change(
            lambda name: switch_run(registry, name),
            inputs=run_choice,
            outputs=[details, examples.dataset, prediction, explanation],
            api_visibility="private",
        )
        upload.change(csv_columns, inputs=upload, outputs=column, api_visibility="private")
        classify_file.click(
            predict_csv,
            inputs=[upload, column, run_choice],
            outputs=[download, preview],
            api_name="predict_csv",
        )
        demo.load(lambda: gr.Dropdown(choices=registry.refresh()), outputs=run_choice, api_visibility="private")
    demo.queue(default_concurrency_limit=DEFAULT_CONCURRENCY)
    return demo


def create_app(run: str | Path | None = None, experiments_dir: Path = APP_DIR / "experiments",
               variant: str = SERVING_VARIANT, review: Path | None = None) -> gr.Blocks:
    """The demo for `run` (default: the newest finished run in `experiments_dir`), its model loaded; with
    `review`, a data folder, also the review of its audit's suspects (textclf.audit.review_page)."""
    run_dir = resolve_run(run, experiments_dir)
    registry = RunRegistry(experiments_dir, first_run=run_dir, variant=variant)
    registry.predictor(run_dir.name)  # load the model at start-up, not on the first visitor's click
    return build_demo(registry, run_dir.name, review)


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", default=os.environ.get(RUN_ENVIRONMENT_VARIABLE),
                        help=f"run directory to serve first (default: ${RUN_ENVIRONMENT_VARIABLE}, else the newest "
                             "finished run in --experiments_dir)")
    parser.add_argument("--experiments_dir", type=Path, default=APP_DIR / "experiments",
                        help="where the runs to choose from are (default: experiments/ next to app.py)")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", DEFAULT_HOST),
                        help=f"address to listen on (default: $GRADIO_SERVER_NAME, else {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=os.environ.get("GRADIO_SERVER_PORT", DEFAULT_PORT),
                        help=f"port (default: $GRADIO_SERVER_PORT, else {DEFAULT_PORT})")
    parser.add_argument("--variant", choices=ALL_VARIANTS, default=SERVING_VARIANT,
                        help="how the model runs (default: %(default)s, the fastest that keeps the accuracy; fp32 is the "
                             "PyTorch model as trained; see bench/RESULTS.md)")
    parser.add_argument("--review", type=Path, metavar="DATA_DIR",
                        help="also review the suspected label errors of this prepared folder's audit (python "
                             "audit_data.py DATA_DIR first); decisions go to DATA_DIR/review_log.jsonl (docs/review.md)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", level=logging.INFO)
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    code = exit_code_of(lambda: create_app(arguments.run, arguments.experiments_dir, arguments.variant, arguments.review).launch(
        server_name=arguments.host, server_port=arguments.port, ssr_mode=False
    ))
    # Serving stops only on Ctrl-C, which Gradio reports in one line ("Keyboard interruption ...").
    return INTERRUPTED_EXIT_CODE if code == 0 else code


if __name__ == "__main__":
    sys.exit(main())
