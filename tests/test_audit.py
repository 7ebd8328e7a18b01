"""audit_data.py: the data checks on planted problems, the label-error ranking, the cleaning and its errors."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pandas as pd
import pytest
from conftest import FILLER_WORDS, NEGATIVE_WORDS, POSITIVE_WORDS, REPO_ROOT, sentiment_rows, write_csv

import audit_data
from textclf.audit import label_issues
from textclf.audit.checks import load_prepared_data, run_checks
from textclf.reports.audit_report import SUSPECT_COLUMNS, rows_in_earlier_splits
from textclf.audit.label_issues import fine_tune_fold, rank_rows

FLIPPED = [11, 40, 87, 130, 177]  # training rows whose label the tests flip
PROTOCOL_TEXT = "prepare_data.py --task csv --val_size 0.1 --seed 42\n\nSummary: made by the test\n"


def two_word_sentiment_rows(count: int, seed: int) -> list[dict]:
    """sentiment_rows with two class words in each text instead of one.

    With one class word among five, TF-IDF + logistic regression is unsure even of clean rows (median
    out-of-fold probability of the label 0.88) and cleanlab flagged 2 to 5 of 5 flipped labels depending
    on the seeds (they were always the 5 lowest ranked); with two, the model is sure of what it learnt.
    """
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        positive = index % 2 == 1
        words = rng.sample(FILLER_WORDS, 3) + rng.sample(POSITIVE_WORDS if positive else NEGATIVE_WORDS, 2)
        rng.shuffle(words)
        rows.append({"id": index, "text": " ".join(words), "label": str(int(positive))})
    return rows


def flip(rows: list[dict], indices: list[int]) -> list[dict]:
    for index in indices:
        rows[index]["label"] = "1" if rows[index]["label"] == "0" else "0"
    return rows


def flipped_training_rows() -> list[dict]:
    """200 rows of a learnable toy task with the labels of FLIPPED swapped."""
    return flip(two_word_sentiment_rows(200, seed=4), FLIPPED)


def write_prepared_dir(directory, train: list[dict], validation: list[dict], test: list[dict]):
    """A directory as prepare_data.py leaves it: the three splits and PROTOCOL.txt."""
    directory.mkdir(parents=True, exist_ok=True)
    write_csv(directory / "train.csv", train, ["id", "text", "label"])
    write_csv(directory / "validation.csv", validation, ["id", "text", "label"])
    write_csv(directory / "test.csv", test, ["id", "text"])
    (directory / "PROTOCOL.txt").write_text(PROTOCOL_TEXT, encoding="utf-8")
    return directory


def toy_dir(tmp_path, train: list[dict] | None = None):
    """Training rows (default: the flipped ones), 40 validation rows with row 7 flipped, 30 unlabelled test rows."""
    validation = flip(two_word_sentiment_rows(40, seed=5), [7])
    return write_prepared_dir(tmp_path / "data", train or flipped_training_rows(), validation, two_word_sentiment_rows(30, seed=6))


def planted_rows(tmp_path):
    """Duplicates, a near duplicate, conflicting labels, train/test overlap and mojibake in a few rows."""
    train = [
        {"id": 0, "text": "Fire at the market http://t.co/abc", "label": "1"},
        {"id": 1, "text": "Fire at the market http://t.co/abc", "label": "1"},
        {"id": 2, "text": "@bob FIRE at the market!! https://t.co/xyz", "label": "1"},
        {"id": 3, "text": "storm news today", "label": "1"},
        {"id": 4, "text": "Storm news, today", "label": "0"},
        {"id": 5, "text": "Crash on the bridge\x89Û_ &amp; more", "label": "1"},
        {"id": 6, "text": "CafÃ© open late, a happy day for the team", "label": "0"},
    ]
    validation = [{"id": 7, "text": "a quiet day at the lake with the team", "label": "0"}, {"id": 11, "text": "fire at the market", "label": "1"}]
    test = [{"id": 8, "text": "storm news today"}, {"id": 9, "text": "STORM news today!!"}, {"id": 10, "text": "nothing shared"},
            {"id": 12, "text": "Fire at the market!"}]  # fmt: skip
    return load_prepared_data(write_prepared_dir(tmp_path / "planted", train, validation, test), "text", "label")


def test_exact_and_near_duplicates_ignore_case_urls_mentions_and_punctuation(tmp_path):
    findings = run_checks(planted_rows(tmp_path))
    assert findings.exact[findings.exact["split"] == "train"]["row"].tolist() == [0, 1]
    near = findings.near[findings.near["split"] == "train"]
    assert sorted(near.groupby("group")["row"].apply(list).tolist()) == [[0, 1, 2], [3, 4]]


def test_duplicates_with_conflicting_labels_have_no_majority_on_a_tie(tmp_path):
    conflicts = run_checks(planted_rows(tmp_path)).conflicts
    assert conflicts["row"].tolist() == [3, 4]
    assert conflicts["majority"].isna().all()


def test_train_test_overlap_counts_exact_and_normalised_texts(tmp_path):
    findings = run_checks(planted_rows(tmp_path))
    overlaps = {overlap["pair"]: overlap for overlap in findings.overlaps}
    assert overlaps["train/test"]["exact"]["row"].tolist() == [0]
    assert overlaps["train/test"]["normalised"]["row"].tolist() == [0, 1, 3]
    assert overlaps["train/validation"]["exact"].empty and overlaps["validation/test"]["normalised"]["row"].tolist() == [3]
    assert rows_in_earlier_splits(findings, "normalised", ["train", "validation", "test"]) == [0, 1, 3]


def test_mojibake_and_html_entities_are_found(tmp_path):
    debris = run_checks(planted_rows(tmp_path)).debris
    kinds = debris.groupby("row")["kind"].apply(lambda kinds: sorted(kind.split(" ")[0] for kind in kinds)).to_dict()
    assert kinds == {5: ["C1", "HTML"], 6: ["UTF-8"]}
    assert "\x89Û_" in debris.loc[debris["row"] == 5, "snippet"].iloc[0]


def test_flipped_labels_rank_among_the_top_suspects(tmp_path):
    data = load_prepared_data(toy_dir(tmp_path), "text", "label")
    ranking = rank_rows(data.split_rows("train"), "tfidf", folds=5, seed=42)
    assert sorted(ranking.issues["row"].head(len(FLIPPED))) == FLIPPED
    assert len(ranking.issues) <= len(FLIPPED) + 2
    flipped = ranking.rows.loc[ranking.rows["row"].isin(FLIPPED)]
    assert (flipped["mislabel_confidence"] > 0.9).all() and (flipped["suggested_label"] != flipped["label"]).all()


def run_audit(*arguments: str) -> None:
    audit_data.main([str(argument) for argument in arguments])


def test_audit_writes_report_suspects_and_plot(tmp_path):
    data_dir = toy_dir(tmp_path)
    run_audit(data_dir, "--task", "imdb", "--include_validation")
    audit_dir = data_dir / "audit"
    report = (audit_dir / "audit.md").read_text(encoding="utf-8")
    for heading in ("## Duplicates", "## Duplicates with conflicting labels", "## Overlap between splits", "## Class balance",
                    "## Text length", "## Encoding debris", "## Suspected label errors"):  # fmt: skip
        assert heading in report
    assert "![label quality](label_quality.png)" in report and (audit_dir / "label_quality.png").stat().st_size > 10_000
    suspects = pd.read_csv(audit_dir / "suspects.csv", dtype=str, keep_default_na=False)
    assert list(suspects.columns) == SUSPECT_COLUMNS
    train_issues = suspects[(suspects["split"] == "train") & (suspects["reason"] == "label issue")]
    assert set(FLIPPED) <= set(train_issues["row"].astype(int))
    assert "7" in suspects.loc[suspects["split"] == "validation", "row"].tolist()
    flipped = train_issues[train_issues["row"] == str(FLIPPED[0])].iloc[0]
    assert flipped["suggested_label"] != flipped["given_label"] and float(flipped["given_label_probability"]) < 0.1


def test_cleaning_drops_suspects_and_never_touches_validation_or_test(tmp_path):
    data_dir, clean_dir = toy_dir(tmp_path), tmp_path / "clean"
    run_audit(data_dir, "--include_validation", "--clean_output_dir", clean_dir, "--drop_suspects_above", "0.9")
    for name in ("validation.csv", "test.csv"):
        assert (clean_dir / name).read_bytes() == (data_dir / name).read_bytes()
    train = pd.read_csv(clean_dir / "train.csv", dtype=str)
    changes = pd.read_csv(clean_dir / "cleaning.csv", dtype=str)
    assert set(FLIPPED) <= set(changes["row"].astype(int)) and (changes["action"] == "dropped").all()
    assert len(train) == 200 - len(changes) and not train["id"].isin([str(row) for row in FLIPPED]).any()
    protocol = (clean_dir / "PROTOCOL.txt").read_text(encoding="utf-8")
    assert protocol.startswith(PROTOCOL_TEXT)
    assert f"dropped {len(changes)} flagged rows with mislabel confidence above 0.9" in protocol
    assert "--drop_suspects_above 0.9" in protocol
    assert sorted(path.name for path in tmp_path.iterdir()) == ["clean", "data"]  # no temporary directory left
    assert clean_dir.stat().st_mode == data_dir.stat().st_mode  # made as mkdir makes it, not owner-only


def test_relabelling_restores_the_flipped_labels(tmp_path):
    data_dir, clean_dir = toy_dir(tmp_path), tmp_path / "clean"
    run_audit(data_dir, "--clean_output_dir", clean_dir, "--relabel_suspects_above", "0.9")
    original = pd.read_csv(data_dir / "train.csv", dtype=str)
    train = pd.read_csv(clean_dir / "train.csv", dtype=str)
    truth = pd.DataFrame(two_word_sentiment_rows(200, seed=4)).astype(str)
    assert len(train) == 200 and (train["label"].iloc[FLIPPED] == truth["label"].iloc[FLIPPED]).all()
    changed = train["label"] != original["label"]
    assert set(FLIPPED) <= set(changed[changed].index)
    assert (pd.read_csv(clean_dir / "cleaning.csv")["action"] == "relabelled").sum() == changed.sum()


@pytest.mark.parametrize("merge", ["majority", "drop"])
def test_conflicting_duplicates_merge_to_the_majority_or_drop(tmp_path, merge):
    train = two_word_sentiment_rows(200, seed=4) + [
        {"id": 900, "text": "storm news today", "label": "1"},
        {"id": 901, "text": "Storm news today!", "label": "1"},
        {"id": 902, "text": "storm NEWS today", "label": "0"},
        {"id": 903, "text": "team market won", "label": "1"},
        {"id": 904, "text": "Team market won.", "label": "0"},
    ]
    data_dir, clean_dir = toy_dir(tmp_path, train), tmp_path / "clean"
    run_audit(data_dir, "--clean_output_dir", clean_dir, "--merge_conflicting_duplicates", merge)
    kept = set(pd.read_csv(clean_dir / "train.csv")["id"])
    dropped = set(pd.read_csv(clean_dir / "cleaning.csv")["id"])
    expected_kept = {900} if merge == "majority" else set()
    assert kept & {900, 901, 902, 903, 904} == expected_kept
    assert dropped == {900, 901, 902, 903, 904} - expected_kept
    assert len(kept) == 205 - len(dropped)
    suspects = pd.read_csv(data_dir / "audit" / "suspects.csv", dtype=str, keep_default_na=False)
    conflicting = suspects[suspects["reason"].str.contains("conflicting duplicate")].set_index("id")
    assert sorted(conflicting.index) == ["900", "901", "902", "903", "904"]
    assert conflicting.loc[["900", "901", "902"], "suggested_label"].tolist() == ["1", "1", "1"]
    assert conflicting.loc[["903", "904"], "suggested_label"].tolist() == ["", ""]  # a tie suggests nothing


def test_an_interrupted_cleaning_leaves_nothing_behind(tmp_path, monkeypatch):
    data_dir, clean_dir = toy_dir(tmp_path), tmp_path / "clean"

    def interrupted(*_arguments, **_options):
        raise KeyboardInterrupt

    monkeypatch.setattr("textclf.audit.cleaning.shutil.copyfile", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_audit(data_dir, "--clean_output_dir", clean_dir, "--drop_suspects_above", "0.9")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["data"]


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["{missing}"], "no such directory"),
        (["{data}", "--text_column", "body"], "no column 'body'"),
        (["{data}", "--task", "tweets"], "no label column 'target'"),
        (["{data}", "--drop_suspects_above", "0.9"], "the cleaning options need --clean_output_dir"),
        (["{data}", "--clean_output_dir", "{data}", "--drop_suspects_above", "0.9"], "is the data directory"),
        (["{data}", "--clean_output_dir", "{other}", "--drop_suspects_above", "0.9"], "was not written by audit_data.py"),
        (["{data}", "--folds", "300"], "lower --folds"),
    ],
)
def test_bad_input_is_one_error_line_and_exit_code_2(tmp_path, monkeypatch, capsys, arguments, message):
    data_dir = toy_dir(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    places = {"missing": tmp_path / "missing", "data": data_dir, "other": other}
    monkeypatch.setattr(sys, "argv", ["audit_data.py", *[argument.format(**places) for argument in arguments]])
    assert audit_data.cli() == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: ") and message in error
    assert (other / "notes.txt").read_text() == "mine"


@pytest.mark.slow
def test_command_line_error_is_one_line_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "audit_data.py"), str(tmp_path / "missing")], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'missing'}: no such directory; make one with prepare_data.py"


@pytest.mark.slow
def test_transformer_out_of_fold_probabilities_with_the_tiny_model(tmp_path, tiny_model, monkeypatch):
    rows = sentiment_rows(16, seed=3)
    data_dir = write_prepared_dir(tmp_path / "data", rows, sentiment_rows(4, seed=4), sentiment_rows(4, seed=5))
    rankings = []

    def recording_rank_rows(*arguments, **options):
        rankings.append(rank_rows(*arguments, **options))
        return rankings[-1]

    # Each fold as run_classification.py saw it: the rows it trained on (train.csv, and the count it
    # reports), the rows it scored (heldout.csv) and their probabilities.
    folds = []

    def recording_fine_tune_fold(fold_dir, *arguments, **options):
        probabilities = fine_tune_fold(fold_dir, *arguments, **options)
        trained = pd.read_csv(fold_dir / "train.csv", dtype=str, keep_default_na=False)["text"].tolist()
        scored = pd.read_csv(fold_dir / "heldout.csv", dtype=str, keep_default_na=False)["text"].tolist()
        train_samples = json.loads((fold_dir / "run" / "train_results.json").read_text())["train_samples"]
        folds.append({"trained": trained, "train_samples": train_samples, "scored": scored,
                      "probabilities": probabilities})
        return probabilities

    monkeypatch.setattr(audit_data, "rank_rows", recording_rank_rows)
    monkeypatch.setattr(label_issues, "fine_tune_fold", recording_fine_tune_fold)
    run_audit(
        data_dir, "--oof", "transformer", "--model", tiny_model, "--folds", "2", "--epochs", "1",
        "--run_arguments", "--per_device_train_batch_size 8 --learning_rate 2e-3",
    )  # fmt: skip
    report = (data_dir / "audit" / "audit.md").read_text(encoding="utf-8")
    assert f"{tiny_model} fine-tuned by run_classification.py (1 epochs), 2-fold" in report
    probabilities = rankings[0].rows["given_label_probability"]
    assert len(probabilities) == 16 and probabilities.between(0, 1).all() and probabilities.nunique() > 2

    # Out of fold: no row is scored by a model that trained on it, and each is scored once.
    texts = [row["text"] for row in rows]
    assert len(set(texts)) == 16  # a text names its row
    assert len(folds) == 2
    for fold in folds:
        assert not set(fold["trained"]) & set(fold["scored"]), "a fold scored rows it trained on"
        assert sorted(fold["trained"] + fold["scored"]) == sorted(texts)  # and trained on all the others
        assert fold["train_samples"] == len(fold["trained"]) == 8
    assert sorted(folds[0]["scored"] + folds[1]["scored"]) == sorted(texts)
    # Each row's probability is the one from the fold that held it out.
    ranked = rankings[0].rows.set_index("text")
    for fold in folds:
        for text, row_probabilities in zip(fold["scored"], fold["probabilities"]):
            given = row_probabilities[["0", "1"].index(ranked.loc[text, "label"])]
            assert ranked.loc[text, "given_label_probability"] == pytest.approx(given)
