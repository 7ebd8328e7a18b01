"""Shared fixtures: a tiny BERT made from a config (seconds to train) and small data files."""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

# Keep the tests' datasets/evaluate caches out of the user's ~/.cache (set before those libraries load).
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="textclf-tests-hf-")

REPO_ROOT = Path(__file__).resolve().parent.parent
POSITIVE_WORDS = ["good", "great", "happy", "fine"]
NEGATIVE_WORDS = ["bad", "awful", "sad", "poor"]
FILLER_WORDS = ["the", "movie", "was", "a", "day", "fire", "storm", "news", "team", "market", "won", "lost"]
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def make_tiny_bert(directory: Path) -> Path:
    """A randomly initialised 2-layer BERT with a word-level vocabulary of the test words."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    directory.mkdir(parents=True, exist_ok=True)
    vocab = SPECIAL_TOKENS + sorted(set(POSITIVE_WORDS + NEGATIVE_WORDS + FILLER_WORDS)) + list("abcdefghijklmnopqrstuvwxyz")
    tokenizer = BertTokenizer(vocab={token: index for index, token in enumerate(vocab)}, model_max_length=64)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)  # the same weights in every session, so training outcomes are reproducible
    BertModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def sentiment_rows(count: int, seed: int, labels=("0", "1"), words=(FILLER_WORDS, POSITIVE_WORDS, NEGATIVE_WORDS),
                   fillers: int = 4, separator: str = " ") -> list[dict]:
    """Short texts whose class is given away by one word: learnable in a few steps.

    `words`: the filler, positive and negative words (another language's, say)."""
    filler_words, positive_words, negative_words = words
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        positive = index % 2 == 1
        text = rng.sample(filler_words, fillers) + [rng.choice(positive_words if positive else negative_words)]
        rng.shuffle(text)
        rows.append({"id": index, "text": separator.join(text), "label": labels[int(positive)]})
    return rows


def write_csv(path: Path, rows: list[dict], columns: list[str] | None = None) -> Path:
    columns = columns or list(rows[0])
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def run_classification(*args: str, cwd: Path = REPO_ROOT, timeout: int = 300, launcher: tuple[str, ...] = ()):
    """Run the real command line in a subprocess, as a user would; `launcher` replaces `python`."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = [*(launcher or (sys.executable,)), str(REPO_ROOT / "run_classification.py"), *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


# Flags every quick run uses: tiny batches, a few steps, no checkpoints, no progress bars in logs.
QUICK_TRAINING = [
    "--per_device_train_batch_size", "8",
    "--per_device_eval_batch_size", "16",
    "--learning_rate", "2e-3",
    "--num_train_epochs", "2",
    "--save_strategy", "no",
    "--report_to", "none",
    "--disable_tqdm", "true",
    "--seed", "1",
]


@contextmanager
def hub_offline_flags_restored() -> Iterator[None]:
    """run_classification.main() (or decoupled/main.py's) in-process switches the hub libraries offline
    for the rest of the process (enable_offline_mode); this puts their flags back afterwards."""
    import datasets.config
    import evaluate.config
    from huggingface_hub import constants

    with pytest.MonkeyPatch.context() as monkeypatch:
        for name in ("HF_HUB_OFFLINE", "HF_EVALUATE_OFFLINE"):
            monkeypatch.setenv(name, os.environ.get(name, "0"))  # restored (or removed again) afterwards
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", constants.HF_HUB_OFFLINE)
        monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", datasets.config.HF_HUB_OFFLINE)
        monkeypatch.setattr(evaluate.config, "HF_EVALUATE_OFFLINE", evaluate.config.HF_EVALUATE_OFFLINE)
        yield


@pytest.fixture
def offline_mode_undone() -> Iterator[None]:
    with hub_offline_flags_restored():
        yield


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    from textclf.models.offline import DEFAULT_MODEL, resolve_model_name_or_path

    return Path(resolve_model_name_or_path(DEFAULT_MODEL).path)


def network_namespace_or_skip() -> None:
    """For the tests that run with no network at all (`unshare -n`, which needs root): skip where a network
    namespace is refused, fail instead under REQUIRE_NETWORK_ISOLATION=1 (CI, .ci/run, sets it)."""
    try:
        subprocess.run(["unshare", "-n", "true"], check=True, capture_output=True, timeout=30)
        return
    except (OSError, subprocess.SubprocessError) as error:
        said = (getattr(error, "stderr", None) or b"").decode(errors="replace").strip()
        message = f"cannot create a network namespace here (`unshare -n true`: {said or error}; it needs root)"
    if os.environ.get("REQUIRE_NETWORK_ISOLATION") == "1":
        pytest.fail(message)
    pytest.skip(message)
