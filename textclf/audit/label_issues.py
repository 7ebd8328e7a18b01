"""Suspected label errors by confident learning: rows whose given label a model that never saw them doubts.

Every row is predicted by a model trained on the other folds (k-fold cross-validation), so a wrong
label cannot vouch for itself. cleanlab's find_label_issues estimates from these out-of-fold
probabilities how often each class was given in place of each other one, and flags that many rows,
the least likely first (Northcutt, Jiang and Chuang, "Confident Learning", JAIR 2021). Rows are ranked
by self-confidence, the out-of-fold probability of the given label; the *mislabel confidence* that
the cleaning thresholds read is 1 minus it.

The probabilities come from TF-IDF + logistic regression (tfidf_baseline.py's recipe: seconds) or
from a transformer fine-tuned by run_classification.py on each fold (`--oof transformer`: k runs).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from textclf import REPO_ROOT, UserInputError
from textclf.data.labels import sort_labels
from textclf.models.offline import DEFAULT_MODEL
from textclf.runs.folder import TEST_PREDICTIONS
from textclf.training.baseline import TfidfSettings, build_pipeline

logger = logging.getLogger(__name__)

OOF_MODELS = ("tfidf", "transformer")
RUN_CLASSIFICATION = REPO_ROOT / "run_classification.py"


@dataclass
class TransformerSettings:
    """How each fold's transformer is fine-tuned (`--oof transformer`)."""

    model: str = DEFAULT_MODEL
    epochs: float = 2.0
    max_seq_length: int = 128
    extra_arguments: list[str] = field(default_factory=list)  # any other run_classification.py arguments


@dataclass
class LabelIssueRanking:
    """The ranked rows, and how their out-of-fold probabilities were made (for audit.md and PROTOCOL.txt).

    `rows` are the rows of the ranked splits with given_label_probability, mislabel_confidence,
    suggested_label (the out-of-fold prediction) and issue_rank (cleanlab's order, -1 when not flagged).
    """

    rows: pd.DataFrame
    method: str
    seconds: float

    @property
    def issues(self) -> pd.DataFrame:
        return self.rows[self.rows["issue_rank"] >= 0].sort_values("issue_rank")


def stratified_folds(label_ids: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(training rows, held-out rows) of each fold, every class in every fold."""
    smallest = int(np.bincount(label_ids).min())
    if folds < 2:
        raise UserInputError(f"--folds {folds}: cross-validation needs at least 2 folds")
    if smallest < folds:
        raise UserInputError(
            f"--folds {folds}: the smallest class has {smallest} row(s) in the ranked splits; "
            "every fold needs one of each class, so lower --folds"
        )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(label_ids)), label_ids))


def tfidf_out_of_fold(texts: list[str], label_ids: np.ndarray, folds: list, seed: int) -> np.ndarray:
    """Out-of-fold class probabilities of the TF-IDF baseline with its default settings."""
    try:
        return cross_val_predict(build_pipeline(TfidfSettings(seed=seed)), texts, label_ids, cv=folds, method="predict_proba")
    except ValueError as error:  # "empty vocabulary" when min_df removes every n-gram of a fold
        raise UserInputError(f"TF-IDF + logistic regression cannot be fitted on a fold ({error})") from error


def fine_tune_fold(
    fold_dir: Path,
    table: pd.DataFrame,
    fold: tuple[np.ndarray, np.ndarray],
    label_names: list[str],
    settings: TransformerSettings,
    seed: int,
) -> np.ndarray:
    """Fine-tune on a fold's training rows with run_classification.py; its held-out rows' probabilities."""
    training_rows, heldout_rows = fold
    fold_dir.mkdir(parents=True)
    table.iloc[training_rows].to_csv(fold_dir / "train.csv", index=False)
    table.iloc[heldout_rows][["text"]].to_csv(fold_dir / "heldout.csv", index=False)
    command = [
        sys.executable, str(RUN_CLASSIFICATION),
        "--model_name_or_path", settings.model,
        "--train_file", str(fold_dir / "train.csv"),
        "--test_file", str(fold_dir / "heldout.csv"),
        "--text_column_names", "text",
        "--label_column_name", "label",
        "--do_train", "--do_predict",
        "--output_dir", str(fold_dir / "run"),
        "--num_train_epochs", str(settings.epochs),
        "--max_seq_length", str(settings.max_seq_length),
        "--seed", str(seed),
        "--save_strategy", "no",
        "--report_to", "none",
        "--disable_tqdm", "true",
        *settings.extra_arguments,
    ]  # fmt: skip
    environment = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run(command, capture_output=True, text=True, env=environment)
    if result.returncode != 0:
        last_line = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserInputError(f"--oof transformer: run_classification.py failed on {fold_dir.name}: {last_line}")
    predictions = pd.read_csv(fold_dir / "run" / TEST_PREDICTIONS)
    return predictions[[f"prob_{name}" for name in label_names]].to_numpy()


def transformer_out_of_fold(
    texts: list[str], labels: list[str], label_names: list[str], folds: list, settings: TransformerSettings, seed: int
) -> np.ndarray:
    """Out-of-fold class probabilities of a transformer fine-tuned once per fold (k runs)."""
    table = pd.DataFrame({"text": texts, "label": labels})
    probabilities = np.zeros((len(texts), len(label_names)))
    with tempfile.TemporaryDirectory(prefix="textclf-oof-") as work:
        for number, fold in enumerate(folds, start=1):
            logger.info(
                "Fold %d/%d: fine-tuning %s on %d rows, predicting %d", number, len(folds), settings.model, len(fold[0]), len(fold[1])
            )
            probabilities[fold[1]] = fine_tune_fold(Path(work) / f"fold{number}", table, fold, label_names, settings, seed)
    return probabilities


def rank_label_issues(label_ids: np.ndarray, probabilities: np.ndarray) -> pd.DataFrame:
    """cleanlab's verdict per row: probability of the given label, and rank among flagged rows (-1: not flagged)."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    quality = get_label_quality_scores(label_ids, probabilities, method="self_confidence")
    flagged = find_label_issues(label_ids, probabilities, return_indices_ranked_by="self_confidence")
    rank = np.full(len(label_ids), -1)
    rank[flagged] = np.arange(len(flagged))
    return pd.DataFrame({"given_label_probability": quality, "mislabel_confidence": 1.0 - quality, "issue_rank": rank})


def rank_rows(
    rows: pd.DataFrame, oof_model: str, folds: int, seed: int, settings: TransformerSettings | None = None
) -> LabelIssueRanking:
    """Rank the given labelled rows (usually the training split) by how likely their label is wrong."""
    label_names = sort_labels(set(rows["label"]))
    if len(label_names) < 2:
        raise UserInputError(f"the ranked rows hold only the label {label_names[0]!r}; there is nothing to compare")
    label_ids = rows["label"].map({name: index for index, name in enumerate(label_names)}).to_numpy()
    fold_rows = stratified_folds(label_ids, folds, seed)
    texts = rows["text"].tolist()
    started = time.monotonic()
    if oof_model == "transformer":
        settings = settings or TransformerSettings()
        probabilities = transformer_out_of_fold(texts, rows["label"].tolist(), label_names, fold_rows, settings, seed)
        method = f"{settings.model} fine-tuned by run_classification.py ({settings.epochs:g} epochs)"
    else:
        probabilities = tfidf_out_of_fold(texts, label_ids, fold_rows, seed)
        method = "TF-IDF + logistic regression (tfidf_baseline.py's defaults)"
    seconds = time.monotonic() - started
    scores = rank_label_issues(label_ids, probabilities)
    ranked = rows.assign(
        suggested_label=[label_names[index] for index in probabilities.argmax(axis=1)],
        **{column: scores[column].to_numpy() for column in scores.columns},
    )
    method = f"{method}, {folds}-fold out-of-fold probabilities (seed {seed}), ranked by cleanlab"
    logger.info("Ranked %d rows in %.1f s: %d suspected label errors", len(rows), seconds, (scores["issue_rank"] >= 0).sum())
    return LabelIssueRanking(ranked, method, seconds)


def plot_label_quality(ranking: LabelIssueRanking, path: Path) -> None:
    """Where the suspects sit: a histogram of the given label's probability, and that probability against length."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = ranking.rows
    flagged = rows["issue_rank"] >= 0
    figure, (histogram, scatter) = plt.subplots(1, 2, figsize=(11, 4))
    bins = np.linspace(0, 1, 41)
    probability = rows["given_label_probability"]
    histogram.hist(
        [probability[~flagged], probability[flagged]], bins=bins, stacked=True,
        color=["tab:blue", "tab:red"], label=["not flagged", "suspected label error"],
    )  # fmt: skip
    histogram.set_yscale("log")
    histogram.set_xlabel("out-of-fold probability of the given label")
    histogram.set_ylabel("rows")
    histogram.legend()
    characters = rows["text"].str.len().clip(lower=1)
    scatter.scatter(characters[~flagged], probability[~flagged], s=4, alpha=0.3, color="tab:blue")
    scatter.scatter(characters[flagged], probability[flagged], s=8, alpha=0.8, color="tab:red")
    scatter.set_xscale("log")
    scatter.set_xlabel("text length (characters)")
    scatter.set_ylabel("out-of-fold probability of the given label")
    for axes in (histogram, scatter):
        axes.grid(alpha=0.3)
    figure.suptitle(f"{flagged.sum():,} suspected label errors among {len(rows):,} rows")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
