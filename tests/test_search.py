"""Hyperparameter search (search.py, textclf/search/, scripts/search.sh): bad input stops before training,
trials are pruned, a killed search resumes without repeating a trial, two workers share one study, the
time budget stops cleanly, and the confirmation compares the best with the default on the five splits."""

from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from conftest import REPO_ROOT, sentiment_rows, write_csv
from optuna.trial import TrialState
from postgres_server import postgres_server

import search
from textclf import exit_code_of
from textclf.models.offline import MODELS_DIR_VARIABLE
from textclf.search.confirm import DEFAULT_ROOT, best_root, read_confirmation
from textclf.search.report import confirmation_section
from textclf.search.space import parse_space
from textclf.search.study import (
    RETRY_ATTR,
    STOPPED_ATTR,
    WORKER_ATTR,
    SearchPlan,
    copy_paste_command,
    epoch_scores,
    keep_only_the_best_model,
)
from textclf.tasks import PROTOCOL, TASKS

# Whatever the sampler draws, a tiny trial trains in seconds.
SPACE = "LR=1e-3..1e-2:log EPOCHS=1|2 BATCH_SIZE=8|16"
FIXED = ["MAX_SEQ_LENGTH=32", "SEED=1", "PRECISION=fp32", "WARMUP_STEPS=0", "EVAL_BATCH_SIZE=32", "FREEZE_LOWER_LAYERS="]
ENVIRONMENT = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def prepared(tmp_path) -> Path:
    """A prepared tweets folder (prepare_data.py's files): the class is given away by one word."""
    data = tmp_path / "data"
    data.mkdir()
    rows = [{"id": row["id"], "keyword": "", "text": row["text"], "target": row["label"]} for row in sentiment_rows(200, seed=4)]
    write_csv(data / "train.csv", rows[:160])
    write_csv(data / "validation.csv", rows[160:])
    write_csv(data / "test.csv", rows[160:], columns=["id", "keyword", "text"])
    (data / PROTOCOL).write_text("written by tests/test_search.py\n", encoding="utf-8")
    return data


def search_arguments(model: Path, data: Path, search_dir: Path, *extra: str, space: str = SPACE) -> list[str]:
    return ["--task", "tweets", "--models", str(model), "--space", space, "--data_dir", str(data),
            "--search_dir", str(search_dir), *extra, "--fixed", *FIXED]


def search_command(*arguments: str) -> list[str]:
    return [sys.executable, str(REPO_ROOT / "search.py"), *arguments]


def run_search(*arguments: str, timeout: int = 600) -> subprocess.CompletedProcess:
    result = subprocess.run(search_command(*arguments), cwd=REPO_ROOT, env=ENVIRONMENT, capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def load_study(search_dir: Path, storage: str | None = None) -> optuna.Study:
    return optuna.load_study(study_name=search_dir.name, storage=storage or f"sqlite:///{search_dir / 'study.db'}")


def has_weights(run_dir: Path) -> bool:
    return any(run_dir.glob("*.safetensors")) or any(run_dir.glob("checkpoint-*"))


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("models", "space", "error"), [
    ("{tiny}", "LR=1e-4..1e-3 DROPOUT=0.1..0.3", "error: SPACE: unknown parameter 'DROPOUT'; searchable: LR, EPOCHS, BATCH_SIZE, "
                                                 "WARMUP_STEPS, MAX_SEQ_LENGTH, TRUNCATION_TAIL_TOKENS, FREEZE_LOWER_LAYERS, TEXT_COLUMNS"),
    # Found in its package, which is logged: not before the error, which stays alone.
    ("all-MiniLM-L6-v2", "FREEZE_LOWER_LAYERS=0..8", "error: SPACE: FREEZE_LOWER_LAYERS=0..8: all-MiniLM-L6-v2 has 6 layers"),
])
def test_bad_input_is_the_only_line_on_stderr_before_anything_starts(models, space, error, tmp_path, tiny_model, prepared):
    search_dir = tmp_path / "search"
    arguments = search_arguments(Path(models.format(tiny=tiny_model)), prepared, search_dir, "--trials", "1", space=space)
    result = subprocess.run(search_command(*arguments), cwd=REPO_ROOT, env=ENVIRONMENT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [error]
    assert not search_dir.exists()  # no study, no trial


BAD_INPUT = {
    "empty range": (dict(space="EPOCHS=2..2"), "error: SPACE: EPOCHS=2..2: an empty range; write EPOCHS=2 to fix it"),
    "inverted range": (dict(space="LR=1e-3..1e-5:log"), "error: SPACE: LR=1e-3..1e-5:log: an inverted range, 1e-3 is above 1e-5"),
    "log from zero": (dict(space="WARMUP_STEPS=0..100:log"), "error: SPACE: WARMUP_STEPS=0..100:log: a log range needs a low end above 0"),
    "no values": (dict(space="BATCH_SIZE="), "error: SPACE: BATCH_SIZE=: '' is not a number"),
    "not whole": (dict(space="EPOCHS=1..2.5"), "error: SPACE: EPOCHS=1..2.5: EPOCHS takes whole numbers"),
    "twice": (dict(space="LR=1e-4..1e-3 LR=1e-5..1e-4"), "error: SPACE: LR given twice"),
    "more frozen layers than the model has": (dict(space="FREEZE_LOWER_LAYERS=0..3"), "error: SPACE: FREEZE_LOWER_LAYERS=0..3: "),
    "a zoo model not set up": (dict(models="mpnet-base"), "error: MODELS: mpnet-base: this model of the zoo"),
    "a hub id": (dict(models="bert-base-uncased"), "error: MODELS: 'bert-base-uncased' is not installed here"),
    "a database that cannot be reached": (dict(extra=["--storage", "sqlite:////no/such/folder/study.db"]),
                                          "error: --storage sqlite:////no/such/folder/study.db: cannot use this database"),
    "a database without its driver": (dict(extra=["--storage", "mysql://user:secret@127.0.0.1:1/db"]),
                                      "error: --storage mysql://user:***@127.0.0.1:1/db: the database driver is not installed"),
    "a database server that cannot be reached": (dict(extra=["--storage", "postgresql://user:secret@127.0.0.1:1/db"]),
                                                 "error: --storage postgresql://user:***@127.0.0.1:1/db: cannot use this database"),
    "no budget": (dict(budget=[]), "error: no budget: give --minutes, --trials or both"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_stops_with_one_line_and_exit_code_2_before_training(case, tmp_path, tiny_model, prepared, capsys,
                                                                       monkeypatch):
    given, expected = BAD_INPUT[case]
    monkeypatch.setenv(MODELS_DIR_VARIABLE, str(tmp_path / "no-zoo"))  # no zoo model is set up
    search_dir = tmp_path / "search"
    arguments = search_arguments(given.get("models", tiny_model), prepared, search_dir,
                                 *given.get("budget", ["--trials", "1"]), *given.get("extra", []),
                                 space=given.get("space", SPACE))
    assert exit_code_of(lambda: search.main(arguments)) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 1 and errors[0].startswith(expected), errors
    assert "secret" not in errors[0]
    assert not (search_dir / "trials").exists() and not (search_dir / "study.db").exists()


def test_unprepared_data_is_one_line_naming_the_task_script(tmp_path, tiny_model, capsys):
    arguments = search_arguments(tiny_model, tmp_path / "nothing", tmp_path / "search", "--trials", "1")
    assert exit_code_of(lambda: search.main(arguments)) == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'nothing'}: not prepared yet; prepare it first (bash scripts/train_tweets.sh")


# --------------------------------------------------------------------------- pieces


def test_a_space_reads_ranges_choices_and_none_and_samples_what_the_task_script_takes(tmp_path):
    space = parse_space("LR=1e-5..2e-4:log EPOCHS=1..3 TEXT_COLUMNS=text|keyword,text FREEZE_LOWER_LAYERS=none|2", ["minilm-l6"])
    assert space.describe() == "MODEL=minilm-l6 LR=1e-05..0.0002:log EPOCHS=1..3 TEXT_COLUMNS=text|keyword,text FREEZE_LOWER_LAYERS=none|2"
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        settings = space.suggest(study.ask())
        lr = float(settings["LR"])
        assert 1e-5 <= lr <= 2e-4 and float(f"{lr:.3g}") == lr  # three significant digits, as the command shows
        assert settings["EPOCHS"] in {"1", "2", "3"} and settings["TEXT_COLUMNS"] in {"text", "keyword,text"}
        assert settings["FREEZE_LOWER_LAYERS"] in {"", "2"}
    plan = SearchPlan(TASKS["tweets"], tmp_path, tmp_path, space, {})
    trial = optuna.trial.create_trial(value=0.8, user_attrs={"settings": {"MODEL": "minilm-l6", "LR": "3e-05", "SEED": "42",
                                                                          "FREEZE_LOWER_LAYERS": "", "TEXT_COLUMNS": "keyword,text"}})
    assert copy_paste_command(plan, trial) == ("MODEL=minilm-l6 LR=3e-05 TEXT_COLUMNS=keyword,text FREEZE_LOWER_LAYERS='' "
                                               "bash scripts/train_tweets.sh")


def test_epoch_scores_come_from_the_checkpoint_while_training_and_the_run_when_finished(tmp_path):
    def state(directory: Path, epochs: int) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        history = [{"epoch": e - 0.5, "loss": 0.5} for e in range(1, epochs + 1)] + [
            {"epoch": float(e), "eval_f1": e / 10, "step": 10 * e} for e in range(1, epochs + 1)]
        (directory / "trainer_state.json").write_text(json.dumps({"log_history": history}))

    assert epoch_scores(tmp_path, "eval_f1") == {}
    state(tmp_path / "checkpoint-20", 2)
    (tmp_path / "checkpoint-30").mkdir()  # being written: no state yet
    assert epoch_scores(tmp_path, "eval_f1") == {1: 0.1, 2: 0.2}
    state(tmp_path, 3)
    assert epoch_scores(tmp_path, "eval_f1") == {1: 0.1, 2: 0.2, 3: 0.3}


def test_only_the_best_finished_trial_keeps_its_model(tmp_path):
    study = optuna.create_study(direction="maximize")
    for value, state in ((0.7, TrialState.COMPLETE), (0.9, TrialState.COMPLETE), (None, TrialState.PRUNED),
                         (None, TrialState.FAIL)):
        study.add_trial(optuna.trial.create_trial(value=value, state=state, intermediate_values={1: 0.5}))
    running = study.ask()  # another worker's, still training
    for number in range(running.number + 1):
        (tmp_path / str(number) / "checkpoint-8").mkdir(parents=True)
        (tmp_path / str(number) / "model.safetensors").write_bytes(b"weights")
        (tmp_path / str(number) / "validation_metrics.json").write_text("{}")
    keep_only_the_best_model(study, tmp_path)
    assert [has_weights(tmp_path / str(number)) for number in range(5)] == [False, True, False, False, True]
    assert all((tmp_path / str(number) / "validation_metrics.json").is_file() for number in range(5))


def fake_split_runs(root: Path, scores: dict[str, float], train_seconds: float = 100.0) -> None:
    """What repeat_splits.sh leaves: a finished run and its TF-IDF baseline per split seed."""
    for seed, score in scores.items():
        for run in (root / f"split{seed}", root / f"split{seed}-tfidf"):
            run.mkdir(parents=True)
            (run / "run_info.json").write_text(json.dumps({"finished": True}))
            (run / "validation_metrics.json").write_text(json.dumps({"accuracy": 0.5, "positive_f1": score}))
        (root / f"split{seed}" / "all_results.json").write_text(json.dumps({"train_runtime": train_seconds}))


@pytest.mark.parametrize(("best", "default", "verdict"), [
    ({"1": 0.84, "2": 0.83, "3": 0.85}, {"1": 0.80, "2": 0.81, "3": 0.79}, "+4.00 points, more than the split-to-split spread"),
    # 2 points up, but the best's own splits spread by 3.6: within it.
    ({"1": 0.83, "2": 0.78, "3": 0.85}, {"1": 0.80, "2": 0.81, "3": 0.79}, "+2.00 points, within the split-to-split spread"),
])
def test_the_confirmation_compares_the_means_with_the_split_to_split_spread(tmp_path, best, default, verdict):
    fake_split_runs(best_root(tmp_path, 7), best, train_seconds=150.0)
    fake_split_runs(tmp_path / DEFAULT_ROOT, {**default, "4": 0.5})  # split 4: the default's only, left out
    (tmp_path / DEFAULT_ROOT / "split9").mkdir()  # started, unfinished: left out
    confirmation = read_confirmation(tmp_path, 7, "f1")
    assert confirmation.score_name == "positive_f1" and list(confirmation.best.scores) == ["1", "2", "3"]
    plan = SearchPlan(TASKS["tweets"], tmp_path, tmp_path, parse_space("", ["minilm-l6"]), {})
    section = "\n".join(confirmation_section(confirmation, plan))
    assert "| best (trial 7) |" in section and "| task default | 0.8000 | 0.0100 | 0.8000 | 0.8100 | 0.7900 | 100 s |" in section
    assert verdict in section and "Its training took 1.50x the default's" in section
    assert read_confirmation(tmp_path, 8, "f1") is None  # another best trial: not confirmed yet


# --------------------------------------------------------------------------- searches that train


@pytest.mark.slow
def test_a_search_finishes_keeps_only_the_best_model_and_writes_its_report(tmp_path, tiny_model, prepared):
    search_dir = tmp_path / "search"
    result = run_search(*search_arguments(tiny_model, prepared, search_dir, "--trials", "2"))

    study = load_study(search_dir)
    assert [trial.state for trial in study.trials] == [TrialState.COMPLETE] * 2
    for trial in study.trials:  # scored after each epoch; the score is the last epoch's
        epochs = int(trial.user_attrs["settings"]["EPOCHS"])
        assert sorted(trial.intermediate_values) == list(range(1, epochs + 1))
        assert trial.value == trial.intermediate_values[epochs]
        assert (search_dir / "trials" / str(trial.number) / "eval_predictions.csv").is_file()  # metrics kept
    best = study.best_trial.number
    assert [has_weights(search_dir / "trials" / str(number)) for number in range(2)] == [number == best for number in range(2)]
    command = copy_paste_command(SearchPlan(TASKS["tweets"], prepared, search_dir, parse_space(SPACE, [str(tiny_model)]), {}),
                                 study.best_trial)
    assert command.startswith(f"MODEL={tiny_model} LR=") and command in result.stdout
    report = (search_dir / "search.md").read_text()
    assert command in report and "Trials: 2 complete." in report and f"| {best} | complete |" in report
    assert "![Each trial's score and the best so far](history.png)" in report and (search_dir / "history.png").is_file()
    assert "## Parameter importances" in report and "## Five-split confirmation" in report and "Not run yet" in report


@pytest.mark.slow
def test_a_trial_below_the_others_is_pruned_after_an_epoch(tmp_path, tiny_model, prepared):
    """Three earlier trials (another worker's, say) scored 2.0 after every epoch, which no F1 reaches: the median
    pruner stops the next trial after its first scored epoch rather than letting it train 30."""
    search_dir = tmp_path / "search"
    search_dir.mkdir()
    space = "LR=1e-3..1e-2:log EPOCHS=30 BATCH_SIZE=8"
    study = optuna.create_study(study_name=search_dir.name, storage=f"sqlite:///{search_dir / 'study.db'}", direction="maximize")
    distributions = {"MODEL": optuna.distributions.CategoricalDistribution([str(tiny_model)]),
                     "LR": optuna.distributions.FloatDistribution(1e-3, 1e-2, log=True),
                     "EPOCHS": optuna.distributions.CategoricalDistribution(["30"]),
                     "BATCH_SIZE": optuna.distributions.CategoricalDistribution(["8"])}
    for _ in range(3):
        study.add_trial(optuna.trial.create_trial(
            value=2.0, intermediate_values={epoch: 2.0 for epoch in range(1, 31)}, distributions=distributions,
            params={"MODEL": str(tiny_model), "LR": 3e-3, "EPOCHS": "30", "BATCH_SIZE": "8"}))
    run_search(*search_arguments(tiny_model, prepared, search_dir, "--trials", "4", space=space))

    trial = load_study(search_dir).trials[3]
    assert trial.state == TrialState.PRUNED and 1 <= len(trial.intermediate_values) < 30
    assert not has_weights(search_dir / "trials" / "3")
    assert f"| 3 | pruned | {trial.value:.4f} |" in (search_dir / "search.md").read_text()
    assert f"pruned after epoch {max(trial.intermediate_values)}" in (search_dir / "search.md").read_text()


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (answer := condition()):
            return answer
        time.sleep(0.5)
    raise AssertionError(f"waited {timeout} s for {what}")


def training_processes(run_dir: Path) -> list[str]:
    """The processes (Linux's /proc) whose command line trains into `run_dir`."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if f"--output_dir\0{run_dir}\0".encode() in cmdline.read_bytes():
                found.append(cmdline.parent.name)
        except OSError:  # ended meanwhile
            pass
    return found


def trials_in(search_dir: Path, state: TrialState) -> list[optuna.trial.FrozenTrial]:
    """Read only once the search has made its study (then its trials folder), not to race it creating the database."""
    return load_study(search_dir).get_trials(states=(state,)) if (search_dir / "trials").is_dir() else []


@pytest.mark.slow
def test_a_killed_search_resumes_without_repeating_a_finished_trial(tmp_path, tiny_model, prepared):
    search_dir = tmp_path / "search"
    arguments = search_arguments(tiny_model, prepared, search_dir, "--trials", "3")
    process = subprocess.Popen(search_command(*arguments), cwd=REPO_ROOT, env=ENVIRONMENT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: trials_in(search_dir, TrialState.COMPLETE), 300, "the first trial to complete")
        wait_for(lambda: (search_dir / "trials" / "1.log").is_file(), 120, "the second trial to start")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    first = load_study(search_dir).trials
    assert [trial.state for trial in first] == [TrialState.COMPLETE, TrialState.RUNNING]
    completed_at = first[0].datetime_complete
    log = (search_dir / "trials" / "0.log").stat().st_mtime_ns
    wait_for(lambda: not training_processes(search_dir / "trials" / "1"), 10, "the killed search's trial to die with it")

    result = run_search(*arguments)
    trials = load_study(search_dir).trials
    states = [trial.state for trial in trials]
    assert states.count(TrialState.COMPLETE) == 3 and states[1] == TrialState.FAIL, states
    assert trials[0].datetime_complete == completed_at and (search_dir / "trials" / "0.log").stat().st_mtime_ns == log
    assert "Trial 0:" not in result.stderr
    retry = trials[2]  # the killed trial, run again at once with its parameters
    assert retry.user_attrs[RETRY_ATTR] == 1 and retry.params == trials[1].params and retry.state == TrialState.COMPLETE
    assert "a rerun of trial 1, which a killed worker left unfinished" in (search_dir / "search.md").read_text()


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_storage(request) -> Iterator[str | None]:
    """The study's database: the default SQLite file, or a PostgreSQL server started here (as on many machines)."""
    if request.param == "sqlite":
        yield None
        return
    from test_app import free_port

    with postgres_server(free_port()) as url:
        yield url


@pytest.mark.slow
def test_two_workers_share_one_study_and_no_trial_runs_twice(tmp_path, tiny_model, prepared, shared_storage):
    search_dir = tmp_path / "search"
    storage = ["--storage", shared_storage] if shared_storage else []
    command = search_command(*search_arguments(tiny_model, prepared, search_dir, "--trials", "3", *storage))
    workers = [subprocess.Popen(command, cwd=REPO_ROOT, env=ENVIRONMENT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True) for _ in range(2)]
    outputs = [worker.communicate(timeout=600)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], [output[-3000:] for output in outputs]

    trials = load_study(search_dir, shared_storage).trials
    # Each stops once the study holds 3 trials; both may have started the last one at the same moment.
    assert 3 <= len(trials) <= 4 and all(trial.state in (TrialState.COMPLETE, TrialState.PRUNED) for trial in trials)
    assert {trial.user_attrs[WORKER_ATTR].rsplit(":")[-1] for trial in trials} == {str(worker.pid) for worker in workers}
    for trial in trials:  # each trial trained once, by one worker: one log, one training, no rerun
        assert RETRY_ATTR not in trial.user_attrs
        assert (search_dir / "trials" / f"{trial.number}.log").read_text().count("***** Running training *****") == 1
        assert sum(f"Trial {trial.number}:" in output for output in outputs) == 1
    assert len({json.dumps(trial.params, sort_keys=True) for trial in trials}) == len(trials)


@pytest.mark.slow
def test_the_time_budget_stops_the_trial_in_flight_cleanly(tmp_path, tiny_model, prepared):
    """A trial of 60 epochs outlasts a budget of 15 seconds: it is stopped and recorded as pruned."""
    search_dir = tmp_path / "search"
    started = time.monotonic()
    result = run_search(*search_arguments(tiny_model, prepared, search_dir, "--minutes", "0.25",
                                          space="LR=1e-3..1e-2 EPOCHS=60 BATCH_SIZE=8"))
    elapsed = time.monotonic() - started
    assert elapsed < 15 + 60, elapsed  # the budget, the start, a poll and stopping the trial
    trials = load_study(search_dir).trials
    assert len(trials) == 1 and trials[0].state == TrialState.PRUNED
    assert trials[0].user_attrs[STOPPED_ATTR] == "time budget"
    assert trials[0].duration < datetime.timedelta(seconds=30)
    assert not has_weights(search_dir / "trials" / "0")
    assert "stopped by the time budget" in (search_dir / "search.md").read_text()
    assert "No trial completed." in result.stdout
    assert not training_processes(search_dir / "trials" / "0")  # its training ended with it


@pytest.mark.slow
def test_the_search_script_ends_with_the_five_split_confirmation(tmp_path, tiny_model):
    """scripts/search.sh: one trial, then the best and the default trained on two splits by repeat_splits.sh."""
    raw = tmp_path / "raw"
    raw.mkdir()
    write_csv(raw / "train.csv", [{"id": r["id"], "keyword": "", "location": "", "text": r["text"], "target": r["label"]}
                                  for r in sentiment_rows(200, seed=4)])
    write_csv(raw / "test.csv", [{"id": 1000 + r["id"], "keyword": "", "location": "", "text": r["text"]}
                                 for r in sentiment_rows(20, seed=5)])
    search_dir = tmp_path / "search"
    environment = {
        **ENVIRONMENT, "MODELS": str(tiny_model), "MODEL": str(tiny_model), "RAW_DIR": str(raw),
        "DATA_DIR": str(tmp_path / "data"), "SEARCH_DIR": str(search_dir), "TRIALS": "1", "MINUTES": "",
        "SPACE": "LR=2e-3..4e-3 EPOCHS=2", "LR": "1e-4", "EPOCHS": "1", "BATCH_SIZE": "8", "MAX_SEQ_LENGTH": "32",
        "FREEZE_LOWER_LAYERS": "", "SPLIT_SEEDS": "1 2", "PRECISION": "fp32",
    }
    subprocess.run([sys.executable, "prepare_data.py", "--task", "tweets", "--raw_dir", str(raw), "--output_dir",
                    str(tmp_path / "data")], cwd=REPO_ROOT, env=environment, check=True, capture_output=True)
    result = subprocess.run(["bash", "scripts/search.sh"], cwd=REPO_ROOT, env=environment, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    best = load_study(search_dir).best_trial
    lr = best.user_attrs["settings"]["LR"]
    assert f"MODEL={tiny_model} LR={lr} EPOCHS=2 bash scripts/train_tweets.sh" in result.stdout
    # The best trained with its settings, the default with the task script's (here: LR=1e-4 EPOCHS=1).
    best_runs = [json.loads((best_root(search_dir, 0) / f"split{seed}" / "run_info.json").read_text()) for seed in (1, 2)]
    default_runs = [json.loads((search_dir / DEFAULT_ROOT / f"split{seed}" / "run_info.json").read_text()) for seed in (1, 2)]
    assert {(run["hyperparameters"]["learning_rate"], run["hyperparameters"]["num_train_epochs"]) for run in best_runs} == {(float(lr), 2)}
    assert {(run["hyperparameters"]["learning_rate"], run["hyperparameters"]["num_train_epochs"]) for run in default_runs} == {(1e-4, 1)}
    report = (search_dir / "search.md").read_text()
    assert "| best (trial 0) |" in report and "| task default |" in report and "Difference: " in report
    assert "Five splits: best " in result.stdout
