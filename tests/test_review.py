"""The review of an audit's suspects (textclf.audit.review, textclf.audit.review_page, app.py --review): the log,
row identities, REVIEW=1's training split, the report's reviewed-label scores, and the page in a real Chromium."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO_ROOT, write_csv
from test_app import ARTIFACTS_DIR, browser_or_skip, chromium_driver, free_port, serving, write_tiny_run
from test_audit import flipped_training_rows, two_word_sentiment_rows

import audit_data
import prepare_data
from textclf import UserInputError
from textclf.audit.review import (
    AUDIT_DIR,
    CHANGE,
    CHANGES_FILE,
    DROP,
    KEEP,
    LOG_FILE,
    SKIP,
    SUSPECTS_FILE,
    Decision,
    append_decision,
    apply_review,
    decided_now,
    load_review_data,
    load_suspects,
    read_log,
)
from textclf.problem_types import SINGLE_LABEL
from textclf.reports import audit_report
from textclf.runs.folder import EVAL_PREDICTIONS, RunInfo
from textclf.tasks import PROTOCOL

# gradio's queue uses pandas options that pandas 3 deprecates: not ours to fix (as in test_app.py).
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:gradio.queueing")

# Two rows whose texts are the same once normalised, with different labels: the audit's conflicting duplicate.
CONFLICT = [{"id": 500, "text": "storm news at the market", "target": "1"},
            {"id": 501, "text": "Storm news at the market!!", "target": "0"}]


def write_raw_tweets(raw: Path) -> Path:
    """Kaggle's files: 200 tweets of a learnable toy task, 5 of them mislabelled, plus a conflicting pair."""
    raw.mkdir(parents=True, exist_ok=True)
    tweets = [{"id": row["id"], "text": row["text"], "target": row["label"]} for row in flipped_training_rows()]
    write_csv(raw / "train.csv", tweets + CONFLICT, ["id", "keyword", "location", "text", "target"])
    write_csv(raw / "test.csv", [{"id": 1000 + row["id"], "text": row["text"]} for row in two_word_sentiment_rows(20, seed=6)],
              ["id", "keyword", "location", "text"])
    return raw


def prepare(data_dir: Path, *flags: str) -> Path:
    assert prepare_data.main(["--output_dir", str(data_dir), *flags]) == 0
    return data_dir


@pytest.fixture(scope="module")
def audited(tmp_path_factory) -> Path:
    """Tweets prepared by prepare_data.py and audited by audit_data.py (TF-IDF out-of-fold: seconds), as a user does."""
    root = tmp_path_factory.mktemp("review")
    data_dir = prepare(root / "tweets", "--task", "tweets", "--raw_dir", str(write_raw_tweets(root / "raw")))
    audit_data.main([str(data_dir), "--task", "tweets"])
    return data_dir


@pytest.fixture
def data(audited, tmp_path) -> Path:
    """A copy of the audited folder for one test to write its log into."""
    return shutil.copytree(audited, tmp_path / "tweets")


def decision(row_id: str, kind: str, new_label: str | None = None, split: str = "train", old_label: str = "0") -> Decision:
    return decided_now(row_id, split, old_label, kind, new_label)


def row_of(review, split: str, row: int) -> pd.Series:
    rows = review.rows
    return rows[(rows["split"] == split) & (rows["row"] == row)].iloc[0]


# --- The log ------------------------------------------------------------------------------------------


def test_each_decision_is_one_json_line_and_a_rows_last_decision_counts(tmp_path):
    log = tmp_path / LOG_FILE
    append_decision(log, decision("id:1", CHANGE, "1"))
    append_decision(log, decision("id:2", DROP))
    append_decision(log, decision("id:1", KEEP))  # changed its mind
    lines = log.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["decision"] for line in lines] == [CHANGE, DROP, KEEP]
    assert set(json.loads(lines[0])) == {"row_id", "split", "old_label", "decision", "new_label", "time"}
    assert json.loads(lines[0])["new_label"] == "1" and json.loads(lines[0])["time"].endswith("+00:00")
    read = read_log(log)
    assert len(read.decisions) == 3 and not read.broken_tail
    assert {row_id: d.decision for row_id, d in read.latest().items()} == {"id:1": KEEP, "id:2": DROP}
    assert read_log(tmp_path / "none.jsonl").decisions == []


def append_many(log: Path, writer: int, count: int, start) -> None:
    start.wait()
    for index in range(count):
        append_decision(log, decision(f"id:{writer}-{index}", SKIP))


def test_two_processes_appending_at_once_lose_no_decision_and_never_mix_lines(tmp_path):
    """Two tabs (or two app processes) deciding at the same moment: every decision is kept, whole."""
    log, count = tmp_path / LOG_FILE, 300
    context = multiprocessing.get_context("fork")
    start = context.Event()
    writers = [context.Process(target=append_many, args=(log, writer, count, start)) for writer in (1, 2)]
    for process in writers:
        process.start()
    start.set()
    for process in writers:
        process.join(timeout=120)
        assert process.exitcode == 0
    read = read_log(log)
    assert not read.broken_tail and len(read.decisions) == 2 * count
    for writer in (1, 2):  # each writer's decisions all there, in its own order
        assert [d.row_id for d in read.decisions if d.row_id.startswith(f"id:{writer}-")] == [
            f"id:{writer}-{index}" for index in range(count)]


def test_an_unfinished_last_line_is_left_out_with_one_warning_and_cut_off_by_the_next_decision(tmp_path, caplog):
    log = tmp_path / LOG_FILE
    for row in ("id:1", "id:2"):
        append_decision(log, decision(row, DROP))
    with open(log, "ab") as file:  # what a kill in the middle of a write leaves
        file.write(decision("id:3", KEEP).line()[:25])
    with caplog.at_level("WARNING", logger="textclf.audit.review"):
        read = read_log(log)
    assert [d.row_id for d in read.decisions] == ["id:1", "id:2"]
    assert "line 3, its last, is unfinished" in read.broken_tail
    assert len([r for r in caplog.records if "unfinished" in r.getMessage()]) == 1
    append_decision(log, decision("id:4", CHANGE, "1"))
    read = read_log(log)
    assert [d.row_id for d in read.decisions] == ["id:1", "id:2", "id:4"] and not read.broken_tail
    assert log.read_bytes().endswith(b"\n")
    # A complete last line that only lost its newline is kept, and the next decision starts a line of its own.
    log.write_bytes(log.read_bytes()[:-1])
    append_decision(log, decision("id:5", SKIP))
    assert [d.row_id for d in read_log(log).decisions] == ["id:1", "id:2", "id:4", "id:5"]
    # Damage with decisions after it is not guessed around: one clear error, for reading and appending.
    lines = log.read_bytes().split(b"\n")
    log.write_bytes(b"\n".join([lines[0], b'{"row_id": "id:9"', *lines[1:]]))
    before = log.read_bytes()
    for attempt in (lambda: read_log(log), lambda: append_decision(log, decision("id:6", KEEP))):
        with pytest.raises(UserInputError, match="line 2 is not a decision.*decisions follow it"):
            attempt()
    assert log.read_bytes() == before  # nothing decided is lost


# --- Row identities --------------------------------------------------------------------------------


def test_rows_are_named_by_their_id_so_a_review_survives_another_split_seed(tmp_path):
    raw = write_raw_tweets(tmp_path / "raw")
    first = load_review_data(prepare(tmp_path / "seed42", "--task", "tweets", "--raw_dir", str(raw), "--seed", "42"))
    second = load_review_data(prepare(tmp_path / "seed7", "--task", "tweets", "--raw_dir", str(raw), "--seed", "7"))
    assert first.by_id and second.by_id
    assert row_of(first, "train", 0)["row_id"] == f"id:{row_of(first, 'train', 0)['id']}"
    # A decision names the same tweet in the other preparation, whichever row and split it is in there.
    moved = 0
    for _, row in first.rows[first.rows["split"] != "test"].iterrows():
        again = second.rows[second.rows["row_id"] == row["row_id"]]
        assert len(again) == 1 and again["text"].iloc[0] == row["text"]
        moved += (again["split"].iloc[0], again["row"].iloc[0]) != (row["split"], row["row"])
    assert moved > 100


def test_without_unique_ids_rows_are_named_by_split_and_normalised_text(tmp_path):
    """prepare_data.py --task csv keeps the user's columns (here no id); IMDB's ids repeat across classes."""
    rows = [{"text": row["text"], "label": row["label"]} for row in two_word_sentiment_rows(120, seed=3)]
    source = write_csv(tmp_path / "mine.csv", rows)
    first = load_review_data(prepare(tmp_path / "a", "--task", "csv", "--input", str(source), "--seed", "1"))
    second = load_review_data(prepare(tmp_path / "b", "--task", "csv", "--input", str(source), "--seed", "2"))
    assert not first.by_id and first.rows["row_id"].str.startswith("text:").all()
    train_a, train_b = (review.rows[review.rows["split"] == "train"] for review in (first, second))
    stayed = train_a[train_a["text"].isin(set(train_b["text"]))]
    assert len(stayed) > 50  # most training rows stay in train under another seed: their names do not change
    assert stayed["row_id"].isin(set(train_b["row_id"])).all()
    moved = second.rows[(second.rows["split"] == "validation") & second.rows["text"].isin(set(train_a["text"]))]
    assert len(moved) and not moved["row_id"].isin(set(train_a["row_id"])).any()  # the split is part of the name
    # Case, links and punctuation do not change a name; repeated ids do not name rows.
    imdb = tmp_path / "imdb"
    imdb.mkdir()
    write_csv(imdb / "train.csv", [{"id": 0, "text": "Good movie http://x.y", "label": "pos"},
                                   {"id": 0, "text": "bad movie", "label": "neg"}])
    write_csv(imdb / "validation.csv", [{"id": 1, "text": "GOOD movie!", "label": "pos"}])
    review = load_review_data(imdb)
    assert not review.by_id and row_of(review, "train", 0)["row_id"] != row_of(review, "validation", 0)["row_id"]
    (imdb / "validation.csv").write_text("id,text,label\n1,good movie,pos\n", encoding="utf-8")
    (imdb / "train.csv").write_text("id,text,label\n0,bad movie,neg\n0,good movie,pos\n", encoding="utf-8")
    assert row_of(load_review_data(imdb), "train", 1)["row_id"] == row_of(review, "train", 0)["row_id"]


# --- Applying the review to the training split -------------------------------------------------------


def test_apply_changes_and_drops_training_rows_and_leaves_validation_and_test_alone(data, tmp_path):
    review = load_review_data(data)
    suspect = load_suspects(review).iloc[0]  # the audit's first suspect, which CLEAN drops below
    assert suspect["split"] == "train" and float(suspect["mislabel_confidence"]) > 0.5
    suspect = row_of(review, "train", int(suspect["row"]))
    train = [row for row in (row_of(review, "train", number) for number in range(8)) if row["id"] != suspect["id"]][:4]
    validation = row_of(review, "validation", 0)
    flip = {"0": "1", "1": "0"}
    for made in (decision(train[0]["row_id"], DROP), decision(train[0]["row_id"], CHANGE, flip[train[0]["label"]]),  # the last counts
                 decision(train[1]["row_id"], DROP), decision(train[2]["row_id"], KEEP), decision(train[3]["row_id"], SKIP),
                 decision(suspect["row_id"], CHANGE, flip[suspect["label"]]),
                 decision(validation["row_id"], CHANGE, flip[validation["label"]], split="validation")):
        append_decision(data / LOG_FILE, made)
    out = tmp_path / "tweets-reviewed"
    result = run_apply(data, out)
    assert result.returncode == 0, result.stderr
    before = pd.read_csv(data / "train.csv", dtype=str, keep_default_na=False)
    after = pd.read_csv(out / "train.csv", dtype=str, keep_default_na=False)
    assert len(after) == len(before) - 1 and train[1]["id"] not in set(after["id"])
    for row in (train[0], suspect):
        assert after.set_index("id").loc[row["id"], "target"] == flip[row["label"]]
    unchanged = before[~before["id"].isin([train[0]["id"], train[1]["id"], suspect["id"]])]
    assert after[after["id"].isin(unchanged["id"])].reset_index(drop=True).equals(unchanged.reset_index(drop=True))
    for name in ("validation.csv", "test.csv", LOG_FILE):  # validation decisions are scored by the report, never applied
        assert (out / name).read_bytes() == (data / name).read_bytes()
    changes = pd.read_csv(out / CHANGES_FILE, dtype=str, keep_default_na=False)
    assert set(map(tuple, changes[["id", "decision", "new_label"]].values.tolist())) == {
        (train[0]["id"], CHANGE, flip[train[0]["label"]]), (suspect["id"], CHANGE, flip[suspect["label"]]), (train[1]["id"], DROP, "")}
    protocol = (out / PROTOCOL).read_text(encoding="utf-8")
    assert protocol.startswith((data / PROTOCOL).read_text(encoding="utf-8"))
    assert "1 kept, 2 changed, 1 dropped, 1 skipped" in protocol and "1 validation rows are decided too" in protocol
    # CLEAN's copy of the folder, reviewed through the original's log: what CLEAN dropped stays dropped, the rest applies.
    cleaned = tmp_path / "tweets-clean"
    audit_data.main([str(data), "--task", "tweets", "--output_dir", str(tmp_path / "audit"), "--clean_output_dir", str(cleaned),
                     "--drop_suspects_above", "0.5"])
    assert suspect["id"] not in set(pd.read_csv(cleaned / "train.csv", dtype=str)["id"])
    apply_review(cleaned, tmp_path / "tweets-clean-reviewed", reviewed_dir=data)
    stacked = pd.read_csv(tmp_path / "tweets-clean-reviewed/train.csv", dtype=str).set_index("id")
    assert len(stacked) == len(pd.read_csv(cleaned / "train.csv")) - 1 and train[1]["id"] not in stacked.index
    assert stacked.loc[train[0]["id"], "target"] == flip[train[0]["label"]]


def run_apply(*arguments) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "textclf.audit.review", "apply", *map(str, arguments)],
                          capture_output=True, text=True, cwd=REPO_ROOT)


def test_a_log_of_other_data_or_no_log_is_one_error_line_and_the_log_stays_as_it_was(data, tmp_path):
    append_decision(data / LOG_FILE, decision("id:99999", DROP))  # no such tweet here
    before = (data / LOG_FILE).read_bytes()
    result = run_apply(data, tmp_path / "out")
    error = result.stderr.splitlines()[-1]  # after the log's INFO lines, one error line, no traceback
    assert result.returncode == 2 and error.startswith("error: ") and "Traceback" not in result.stderr
    assert "none of the 1 rows it decides is in" in error and "review of other data" in error
    assert (data / LOG_FILE).read_bytes() == before and not (tmp_path / "out").exists()
    (data / LOG_FILE).unlink()
    result = run_apply(data, tmp_path / "out")
    assert result.returncode == 2 and f"python app.py --review {data}" in result.stderr


# --- The page's logic (the browser test below clicks through it) ----------------------------------------


def test_the_page_shows_suspects_in_the_audits_order_with_readable_labels_and_why(data):
    from textclf.audit.review_page import ReviewPage

    assert (AUDIT_DIR, SUSPECTS_FILE) == ("audit", audit_report.SUSPECTS)  # where audit_data.py writes them
    page = ReviewPage(data)
    suspects = pd.read_csv(data / "audit" / SUSPECTS_FILE, dtype=str, keep_default_na=False)
    assert page.suspects["text"].tolist() == suspects["text"].tolist()
    assert page.label_choices() == [("not disaster", "0"), ("disaster", "1")]
    position, progress, text, labels, why, radio, *buttons = page.first_view()
    first = suspects.iloc[0]
    assert (position, text) == (0, first["text"]) and f"Suspect 1 of {len(suspects)}" in progress
    names = {"0": "not disaster", "1": "disaster"}
    assert f"Given label: **{names[first['given_label']]}** · suggested: **{names[first['suggested_label']]}**" in labels
    assert "mislabel confidence 0.9" in labels and "Model disagreement" in why
    assert radio.value == first["suggested_label"] and all(button.interactive for button in buttons)
    conflict = next(i for i, reason in enumerate(suspects["reason"]) if "conflicting duplicate" in reason)
    why = page.view(conflict, read_log(data / LOG_FILE))[4]
    assert "Conflicting duplicate" in why and "near duplicate" in why
    # Decisions go on from the first undecided suspect; skipped ones come back once the others are decided.
    assert page.decide(0, SKIP, None)[0] == 1
    assert page.decide(1, CHANGE, suspects.iloc[1]["suggested_label"])[0] == 2
    for position in range(2, len(suspects)):
        page.decide(position, KEEP, None)
    assert page.first_view()[0] == 0  # the skipped one
    assert page.decide(0, DROP, None)[0] is None
    assert "are decided" in page.first_view()[1]


def test_the_page_refuses_a_folder_without_an_audit_a_stale_audit_and_another_data_sets_log(data, tmp_path):
    from textclf.audit.review_page import ReviewPage

    bare = shutil.copytree(data, tmp_path / "bare", ignore=shutil.ignore_patterns("audit"))
    with pytest.raises(UserInputError, match=f"no audit to review .* make one with: python audit_data.py {bare} --task tweets"):
        ReviewPage(bare)
    suspects = (data / "audit" / SUSPECTS_FILE).read_text(encoding="utf-8")
    first = suspects.splitlines()[1].split(",")
    (data / "audit" / SUSPECTS_FILE).write_text(suspects.replace(",".join(first[:3]), ",".join([first[0], "0", first[2]]), 1))
    with pytest.raises(UserInputError, match="made before the data was prepared again.*audit again"):
        ReviewPage(data)
    (data / "audit" / SUSPECTS_FILE).write_text(suspects)
    append_decision(data / LOG_FILE, decision("id:99999", DROP))
    with pytest.raises(UserInputError, match="none of the 1 rows it decides"):
        ReviewPage(data)


@pytest.mark.slow
def test_app_with_review_of_a_folder_without_an_audit_exits_with_one_error_line(data, tmp_path, tiny_model, capsys):
    import app

    run = write_tiny_run(tmp_path / "project", tiny_model)
    shutil.rmtree(data / "audit")
    assert app.main(["--run", str(run), "--variant", "fp32", "--review", str(data)]) == 2
    error = capsys.readouterr().err.splitlines()[-1]  # after the model's loading messages, one line, no traceback
    assert error.startswith("error: ") and f"python audit_data.py {data} --task tweets" in error


# --- The report -----------------------------------------------------------------------------------------


def test_the_report_scores_validation_on_the_original_and_on_the_reviewed_labels(data, tmp_path):
    from textclf.reports.report import reviewed_validation_section, validation_metrics

    review = load_review_data(data)
    validation = review.rows[review.rows["split"] == "validation"]
    names = {"0": "not disaster", "1": "disaster"}
    truth = [names[label] for label in validation["label"]]
    other = {"disaster": "not disaster", "not disaster": "disaster"}
    predicted = [other[label] if row < 2 else label for row, label in enumerate(truth)]  # wrong on the first two rows
    table = pd.DataFrame({"label": truth, "prediction": predicted})
    run = tmp_path / "run"
    RunInfo(model="m", problem_type=SINGLE_LABEL, labels=["not disaster", "disaster"], metric="f1", text_columns=["text"],
            label_column="target", data={"train": {"file": str(data / "train.csv"), "rows": 1},
                                          "validation": {"file": str(data / "validation.csv"), "rows": len(table)}},
            class_names=names).write(run)
    table.to_csv(run / EVAL_PREDICTIONS, index=False)
    metrics = validation_metrics(table, SINGLE_LABEL, ["not disaster", "disaster"])
    assert reviewed_validation_section(run, RunInfo.read(run), table, metrics) == []  # no review log: no section
    value = {name: value for value, name in names.items()}
    # The reviewer says the model was right on row 0 (its label changes) and row 1 is not worth scoring (dropped).
    append_decision(data / LOG_FILE, decision(validation["row_id"].iloc[0], CHANGE, value[predicted[0]], split="validation"))
    append_decision(data / LOG_FILE, decision(validation["row_id"].iloc[1], DROP, split="validation"))
    append_decision(data / LOG_FILE, decision(validation["row_id"].iloc[2], KEEP, split="validation"))
    section = "\n".join(reviewed_validation_section(run, RunInfo.read(run), table, metrics))
    assert section.startswith("## Validation on the reviewed labels")
    assert f"decides 3 of the {len(table)} scored validation rows (1 kept, 1 changed, 1 dropped, 0 skipped" in section
    assert "trained on the training split as labelled (`REVIEW=1`" in section
    assert f"| rows | {len(table)} | {len(table) - 1} |" in section
    assert f"| accuracy | {(len(table) - 2) / len(table):.4f} | 1.0000 |" in section
    assert "| F1 of `disaster` |" in section
    # A folder that no longer has the scored rows is said so, not scored.
    (data / "validation.csv").write_text((data / "validation.csv").read_text().replace(",1\n", ",0\n"))
    assert "Not rescored: the validation rows of" in "\n".join(reviewed_validation_section(run, RunInfo.read(run), table, metrics))


# --- End to end -----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_review_setting_trains_on_the_corrected_rows_and_the_report_scores_both_labels(tmp_path, tiny_model):
    from test_scripts import run_script

    raw = write_raw_tweets(tmp_path / "raw")
    data = prepare(tmp_path / "data", "--task", "tweets", "--raw_dir", str(raw))
    review = load_review_data(data)
    changed, dropped, validation = row_of(review, "train", 0), row_of(review, "train", 1), row_of(review, "validation", 0)
    flip = "0" if changed["label"] == "1" else "1"
    for made in (decision(changed["row_id"], CHANGE, flip), decision(dropped["row_id"], DROP),
                 decision(validation["row_id"], DROP, split="validation")):
        append_decision(data / LOG_FILE, made)
    result = run_script("train_tweets.sh", tmp_path, tiny_model, raw, EPOCHS="1", REVIEW="1")
    assert "Applying the review log" in result.stdout and "REVIEW=1" in result.stdout
    reviewed = tmp_path / "data-reviewed"
    info = RunInfo.read(tmp_path / "run")
    assert info.data_file("train") == str(reviewed / "train.csv")
    assert info.data_rows("train") == len(pd.read_csv(data / "train.csv")) - 1  # trained without the dropped row
    trained_on = pd.read_csv(reviewed / "train.csv", dtype=str).set_index("id")
    assert trained_on.loc[changed["id"], "target"] == flip and dropped["id"] not in trained_on.index
    assert (reviewed / "validation.csv").read_bytes() == (data / "validation.csv").read_bytes()
    report = (tmp_path / "run/report.md").read_text(encoding="utf-8")
    assert "## Validation on the reviewed labels" in report and "(0 kept, 0 changed, 1 dropped, 0 skipped" in report
    assert "trained on the reviewed training split" in report


@contextmanager
def app_process(run: Path, data: Path):
    """`python app.py --review DATA_DIR` as a user starts it; stopped with Ctrl-C afterwards."""
    port = free_port()
    command = [sys.executable, "app.py", "--run", str(run), "--variant", "fp32", "--review", str(data), "--port", str(port)]
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert process.poll() is None, process.stdout.read()[-3000:]
            try:
                urllib.request.urlopen(url, timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline, "app.py did not start"
                time.sleep(1)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)


@pytest.mark.slow
def test_browser_reviews_three_suspects_by_mouse_and_keyboard_and_a_restart_goes_on_at_the_fourth(data, tmp_path, tiny_model):
    """Also takes the docs' picture: REVIEW_SCREENSHOT=docs/images/review_page.png"""
    import app

    browser_or_skip()
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    run = write_tiny_run(tmp_path / "project", tiny_model)
    suspects = load_suspects(load_review_data(data))
    assert len(suspects) >= 4
    screenshot = Path(os.environ.get("REVIEW_SCREENSHOT", ARTIFACTS_DIR / "review_page.png"))
    screenshot.parent.mkdir(parents=True, exist_ok=True)

    def showing(position: int):
        def shown(driver) -> bool:
            text = driver.find_element(By.CSS_SELECTOR, "#review-text textarea").get_attribute("value")
            return text == suspects["text"].iloc[position]
        return shown

    def explained(driver) -> bool:
        return bool([span for span in driver.find_elements(By.CSS_SELECTOR, "#review-explanation .score-token") if span.text.strip()])

    driver = chromium_driver(tmp_path / "chromium-profile")
    driver.set_window_size(1280, 1200)  # the whole page in the picture
    try:
        wait = WebDriverWait(driver, 90, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException))
        with serving(app.create_app(run, run.parent, variant="fp32", review=data)) as url:
            driver.get(url)
            wait.until(showing(0))
            assert "Given label: " + {"0": "not disaster", "1": "disaster"}[suspects["given_label"].iloc[0]] in \
                driver.find_element(By.ID, "review-labels").text
            wait.until(explained)
            driver.find_element(By.ID, "review-keep").click()  # the mouse
            wait.until(showing(1))
            ActionChains(driver).send_keys("c").perform()  # the keyboard: change to the suggested label
            wait.until(showing(2))
            ActionChains(driver).send_keys("d").perform()
            wait.until(showing(3))
        decisions = read_log(data / LOG_FILE).decisions
        with app_process(run, data) as url:  # a restart
            driver.get(url)
            wait.until(showing(3))
            wait.until(explained)
            assert f"Suspect 4 of {len(suspects)}" in driver.find_element(By.ID, "review-progress").text
            assert driver.get_screenshot_as_file(str(screenshot))
    finally:
        driver.quit()
    expected = [(suspects["row_id"].iloc[0], KEEP, None), (suspects["row_id"].iloc[1], CHANGE, suspects["suggested_label"].iloc[1]),
                (suspects["row_id"].iloc[2], DROP, None)]
    assert [(d.row_id, d.decision, d.new_label) for d in decisions] == expected
    assert [(d.row_id, d.decision, d.new_label) for d in read_log(data / LOG_FILE).decisions] == expected
    assert screenshot.stat().st_size > 10_000
