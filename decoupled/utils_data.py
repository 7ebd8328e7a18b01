"""Step 1 of 3, the data: read the files, turn labels into ids and texts into token ids, make batches;
and at the end, write the predictions out.

The readers are the toolkit's own (textclf): the same file formats as run_classification.py (CSV,
TSV, JSON, JSON lines, gzipped or not) and the same one-line errors for a missing file, a missing
column, a single class. What you would change is here: which columns make the text
(`load_splits`), how a text becomes token ids (`tokenize_split`), how rows become batches
(`collate`, `train_batches`, `eval_batches`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from datasets import Dataset, DatasetDict
from torch.utils.data import DataLoader, RandomSampler
from transformers.trainer_pt_utils import LengthGroupedSampler

from textclf.data.labels import LABEL, encode_label, every_row_labelled, read_single_label_classes
from textclf.data.loading import join_text_columns, load_data_files, resolve_text_columns, source_of
from textclf.problem_types import SINGLE_LABEL
from textclf.runs.calibration import Calibration
from textclf.runs.folder import EVAL_PREDICTIONS, PREDICT_RESULTS, TEST_PREDICTIONS
from textclf.runs.predictions import ID_COLUMN, write_logits, write_predict_results
from textclf.tokenization import tokenize
from textclf.training.trainer import first_rows, length_order

TEXT_DELIMITER = " "  # between the values of several text columns (title, body)
SAMPLINGS = ("group_by_length", "random")  # train_batches' orders (run_classification.py's --train_sampling_strategy)


def load_data(files: dict[str, str | None], tokenizer, text_column_names: str | None, label_column_name: str | None,
              max_length: int, tail_tokens: int = 0, max_train_samples: int | None = None,
              max_eval_samples: int | None = None, seed: int = 42,
              class_names: dict[str, str] | None = None) -> tuple[DatasetDict, DatasetDict, list[str], list[str]]:
    """Read and tokenize the splits: (tables as read, tokenized splits, text columns, class names)."""
    tables, text_columns, labels = load_splits(files, text_column_names, label_column_name, class_names)
    tables["train"] = first_rows(tables["train"].shuffle(seed=seed), max_train_samples)  # a random subset
    tables["validation"] = first_rows(tables["validation"], max_eval_samples)
    data = DatasetDict({split: tokenize_split(table, tokenizer, text_columns, max_length, tail_tokens, labels)
                        for split, table in tables.items()})
    return tables, data, text_columns, labels


def load_splits(data_files: dict[str, str], text_column_names: str | None, label_column_name: str | None,
                class_names: dict[str, str] | None = None) -> tuple[DatasetDict, list[str], list[str]]:
    """The train, validation and test tables (labels as strings in a "label" column), the text
    columns, and the class names in id order (sorted: "0" before "1", "negative" before "positive")."""
    data_files = {split: path for split, path in data_files.items() if path}
    splits = load_data_files(data_files)  # each file on its own: a test file without labels is fine
    sources = {split: source_of(split, data_files) for split in splits}
    text_columns = resolve_text_columns(text_column_names, splits["train"].column_names, sources["train"])
    for split in splits:  # every file must have the text columns, not just the training file
        resolve_text_columns(",".join(text_columns), splits[split].column_names, sources[split])
    # The label column becomes "label"; train and validation rows without a label are dropped. One
    # class per text only: regression and multi-label data are run_classification.py's.
    splits, labels, _ = read_single_label_classes(splits, label_column_name, sources, "the decoupled edition", class_names)
    return splits, text_columns, labels


def tokenize_split(split: Dataset, tokenizer, text_columns: list[str], max_length: int, tail_tokens: int,
                   labels: list[str]) -> Dataset:
    """Token ids and attention mask per row, unpadded (each batch pads later), and the class id
    (-1 for a test row without a label)."""

    label_to_id = {label: i for i, label in enumerate(labels)}

    def encode(rows: dict[str, list]) -> dict[str, list]:
        texts = join_text_columns(rows, text_columns, TEXT_DELIMITER)
        # Cut at max_length tokens; with tail_tokens > 0 a long text keeps its end too (head+tail).
        encoded = dict(tokenize(tokenizer, texts, max_length, tail_tokens))
        if LABEL in rows:
            encoded[LABEL] = [encode_label(label, label_to_id, SINGLE_LABEL) for label in rows[LABEL]]
        return encoded

    return split.map(encode, batched=True, remove_columns=split.column_names, desc="Tokenizing")


def collate(tokenizer, pad_to_multiple_of: int | None = None):
    """A function that turns a list of rows into one batch of tensors.

    Dynamic padding: each batch is padded only to its own longest row, not to max_length; on a CPU
    that is most of the speed (tweets are ~30 tokens, padding them to 128 makes every step 4x the work).
    """

    def collate_rows(rows: list[dict]) -> dict[str, torch.Tensor]:
        inputs = [{name: value for name, value in row.items() if name != LABEL} for row in rows]
        batch = tokenizer.pad(inputs, padding=True, pad_to_multiple_of=pad_to_multiple_of, return_tensors="pt")
        if LABEL in rows[0]:
            batch["labels"] = torch.tensor([row[LABEL] for row in rows])
        return dict(batch)

    return collate_rows


def train_batches(dataset: Dataset, batch_size: int, collate_fn, seed: int,
                  sampling: str = "group_by_length") -> DataLoader:
    """Training batches in a new random order each epoch, the same orders for the same seed.

    group_by_length (the default): rows of similar length together, so they pad little. The rows are
    shuffled, cut into groups of 50 batches, and each group is sorted by length (transformers'
    LengthGroupedSampler, what run_classification.py's `group_by_length` uses): random enough to train
    well. random: plain shuffled rows (more padding, more varied batches).

    Every random number of the batch order comes from one generator, the loader's `generator`: main.py
    saves its state when an epoch starts, so that a resumed run reads the rest of the epoch in the
    order the interrupted run would have.
    """
    generator = torch.Generator().manual_seed(seed)
    if sampling == "group_by_length":
        lengths = [len(ids) for ids in dataset["input_ids"]]
        sampler = LengthGroupedSampler(batch_size, lengths=lengths, generator=generator)
    elif sampling == "random":
        sampler = RandomSampler(dataset, generator=generator)
    else:
        raise ValueError(f"unknown sampling {sampling!r}; choose one of {SAMPLINGS}")
    # The loader draws a seed for its workers each epoch too: from the same generator, not torch's global one.
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, collate_fn=collate_fn, generator=generator)


def eval_batches(dataset: Dataset, batch_size: int, collate_fn) -> tuple[DataLoader, np.ndarray]:
    """Batches of the rows longest first (they barely pad), and that order: `in_file_order` undoes it."""
    order = length_order(dataset)
    return DataLoader(dataset.select(order), batch_size=batch_size, collate_fn=collate_fn), order


def in_file_order(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Rows computed in `order` put back in file order, so each prediction meets its own row."""
    restored = np.empty_like(values)
    restored[order] = values
    return restored


def write_predictions(out: Path, tables: DatasetDict, data: DatasetDict, id2label: dict[int, str],
                      eval_logits: np.ndarray, test_logits: np.ndarray | None,
                      calibration: Calibration = Calibration()) -> None:
    """eval_predictions.csv, and for a test file predictions.csv and predict_results.txt: one row per
    row of the file, in file order, with the probability of every class (the report, the demo's
    examples and Kaggle's submission.csv are made from them). The test predictions apply the run's
    `calibration` (temperature, threshold); the validation rows it was fitted on stay as the model gave
    them."""

    def ids(split: str) -> list | None:
        return tables[split][ID_COLUMN] if ID_COLUMN in tables[split].column_names else None

    truth = np.array(data["validation"][LABEL])
    write_logits(out / EVAL_PREDICTIONS, eval_logits, SINGLE_LABEL, id2label, ids("validation"), truth)
    if test_logits is not None:  # a test file labelled on every row (IMDB's) is scored too; Kaggle's has no labels
        scored = LABEL in data["test"].column_names and every_row_labelled(data["test"], SINGLE_LABEL)
        truth = np.array(data["test"][LABEL]) if scored else None
        names = write_logits(out / TEST_PREDICTIONS, test_logits, SINGLE_LABEL, id2label, ids("test"), truth,
                             calibration)
        write_predict_results(str(out / PREDICT_RESULTS), names, SINGLE_LABEL)
