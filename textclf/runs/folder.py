"""The run folder: the one owner of its file names and of run_info.json's schema.

Every trainer (run_classification.py, tfidf_baseline.py) writes a run folder; the report, the model
comparison, the split study, the web demo, the Space builder and the benchmarks read it. They all
take the names below and `RunInfo` from here. A run is finished when its run_info.json says so: the
trainers write it unfinished (the report reads it), then the report, then mark it finished as their
very last write, so a run interrupted at any point never counts as finished. Readers skip unfinished
runs and say why (`unfinished_reason`); an interrupted run continues with the same command
(textclf/runs/progress.py).

This module imports nothing heavy, so a Hugging Face Space can ship it next to app.py.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textclf import UserInputError, answer_about_directory, exit_code_of
from textclf.missing import is_none_nan_or_empty

logger = logging.getLogger(__name__)

# The files of a run folder.
RUN_INFO = "run_info.json"
CONFIG = "config.json"
REPORT = "report.md"
ALL_RESULTS = "all_results.json"
TRAINER_STATE = "trainer_state.json"
EVAL_PREDICTIONS = "eval_predictions.csv"  # validation rows: label, prediction, probabilities
TEST_PREDICTIONS = "predictions.csv"  # test rows, in file order
PREDICT_RESULTS = "predict_results.txt"  # upstream's `index<TAB>prediction`
SUBMISSION = "submission.csv"  # Kaggle's `id,<label column>`
BATCH_TEST_OUTPUT = "test_batch_predictions.csv"  # predict.py --as_test_split's table, until predictions.csv is made from it
VALIDATION_METRICS = "validation_metrics.json"
TEST_METRICS = "test_metrics.json"
LEARNING_CURVES = "learning_curves.png"
# The analysis of the validation predictions (textclf.reports.analysis) and the calibration (textclf.runs.calibration).
CALIBRATION = "calibration.json"  # temperature and decision threshold: measured, and whether applied
PRECISION_RECALL = "precision_recall.png"  # binary: precision-recall curve and F1 against the threshold
RELIABILITY = "reliability.png"  # reliability diagram
# Written by build_space.py: a Space ships a few example texts instead of the data files.
EXAMPLES_FILE = "examples.json"
TRANSFORMER_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
# Left by an unfinished run so that the same command continues it (textclf/runs/progress.py); removed when it finishes.
PROGRESS = "progress.json"  # the run's settings and whether training has finished
PREDICTION_CHUNKS = "prediction_chunks"  # logits of evaluation and prediction, a chunk of rows at a time
CHECKPOINT_PREFIX = "checkpoint"  # transformers' checkpoint-<step> folders (trainer_utils.PREFIX_CHECKPOINT_DIR)
BASELINE_MODEL = "tfidf-logreg"  # the TF-IDF + logistic regression baseline (tfidf_baseline.py)
BASELINE_MODEL_FILE = "model.joblib"  # its fitted vectorizer and classifier
WEIGHT_FILES = (*TRANSFORMER_WEIGHT_FILES, BASELINE_MODEL_FILE)

TRAIN_COMMAND = "bash scripts/train_tweets.sh"
FALLBACK_EXAMPLES = [
    "Forest fire near La Ronge Sask. Canada, residents asked to shelter in place",
    "What a lovely sunny afternoon at the beach with friends!",
    "The film was a slow, predictable mess; I left halfway through.",
    "Stocks rally as the central bank holds interest rates steady",
]
# Examples are shown on one line each; very long texts (IMDB reviews) make the page unreadable.
EXAMPLE_MAX_CHARS = 300
# Links and runs of "?" (characters lost in Kaggle's tweets) make poor examples; used only if needed.
NOISY_EXAMPLE = r"https?://|\?\?"


@dataclass
class RunInfo:
    """run_info.json: what was trained on what, how, and how long it took."""

    model: str  # what reports call the model: a hub id, a zoo model's name, a path, or BASELINE_MODEL
    problem_type: str  # a textclf.problem_types value (transformers' problem_type; "task" in run_info.json before 0.19)
    labels: list[str] | None  # class names in id order; None for regression
    metric: str  # the metric the trainer reported during training (--metric_name)
    text_columns: list[str]
    label_column: str
    data: dict[str, dict[str, Any]]  # role (train, validation, test) -> {"file": as typed, "rows": count}
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    parameters: int = 0
    model_path: str | None = None  # where the base model was loaded from
    device: str = "cpu"
    wall_time_seconds: float = 0.0
    command: str = ""
    fine_tuned: bool = True  # False for models trained from scratch (the baseline): "Trained", not "Fine-tuned"
    # The run's own model code (decoupled/main.py copies its modeling.py into the run): loading the model
    # runs that file (transformers' trust_remote_code), so only runs that record it are loaded that way.
    model_code: str | None = None
    # --class_names: label value in the data files -> the class name the run uses (Kaggle's "1" -> "disaster");
    # submission.csv maps the names back. Empty: the data's values are the names.
    class_names: dict[str, str] = field(default_factory=dict)
    # False until the run's last file is written (runs written before this field existed were finished).
    finished: bool = True
    resumed_from: str | None = None  # what an interrupted run continued from ("checkpoint-120 (step 120 of 640)")
    # The task script's resolved settings (scripts/lib/settings.sh), where a task script started the run.
    script_settings: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, run_dir: str | Path) -> RunInfo:
        content = read_json(Path(run_dir) / RUN_INFO)
        if "task" in content and "problem_type" not in content:  # written before 0.19 (the key's former name)
            content["problem_type"] = content.pop("task")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(content) - known)
        if unknown:
            logger.info("%s: ignoring keys this version does not know: %s", Path(run_dir) / RUN_INFO, unknown)
        try:
            return cls(**{key: value for key, value in content.items() if key in known})
        except TypeError as error:  # a required key missing
            raise UserInputError(f"{Path(run_dir) / RUN_INFO}: not a run_info.json of this toolkit ({error})") from None

    def write(self, run_dir: str | Path) -> Path:
        return write_json_atomically(Path(run_dir) / RUN_INFO, dataclasses.asdict(self))

    def write_finished(self, run_dir: str | Path) -> Path:
        """Mark the run finished: the trainers' last write, after every other file of the run."""
        return dataclasses.replace(self, finished=True).write(run_dir)

    @property
    def max_seq_length(self) -> int | None:
        return self.hyperparameters.get("max_seq_length")

    @property
    def truncation_tail_tokens(self) -> int:
        """The --truncation_tail_tokens the run was trained with; 0, upstream's cut, if none."""
        return self.hyperparameters.get("truncation_tail_tokens") or 0

    @property
    def precision(self) -> str:
        """What the run trained in: bf16 or fp16 mixed precision, else fp32 (textclf.hardware's names)."""
        return "bf16" if self.hyperparameters.get("bf16") else "fp16" if self.hyperparameters.get("fp16") else "fp32"

    @property
    def has_model_code(self) -> bool:
        return self.model_code is not None

    @property
    def is_baseline(self) -> bool:
        return self.model == BASELINE_MODEL

    def data_file(self, role: str) -> str | None:
        return self.data.get(role, {}).get("file")

    def data_rows(self, role: str) -> int | None:
        return self.data.get(role, {}).get("rows")



# The task scripts (scripts/lib/run_task.sh) hand their resolved settings to the trainer they start in this
# variable, one NAME=value a line, for the run's report.md.
SCRIPT_SETTINGS_VARIABLE = "TEXTCLF_SCRIPT_SETTINGS"


def script_settings_from_environment() -> dict[str, str]:
    """The settings of the task script that started this process; empty where none did."""
    lines = os.environ.get(SCRIPT_SETTINGS_VARIABLE, "").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def read_json(path: Path) -> dict:
    """A JSON file of a run; a missing or unreadable file is a one-line error."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UserInputError(f"{path}: cannot read it ({error}); train the run again with: {TRAIN_COMMAND}") from None


def read_optional_json(path: Path) -> dict:
    """A JSON file a run may lack (no evaluation, no training): {} when it is missing."""
    return read_json(path) if Path(path).exists() else {}


def write_json_atomically(path: Path, content: dict) -> Path:
    """Write JSON so that a reader never sees half a file: a temporary file, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.", delete=False) as file:
        try:
            json.dump(content, file, indent=2, ensure_ascii=False)
            file.write("\n")
            file.flush()
        except BaseException:
            os.unlink(file.name)  # a full disk, Ctrl-C: no half-written temporary file left behind
            raise
    if path.exists():  # a rewritten file keeps its permissions (temporary files are owner-only)
        shutil.copymode(path, file.name)
    os.replace(file.name, path)
    return path


def keep_config_readable(run_dir: str | Path) -> None:
    """Rewrite the saved config.json with its label names as written: transformers escapes every
    non-ASCII character ("\\u6b63\\u9762" for 正面), which a student opening the file cannot read."""
    path = Path(run_dir) / CONFIG
    if path.is_file():
        write_json_atomically(path, read_json(path))


def begin_writing(run_dir: str | Path) -> None:
    """A trainer is about to write into `run_dir`: whatever run was there no longer counts as finished."""
    (Path(run_dir) / RUN_INFO).unlink(missing_ok=True)


def unfinished_reason(run_dir: Path) -> str | None:
    """Why `run_dir` holds no finished run, or None when it does (any trainer's, the baseline's too)."""
    path = Path(run_dir) / RUN_INFO
    if not path.is_file():
        if (Path(run_dir) / PROGRESS).is_file():
            return f"interrupted before it finished (no {RUN_INFO} yet); run the same command again to continue it"
        return f"no {RUN_INFO}, which a run writes when it finishes"
    try:
        finished = json.loads(path.read_text(encoding="utf-8")).get("finished", True)
    except (OSError, ValueError, AttributeError) as error:
        return f"{RUN_INFO} unreadable ({error})"
    if not finished:
        return f"interrupted while writing its report ({RUN_INFO} says unfinished); run the same command again to finish it"
    return None


def has_transformer_model(run_dir: Path) -> bool:
    """Whether `run_dir` holds a transformer's config and weights (finished or not)."""
    run_dir = Path(run_dir)
    return (run_dir / CONFIG).is_file() and any((run_dir / name).is_file() for name in TRANSFORMER_WEIGHT_FILES)


def is_finished(run_dir: Path) -> bool:
    """A finished run of a transformer, which the demo can serve: config and weights as well."""
    return unfinished_reason(Path(run_dir)) is None and has_transformer_model(run_dir)


def looks_like_a_run(directory: Path) -> bool:
    """Whether a trainer has written into `directory` (so a reader skipping it should say why)."""
    return any((Path(directory) / name).exists() for name in (RUN_INFO, PROGRESS, CONFIG, TRAINER_STATE))


def finished_runs(experiments_dir: Path) -> list[Path]:
    """Finished runs directly under `experiments_dir`, newest (last written run_info.json) first.

    Unfinished runs are skipped with one log line each, saying why."""
    experiments_dir = Path(experiments_dir)
    if not experiments_dir.is_dir():
        return []
    runs = []
    for path in sorted(experiments_dir.iterdir()):
        if not path.is_dir():
            continue
        reason = unfinished_reason(path)
        if reason is None:
            if is_finished(path):
                runs.append(path)
        elif looks_like_a_run(path):
            logger.warning("Skipping %s: %s", path, reason)
    return sorted(runs, key=lambda path: (path / RUN_INFO).stat().st_mtime, reverse=True)


def resolve_run(run: str | Path | None, experiments_dir: Path) -> Path:
    """The run to serve: `run` when given (it must be finished), else the newest finished one."""
    if run:
        run_dir = Path(run)
        if not run_dir.is_dir():
            raise UserInputError(f"{run}: no such run directory; train one with: {TRAIN_COMMAND}")
        reason = unfinished_reason(run_dir)
        if reason is not None:
            raise UserInputError(f"{run}: not a finished run ({reason}); train one with: {TRAIN_COMMAND}")
        if not is_finished(run_dir):
            raise UserInputError(
                f"{run}: not a finished run of a transformer (it needs {CONFIG} and model weights, which "
                f"run_classification.py writes); train one with: {TRAIN_COMMAND}"
            )
        return run_dir
    runs = finished_runs(experiments_dir)
    if not runs:
        raise UserInputError(f"no finished run in {experiments_dir}/; train one with: {TRAIN_COMMAND}")
    return runs[0]


def read_validation_metrics(run_dir: Path) -> dict:
    """The run's validation metrics, or {} for a run trained without --do_eval."""
    return read_optional_json(Path(run_dir) / VALIDATION_METRICS)


def example_texts(run_dir: Path, count: int = 4) -> list[str]:
    """A few texts from the run's own task, one per class where possible.

    Taken from the Space's examples.json, else from the run's validation (or test) file, else
    generic ones: the data files of a run are not always where it was trained.
    """
    run_dir = Path(run_dir)
    if (run_dir / EXAMPLES_FILE).is_file():
        return read_json(run_dir / EXAMPLES_FILE)["examples"][:count]
    info = RunInfo.read(run_dir)
    for role in ("validation", "test"):
        data_file = find_data_file(info.data_file(role), run_dir)
        if data_file is not None:
            examples = examples_from_file(data_file, info, count)
            if examples:
                return examples
    return FALLBACK_EXAMPLES[:count]


def find_data_file(name: str | None, run_dir: Path) -> Path | None:
    """Data paths in run_info.json are as typed, relative to where training ran: usually the
    project root, the parent of experiments/."""
    if not name:
        return None
    for candidate in (Path(name), run_dir.parent.parent / name):
        if candidate.is_file():
            return candidate
    return None


def examples_from_file(path: Path, info: RunInfo, count: int) -> list[str]:
    """Short texts from a data file, the first of each class in turn, then the next ones."""
    from textclf.tables import read_table

    try:
        table = read_table(path, max_rows=500)
    except UserInputError as error:
        logger.warning("Cannot read examples: %s", error)
        return []
    text_columns = [column for column in info.text_columns if column in table.columns]
    if not text_columns:
        return []
    table = table[~table[text_columns].map(is_none_nan_or_empty).any(axis=1)]
    texts = table[text_columns].astype(str).agg(" ".join, axis=1)
    short = table.assign(_text=texts)[texts.str.len() <= EXAMPLE_MAX_CHARS]
    clean = short[~short["_text"].str.contains(NOISY_EXAMPLE)]
    if len(clean) >= count:
        short = clean
    if info.label_column in short.columns:
        # Round-robin over classes: the n-th row of each class comes before the (n+1)-th of any.
        rank = short.groupby(short[info.label_column].astype(str)).cumcount()
        short = short.assign(_rank=rank).sort_values("_rank", kind="stable")
    return short["_text"].head(count).tolist()



if __name__ == "__main__":
    # For the scripts: exit code 0 when DIR holds a finished run.
    sys.exit(exit_code_of(lambda: answer_about_directory(sys.argv[1:], "is-finished", unfinished_reason)))
