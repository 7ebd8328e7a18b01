"""Interrupted work resumes and nothing is half-written.

SIGKILL at named points of preparation, training and prediction (textclf/faults.py), Ctrl-C and a
full disk (a small tmpfs), then the same command again: the final files equal an uninterrupted
run's, and nothing unfinished ever counts as finished.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO_ROOT, run_classification, sentiment_rows, write_csv

from textclf import UserInputError
from textclf.faults import KILL_AT
from textclf.hardware import fast_precision
from textclf.data.preparation import incomplete_reason
from textclf.runs.folder import PREDICTION_CHUNKS, PROGRESS, RunInfo, finished_runs, resolve_run, unfinished_reason

KILLED = -signal.SIGKILL
# The files an uninterrupted run is compared with; probabilities are written with 6 decimals.
PREDICTION_TABLES = ("predictions.csv", "eval_predictions.csv", "submission.csv")
SAME_TEXT = ("predict_results.txt", "validation_metrics.json")


# --------------------------------------------------------------------------- helpers


def tiny_data(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    rows = sentiment_rows(88, seed=4)
    write_csv(directory / "train.csv", rows[:64])
    write_csv(directory / "validation.csv", rows[64:])
    write_csv(directory / "test.csv", [{**row, "id": 500 + 3 * row["id"]} for row in sentiment_rows(40, seed=5)], columns=["id", "text"])
    return directory


def training_command(model: Path, data: Path, output_dir: Path, *extra: str) -> list[str]:
    """8 steps an epoch, 2 epochs; a checkpoint every 3 steps (and at the end); chunks of 8 rows.

    (The scripts save by the clock, --save_every_minutes: tested below with the script.)"""
    return [
        "--model_name_or_path", str(model), "--train_file", str(data / "train.csv"),
        "--validation_file", str(data / "validation.csv"), "--test_file", str(data / "test.csv"),
        "--do_train", "--do_eval", "--do_predict", "--shuffle_train_dataset", "--max_seq_length", "32",
        "--per_device_train_batch_size", "8", "--per_device_eval_batch_size", "8", "--learning_rate", "2e-3",
        "--num_train_epochs", "2", "--train_sampling_strategy", "group_by_length", "--eval_strategy", "epoch",
        "--save_strategy", "steps", "--save_steps", "3", "--save_total_limit", "1",
        "--prediction_chunk_rows", "8", "--report_to", "none", "--disable_tqdm", "true", "--seed", "1",
        "--output_dir", str(output_dir), *extra,
    ]  # fmt: skip


def run_killed_at(point: str, *args: str) -> subprocess.CompletedProcess:
    os.environ[KILL_AT] = point
    try:
        return run_classification(*args)
    finally:
        del os.environ[KILL_AT]


def output(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


def last_line(result: subprocess.CompletedProcess) -> str:
    return result.stderr.strip().splitlines()[-1]


def resumed_at(result: subprocess.CompletedProcess) -> list[tuple[int, int]]:
    """(epoch, global step) of each "Resuming training from checkpoint" line: what the Trainer says when it
    loads a checkpoint's state, weights and optimizer (`trainer.train(resume_from_checkpoint=...)`), and
    only then; the toolkit's own "resuming training at" line is printed before it is asked to."""
    found = re.findall(r"Resuming training from checkpoint with epoch (\d+) and global step (\d+)", output(result))
    return [(int(epoch), int(step)) for epoch, step in found]


def saved_steps(result: subprocess.CompletedProcess) -> list[int]:
    """The global steps of the checkpoints this process saved: a process that resumed from step n saves none
    at or before n; one that quietly started again from zero saves them all again (training is seeded, so
    its final files would be the same)."""
    return [int(step) for step in re.findall(r"Saving model checkpoint to \S*checkpoint-(\d+)", output(result))]


def assert_same_results(run_dir: Path, reference: Path) -> None:
    """The same rows in the same order, the same predictions and probabilities, nothing left of resuming."""
    for name in PREDICTION_TABLES:
        ours, theirs = pd.read_csv(run_dir / name), pd.read_csv(reference / name)
        assert list(ours.columns) == list(theirs.columns) and len(ours) == len(theirs), name
        probabilities = [column for column in ours.columns if column.startswith("prob_")]
        pd.testing.assert_frame_equal(ours.drop(columns=probabilities), theirs.drop(columns=probabilities))
        pd.testing.assert_frame_equal(ours[probabilities], theirs[probabilities], atol=1e-5, rtol=0)
    for name in SAME_TEXT:
        assert (run_dir / name).read_text() == (reference / name).read_text(), name
    assert unfinished_reason(run_dir) is None
    assert not list(run_dir.glob("checkpoint-*")) and not (run_dir / PREDICTION_CHUNKS).exists()
    assert not (run_dir / PROGRESS).exists()


@contextmanager
def small_disk(path: Path, size: str):
    """A tmpfs of `size` at `path`: a disk that fills up. Mounting needs root (or CAP_SYS_ADMIN)."""
    path.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.fail(f"the full-disk test needs to mount a tmpfs (root or CAP_SYS_ADMIN): {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=False)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return tiny_data(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_model, data) -> Path:
    """The same run, uninterrupted."""
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    result = run_classification(*training_command(tiny_model, data, run_dir))
    assert result.returncode == 0, output(result)[-3000:]
    assert RunInfo.read(run_dir).resumed_from is None
    return run_dir


# --------------------------------------------------------------------------- training and prediction


@pytest.mark.slow
def test_killed_anywhere_the_same_command_finishes_the_run_as_if_uninterrupted(tmp_path, tiny_model, data, reference):
    run_dir = tmp_path / "experiments" / "run"
    command = training_command(tiny_model, data, run_dir)
    # Each attempt of the same command: where it is killed, what it says it continues from, where the
    # Trainer really started (epoch, global step; None: from scratch, or no training), the checkpoints it saved.
    stages = [
        ("train:step-5", "***** Running training *****", None, [3]),  # 5 of 8 steps of the first epoch
        ("train:step-11", f"resuming training at {run_dir}/checkpoint-3", (0, 3), [6, 9]),  # into the second epoch
        ("train:saved", f"resuming training at {run_dir}/checkpoint-9", (1, 9), [12, 15, 16]),  # final model saved, not yet marked trained
        ("predict:test-chunk-1", f"resuming training at {run_dir}/checkpoint-16", (2, 16), []),  # 2 of 5 test chunks saved
        ("report:written", "test: reusing 2 of 5 chunks", None, []),  # everything written but the finished mark
    ]  # fmt: skip
    for point, says, started_at, saved in stages:
        result = run_killed_at(point, *command)
        assert result.returncode == KILLED, output(result)[-3000:]
        assert says in output(result), point
        assert resumed_at(result) == ([started_at] if started_at else []), point
        assert saved_steps(result) == saved, point  # a resumed attempt saves none of the steps it continues from
        assert unfinished_reason(run_dir) is not None  # never counts as finished, whatever is there
        assert finished_runs(run_dir.parent) == []
    result = run_classification(*command)
    assert result.returncode == 0, output(result)[-3000:]
    assert "Training finished earlier" in output(result) and "test: reusing 5 of 5 chunks" in output(result)
    assert resumed_at(result) == [] and saved_steps(result) == []  # no training at all
    assert_same_results(run_dir, reference)
    assert RunInfo.read(run_dir).resumed_from == "the trained model"
    assert "Interrupted, then continued from the trained model" in (run_dir / "report.md").read_text()


@pytest.mark.slow
def test_ctrl_c_then_the_run_continues_only_with_its_own_settings(tmp_path, tiny_model, data, reference):
    run_dir = tmp_path / "run"
    command = training_command(tiny_model, data, run_dir)
    process = subprocess.Popen([sys.executable, str(REPO_ROOT / "run_classification.py"), *command], text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env={**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"},
                               # As a terminal's foreground job: a suite started in the background (`&`) has SIGINT
                               # ignored, which children inherit, and Python then leaves Ctrl-C ignored.
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen, sent = [], False
    for line in process.stdout:
        seen.append(line)
        if "Saving model checkpoint to" in line and "checkpoint-6" in line:  # checkpoint-3 is complete
            process.send_signal(signal.SIGINT)  # what Ctrl-C in a terminal sends
            sent = True
            break
    seen.append(process.stdout.read())
    assert sent, "no checkpoint-6 was saved: " + "".join(seen)[-3000:]
    assert process.wait(timeout=120) == 130, "".join(seen)[-3000:]
    assert "Traceback" not in "".join(seen)
    assert "".join(seen).strip().splitlines()[-1] == "interrupted (Ctrl-C); run the same command again to continue where it stopped"
    assert unfinished_reason(run_dir) is not None

    other = run_classification(*training_command(tiny_model, data, run_dir, "--learning_rate", "1e-3"))
    assert other.returncode == 2 and "Traceback" not in other.stderr
    assert last_line(other).startswith(f"error: {run_dir} holds an interrupted run started with other settings "
                                       "(learning_rate: 0.002 then, 0.001 now)")
    assert "--overwrite_output_dir" in last_line(other)

    again = run_classification(*command, "--overwrite_output_dir")  # transformers 4.x's meaning: from scratch
    assert again.returncode == 0, output(again)[-3000:]
    assert "--overwrite_output_dir: training from scratch" in output(again) and "Checkpoint detected" not in output(again)
    assert_same_results(run_dir, reference)
    assert RunInfo.read(run_dir).resumed_from is None

    finished = run_classification(*command)  # upstream refused a used --output_dir with nothing to resume
    assert finished.returncode == 2
    assert last_line(finished).startswith(f"error: Output directory ({run_dir}) already exists and is not empty (a finished run)")


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_leaves_nothing_a_rerun_would_trust(tmp_path, tiny_model, data, reference):
    raw = tmp_path / "raw"
    write_raw_tweets(raw, rows=2000, padding=200)  # about 0.5 MB of CSV: more than the disk holds
    with small_disk(tmp_path / "disk", "300k") as disk:
        prepared = subprocess.run(
            [sys.executable, str(REPO_ROOT / "prepare_data.py"), "--task", "tweets", "--raw_dir", str(raw),
             "--output_dir", str(disk / "data")], capture_output=True, text=True)
        assert prepared.returncode == 2 and "Traceback" not in prepared.stderr
        assert last_line(prepared) == f"error: {disk / 'data'}: cannot write output ([Errno 28] No space left on device)"
        assert list(disk.iterdir()) == []  # no half-written folder, no hidden partial one either

        run_dir = disk / "run"
        command = training_command(tiny_model, data, run_dir)
        result = run_classification(*command)
        assert result.returncode == 2 and "Traceback" not in result.stderr, output(result)[-3000:]
        assert last_line(result).endswith("no space left on device; free some space and run the same command again")
        assert unfinished_reason(run_dir) is not None

        subprocess.run(["mount", "-o", "remount,size=20m", str(disk)], check=True)  # space freed
        result = run_classification(*command)
        assert result.returncode == 0, output(result)[-3000:]
        assert_same_results(run_dir, reference)


# --------------------------------------------------------------------------- preparation


def write_raw_tweets(raw: Path, rows: int, padding: int = 0) -> list[dict]:
    """Kaggle's train.csv and test.csv (no target); the test rows."""
    raw.mkdir(parents=True)
    extra = " " + "x" * padding if padding else ""
    write_csv(raw / "train.csv", [
        {"id": r["id"], "keyword": "", "location": "", "text": r["text"] + extra, "target": r["label"]}
        for r in sentiment_rows(rows, seed=4)
    ])
    test_rows = [{"id": 1000 + r["id"] * 3, "keyword": "", "location": "", "text": r["text"]} for r in sentiment_rows(30, seed=5)]
    write_csv(raw / "test.csv", test_rows)
    return test_rows


def prepare(raw: Path, output_dir: Path, kill_at: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **({KILL_AT: kill_at} if kill_at else {})}
    command = [sys.executable, str(REPO_ROOT / "prepare_data.py"), "--task", "tweets", "--raw_dir", str(raw), "--output_dir", str(output_dir)]
    return subprocess.run(command, capture_output=True, text=True, env=env)


def folder_bytes(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


@pytest.mark.slow
def test_preparation_killed_anywhere_never_leaves_a_folder_that_counts_as_prepared(tmp_path):
    raw = tmp_path / "raw"
    write_raw_tweets(raw, rows=200)
    assert prepare(raw, tmp_path / "reference").returncode == 0
    expected = folder_bytes(tmp_path / "reference")
    assert set(expected) == {"train.csv", "validation.csv", "test.csv", "PROTOCOL.txt"}

    data = tmp_path / "data"
    # A new folder appears whole or not at all; into an existing one, PROTOCOL.txt goes back last.
    for point, exists in [("prepare:wrote-train.csv", False), ("prepare:wrote-test.csv", False),
                          ("prepare:before-publish", False), (None, True), ("prepare:moved-train.csv", True),
                          ("prepare:moved-test.csv", True)]:
        result = prepare(raw, data, kill_at=point)
        if point is None:
            assert result.returncode == 0 and folder_bytes(data) == expected
            continue
        assert result.returncode == KILLED, output(result)[-3000:]
        assert data.exists() == exists
        assert incomplete_reason(data) is not None, point
    assert prepare(raw, data).returncode == 0
    assert folder_bytes(data) == expected
    assert sorted(path.name for path in tmp_path.iterdir()) == ["data", "raw", "reference"]  # no hidden partial folder


# --------------------------------------------------------------------------- the task script


@cache
def machine_precision() -> str:
    """The script's PRECISION=auto answer, asked once: the runs a test compares train in one precision (a
    resumed run may change precision, with a warning: textclf.runs.progress.MAY_CHANGE_ON_RESUME)."""
    return fast_precision()


def run_tweets_script(tmp_path, tiny_model, kill_at: str | None = None) -> subprocess.CompletedProcess:
    env = {
        **os.environ, "MODEL": str(tiny_model), "RAW_DIR": str(tmp_path / "raw"), "DATA_DIR": str(tmp_path / "data"),
        "OUTPUT_DIR": str(tmp_path / "run"), "EPOCHS": "2", "LR": "2e-3", "BATCH_SIZE": "16", "MAX_SEQ_LENGTH": "32",
        "SAVE_EVERY_MINUTES": "0", "TOKENIZERS_PARALLELISM": "false", "PRECISION": machine_precision(),
        **({KILL_AT: kill_at} if kill_at else {}),
    }
    return subprocess.run(["bash", str(REPO_ROOT / "scripts" / "train_tweets.sh")], env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_tweets_script_prepares_a_half_prepared_folder_again_and_continues_a_killed_run(tmp_path, tiny_model):
    test_rows = write_raw_tweets(tmp_path / "raw", rows=120)
    # What a kill while writing test.csv left before: the splits, test.csv cut short, no PROTOCOL.txt.
    assert prepare(tmp_path / "raw", tmp_path / "data").returncode == 0
    (tmp_path / "data" / "PROTOCOL.txt").unlink()
    test_csv = tmp_path / "data" / "test.csv"
    test_csv.write_text("".join(test_csv.read_text().splitlines(keepends=True)[:11]))

    first = run_tweets_script(tmp_path, tiny_model)
    assert first.returncode == 0, output(first)[-3000:]
    assert "data: incomplete, an interrupted preparation (no PROTOCOL.txt" in first.stderr
    assert pd.read_csv(tmp_path / "run" / "submission.csv")["id"].tolist() == [row["id"] for row in test_rows]
    reference = tmp_path / "reference"
    (tmp_path / "run").rename(reference)

    killed = run_tweets_script(tmp_path, tiny_model, kill_at="train:step-11")  # 7 steps an epoch: checkpoint-10 saved
    assert killed.returncode == 128 + signal.SIGKILL, output(killed)[-3000:]
    assert 10 in saved_steps(killed)
    second = run_tweets_script(tmp_path, tiny_model)
    assert second.returncode == 0, output(second)[-3000:]
    assert "continuing the interrupted run from checkpoint-10" in second.stderr
    # The Trainer itself continued from step 10 (a rerun from zero, seeded, would write the same files).
    assert resumed_at(second) == [(1, 10)]
    assert saved_steps(second) and min(saved_steps(second)) > 10, saved_steps(second)
    assert_same_results(tmp_path / "run", reference)


def test_what_the_task_scripts_pass_to_continue_or_start_again(tmp_path, caplog):
    from textclf.runs.progress import script_flags, write_progress

    with caplog.at_level(logging.INFO):
        assert script_flags(tmp_path / "new", overwrite=False) == ["--overwrite_output_dir"]
        interrupted = tmp_path / "interrupted"
        write_progress(interrupted, {})
        checkpoint(interrupted, 6)
        assert script_flags(interrupted, overwrite=False) == []  # run_classification.py continues it
        assert script_flags(interrupted, overwrite=True) == ["--overwrite_output_dir"]  # OVERWRITE=1
        assert script_flags(fake_run(tmp_path / "finished"), overwrite=False) == ["--overwrite_output_dir"]
    assert caplog.messages == [
        f"{interrupted}: continuing the interrupted run from checkpoint-6",
        f"{interrupted}: OVERWRITE=1, training from scratch",
        f"{tmp_path / 'finished'} holds a finished run: training again from scratch, replacing it",
    ]


def test_precision_auto_continues_an_interrupted_run_in_the_precision_it_started_in(tmp_path, monkeypatch):
    import textclf.hardware
    from textclf.runs.progress import script_precision, write_progress

    monkeypatch.setattr(textclf.hardware, "fast_precision", lambda: "fp32")  # what the machine answers today
    interrupted = tmp_path / "interrupted"
    write_progress(interrupted, {"learning_rate": 2e-3, "bf16": True, "fp16": False})
    assert script_precision(interrupted, overwrite=False) == "fp32"  # no checkpoint yet: it starts again, as the machine says
    checkpoint(interrupted, 6)
    assert script_precision(interrupted, overwrite=False) == "bf16"
    assert script_precision(interrupted, overwrite=True) == "fp32"  # OVERWRITE=1: a new run
    assert script_precision(tmp_path / "new", overwrite=False) == "fp32"
    assert script_precision(fake_run(tmp_path / "finished"), overwrite=False) == "fp32"
    write_progress(interrupted, {"learning_rate": 2e-3, "bf16": False, "fp16": True})  # started on a GPU without bf16
    assert script_precision(interrupted, overwrite=False) == "fp16"
    write_progress(interrupted, {"learning_rate": 2e-3, "bf16": False})  # a run started before fp16 was recorded
    assert script_precision(interrupted, overwrite=False) == "fp32"


def test_checkpoints_by_the_clock_wait_for_the_interval_and_not_for_the_end_of_an_epoch(tmp_path, monkeypatch):
    from transformers import TrainerControl, TrainerState, TrainingArguments

    from textclf.training import resume

    now = [0.0]
    monkeypatch.setattr(resume.time, "monotonic", lambda: now[0])
    args, state = TrainingArguments(output_dir=str(tmp_path), report_to="none"), TrainerState(max_steps=20)
    callback = resume.SaveEveryMinutes(5)
    callback.on_train_begin(args, state, TrainerControl())

    def saves_after(step: int, epoch: float, minutes: float) -> bool:
        now[0], state.global_step, state.epoch = minutes * 60, step, epoch
        return callback.on_step_end(args, state, TrainerControl()).should_save

    assert not saves_after(1, 0.1, 4.9)
    assert saves_after(2, 0.2, 5.0)
    callback.on_save(args, state, TrainerControl())  # any checkpoint restarts the clock
    assert not saves_after(3, 0.3, 9.9)
    assert not saves_after(10, 1.0, 10.5)  # the last step of an epoch: the next one saves instead
    assert saves_after(11, 1.1, 10.6)
    assert not saves_after(20, 2.0, 30.0)  # the last step: the final model is saved anyway


# --------------------------------------------------------------------------- readers of runs


def fake_run(run_dir: Path, finished: bool = True) -> Path:
    """A run folder as a trainer leaves it, without training: what readers look at."""
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text("{}")
    (run_dir / "model.safetensors").write_bytes(b"weights")
    (run_dir / "validation_metrics.json").write_text(json.dumps({"accuracy": 0.9, "macro_f1": 0.9, "positive_f1": 0.9}))
    RunInfo(model="tiny", problem_type="single_label_classification", labels=["0", "1"], metric="accuracy", text_columns=["text"],
            label_column="label", data={}, finished=finished).write(run_dir)
    return run_dir


def test_readers_skip_unfinished_runs_and_say_why(tmp_path, caplog):
    from textclf.reports.comparison import load_run
    from textclf.reports.splits import summary_table

    experiments = tmp_path / "experiments"
    done = fake_run(experiments / "done")
    reporting = fake_run(experiments / "reporting", finished=False)  # killed while writing its report
    training = experiments / "training"  # killed while training: progress.json, a checkpoint, no run_info.json
    (training / "checkpoint-4").mkdir(parents=True)
    (training / PROGRESS).write_text("{}")
    (experiments / "notes").mkdir()  # not a run: nothing to say
    with caplog.at_level(logging.INFO):
        assert finished_runs(experiments) == [done]
    skipped = [record.getMessage() for record in caplog.records if record.getMessage().startswith("Skipping")]
    assert skipped == [
        f"Skipping {reporting}: interrupted while writing its report (run_info.json says unfinished); "
        "run the same command again to finish it",
        f"Skipping {training}: interrupted before it finished (no run_info.json yet); run the same command again to continue it",
    ]
    with pytest.raises(UserInputError, match="not a finished run .interrupted while writing its report"):
        resolve_run(reporting, experiments)

    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert load_run(reporting) is None and load_run(done)["accuracy"] == 0.9  # comparison rows: finished runs only
    assert [record.getMessage() for record in caplog.records] == [
        f"Leaving out {reporting}: interrupted while writing its report (run_info.json says unfinished); "
        "run the same command again to finish it"
    ]

    splits = tmp_path / "splits"
    for name, finished in [("split1", True), ("split1-tfidf", True), ("split2", False), ("split2-tfidf", True)]:
        fake_run(splits / name, finished)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        table = summary_table(splits, ["1", "2"])
    assert "| 1 |" in table and "| 2 |" not in table
    assert caplog.records[0].getMessage().startswith(f"Leaving out split 2: {splits / 'split2'}: interrupted while writing")


def test_build_space_refuses_an_unfinished_run_in_one_line(tmp_path, capsys):
    import build_space

    run_dir = fake_run(tmp_path / "run", finished=False)
    assert build_space.main(["--run", str(run_dir), "--output_dir", str(tmp_path / "space"), "--dry-run"]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: {run_dir}: not a finished run (interrupted while writing its report") and error.count("\n") == 1


# --------------------------------------------------------------------------- where training starts


def checkpoint(run_dir: Path, step: int, complete: bool = True) -> Path:
    path = run_dir / f"checkpoint-{step}"
    path.mkdir(parents=True)
    if complete:
        (path / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    return path


def test_where_training_starts(tmp_path, caplog):
    from textclf.runs.progress import mark_trained, plan_training, write_progress

    settings = {"learning_rate": 2e-3, "bf16": False}
    fresh = plan_training(tmp_path / "new", settings, overwrite=False, resume_from_checkpoint=None)
    assert (fresh.checkpoint, fresh.trained) == (None, False) and json.loads((tmp_path / "new" / PROGRESS).read_text())["settings"] == settings

    run_dir = tmp_path / "run"
    write_progress(run_dir, settings)
    checkpoint(run_dir, 4)
    checkpoint(run_dir, 8, complete=False)  # cut short by the kill: never resumed from, removed
    point = plan_training(run_dir, settings, overwrite=False, resume_from_checkpoint=None)
    assert point.checkpoint == str(run_dir / "checkpoint-4") and not (run_dir / "checkpoint-8").exists()
    with caplog.at_level(logging.WARNING):
        assert plan_training(run_dir, {**settings, "bf16": True}, False, None).checkpoint  # bf16 may change, said
    assert "continuing the interrupted run with bf16: False then, True now" in caplog.text
    with pytest.raises(UserInputError, match="other settings .learning_rate: 0.002 then, 0.001 now"):
        plan_training(run_dir, {**settings, "learning_rate": 1e-3}, False, None)
    elsewhere = checkpoint(tmp_path / "elsewhere", 2)  # --resume_from_checkpoint PATH: that one, as upstream
    assert plan_training(run_dir, settings, False, str(elsewhere)).checkpoint == str(elsewhere)
    with pytest.raises(UserInputError, match="no such checkpoint folder"):
        plan_training(run_dir, settings, False, str(tmp_path / "nowhere"))
    mark_trained(run_dir, settings)
    assert plan_training(run_dir, settings, overwrite=False, resume_from_checkpoint=None).trained

    scratch = plan_training(run_dir, settings, overwrite=True, resume_from_checkpoint=None)
    assert (scratch.checkpoint, scratch.trained) == (None, False) and not list(run_dir.glob("checkpoint-*"))

    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("mine")
    with pytest.raises(UserInputError, match=r"Output directory \(.*used\) already exists and is not empty: add --overwrite_output_dir"):
        plan_training(used, settings, overwrite=False, resume_from_checkpoint=None)
