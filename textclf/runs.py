"""Find the finished runs that run_classification.py leaves under `experiments/`, and read them.

A run is finished when it has its run_info.json (written last, after training and evaluation),
its config.json and its weights. Used by the web demo (app.py) and the Space builder; it imports
nothing heavy, so a Hugging Face Space can ship it next to app.py.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from textclf import UserInputError

logger = logging.getLogger(__name__)

# run_info.json's `task`: transformers' problem_type values.
SINGLE_LABEL = "single_label_classification"
MULTI_LABEL = "multi_label_classification"
REGRESSION = "regression"
RUN_INFO = "run_info.json"
VALIDATION_METRICS = "validation_metrics.json"
# Written by build_space.py: a Space ships a few example texts instead of the data files.
EXAMPLES_FILE = "examples.json"
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
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


def is_finished(run_dir: Path) -> bool:
    run_dir = Path(run_dir)
    return (
        (run_dir / RUN_INFO).is_file()
        and (run_dir / "config.json").is_file()
        and any((run_dir / name).is_file() for name in WEIGHT_FILES)
    )


def finished_runs(experiments_dir: Path) -> list[Path]:
    """Finished runs directly under `experiments_dir`, newest (last written run_info.json) first."""
    experiments_dir = Path(experiments_dir)
    if not experiments_dir.is_dir():
        return []
    runs = [path for path in experiments_dir.iterdir() if path.is_dir() and is_finished(path)]
    return sorted(runs, key=lambda path: (path / RUN_INFO).stat().st_mtime, reverse=True)


def resolve_run(run: str | Path | None, experiments_dir: Path) -> Path:
    """The run to serve: `run` when given (it must be finished), else the newest finished one."""
    if run:
        run_dir = Path(run)
        if not run_dir.is_dir():
            raise UserInputError(f"{run}: no such run directory; train one with: {TRAIN_COMMAND}")
        if not is_finished(run_dir):
            raise UserInputError(
                f"{run}: not a finished run (it needs {RUN_INFO}, config.json and model weights, which "
                f"run_classification.py writes at the end); train one with: {TRAIN_COMMAND}"
            )
        return run_dir
    runs = finished_runs(experiments_dir)
    if not runs:
        raise UserInputError(f"no finished run in {experiments_dir}/; train one with: {TRAIN_COMMAND}")
    return runs[0]


def read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UserInputError(f"{path}: cannot read it ({error}); train the run again with: {TRAIN_COMMAND}")


def read_run_info(run_dir: Path) -> dict:
    return read_json(Path(run_dir) / RUN_INFO)


def trained_truncation_tail_tokens(info: dict) -> int:
    """The --truncation_tail_tokens a run was trained with (its run_info.json); 0, upstream's cut, if none."""
    return info.get("hyperparameters", {}).get("truncation_tail_tokens") or 0


def read_validation_metrics(run_dir: Path) -> dict:
    """The run's validation metrics, or {} for a run trained without --do_eval."""
    path = Path(run_dir) / VALIDATION_METRICS
    return read_json(path) if path.is_file() else {}


def example_texts(run_dir: Path, count: int = 4) -> list[str]:
    """A few texts from the run's own task, one per class where possible.

    Taken from the Space's examples.json, else from the run's validation (or test) file, else
    generic ones: the data files of a run are not always where it was trained.
    """
    run_dir = Path(run_dir)
    if (run_dir / EXAMPLES_FILE).is_file():
        return read_json(run_dir / EXAMPLES_FILE)["examples"][:count]
    info = read_run_info(run_dir)
    for role in ("validation", "test"):
        data_file = find_data_file(info.get("data", {}).get(role, {}).get("file"), run_dir)
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


def examples_from_file(path: Path, info: dict, count: int) -> list[str]:
    """Short texts from a data file, the first of each class in turn, then the next ones."""
    import pandas as pd

    name = path.name.lower().removesuffix(".gz")
    try:
        if name.endswith((".json", ".jsonl")):
            table = pd.read_json(path, lines=name.endswith(".jsonl"), nrows=500 if name.endswith(".jsonl") else None)
        else:
            table = pd.read_csv(path, sep="\t" if name.endswith(".tsv") else ",", nrows=500)
    except (OSError, ValueError) as error:
        logger.warning("Cannot read examples from %s: %s", path, error)
        return []
    text_columns = [column for column in info.get("text_columns", []) if column in table.columns]
    if not text_columns:
        return []
    table = table.dropna(subset=text_columns)
    texts = table[text_columns].astype(str).agg(" ".join, axis=1)
    short = table.assign(_text=texts)[texts.str.len() <= EXAMPLE_MAX_CHARS]
    clean = short[~short["_text"].str.contains(NOISY_EXAMPLE)]
    if len(clean) >= count:
        short = clean
    label_column = info.get("label_column")
    if label_column in short.columns:
        # Round-robin over classes: the n-th row of each class comes before the (n+1)-th of any.
        rank = short.groupby(short[label_column].astype(str)).cumcount()
        short = short.assign(_rank=rank).sort_values("_rank", kind="stable")
    return short["_text"].head(count).tolist()
