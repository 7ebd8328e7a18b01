"""The study: trials in a database, each a run_classification.py run of its own, pruned, within a budget.

Each trial trains in a subprocess of run_classification.py into <search_dir>/trials/<number>/, a run
folder like any other (report.md, metrics, curves). A subprocess rather than the Trainer in this
process because it is the simplest thing that stays robust: the trial trains exactly as the task
scripts do, a model that runs out of memory or crashes fails its trial and not the search, and
stopping a trial (pruned, out of time) is ending a process, which frees all it held. The price is that
a TrainerCallback cannot report to Optuna across the process boundary, so the search reads the
validation score after each epoch from the Trainer's own state file instead: trials save a checkpoint
at each epoch's end, right after its evaluation, and its trainer_state.json holds the scores so far.

The study lives in an Optuna RDB storage, by default a SQLite file in the search folder: a search
killed and run again continues the study, and workers on other machines join it through a shared
database server (--storage postgresql://...). A trial left running by a killed worker is failed and
queued again once, with the same parameters: at once when the worker was on this machine (its process
is gone), otherwise when its heartbeat stops.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from textclf import REPO_ROOT, UserInputError
from textclf.runs.folder import CHECKPOINT_PREFIX, SCRIPT_SETTINGS_VARIABLE, TRAINER_STATE, read_json
from textclf.search.space import SETTINGS, Space
from textclf.tasks import Task

logger = logging.getLogger(__name__)

TRIALS_DIR = "trials"  # <search_dir>/trials/<number>/: each trial's run folder; <number>.log beside it, what it printed
STUDY_FILE = "study.db"  # the default storage: SQLite in the search folder
EVAL_RESULTS = "eval_results.json"  # the Trainer's final validation metrics (eval_<metric>)
POLL_SECONDS = 2.0  # how often a running trial's scores, the pruner and the clock are looked at
STOP_SECONDS = 30  # a trial asked to stop (SIGTERM) is killed after this long
SCHEMA_TRIES = 3  # opening a new database that another worker is creating at the same moment
MAX_CONSECUTIVE_FAILURES = 3  # this many failed trials in a row stop a worker: something is wrong with all of them
# Who runs a trial: a worker on this machine whose process has gone left its trial behind (killed).
WORKER = f"{socket.gethostname()}:{os.getpid()}"
WORKER_ATTR, SETTINGS_ATTR, RETRY_ATTR, STOPPED_ATTR, ERROR_ATTR = "worker", "settings", "retry_of", "stopped", "error"
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
PR_SET_PDEATHSIG = 1  # prctl(2)


class TrialFailed(Exception):
    """A trial's training failed (its log says why); the search goes on with the next trial."""


@dataclass(frozen=True)
class SearchPlan:
    """What every trial shares, and what it varies."""

    task: Task
    data_dir: Path
    search_dir: Path
    space: Space
    fixed: dict[str, str]  # the other settings, as the task script resolved them

    @property
    def trials_dir(self) -> Path:
        return self.search_dir / TRIALS_DIR

    @property
    def score_key(self) -> str:
        return f"eval_{self.task.metric}"  # the Trainer's name for the task's metric

    def settings_of(self, trial: FrozenTrial) -> dict[str, str]:
        return trial.user_attrs.get(SETTINGS_ATTR, {})

    def searched_settings(self, trial: FrozenTrial) -> dict[str, str]:
        """The trial's values of the searched settings: what it changes in the task script."""
        settings = self.settings_of(trial)
        return {name: settings[name] for name in self.space.names if name in settings}


@dataclass
class Budget:
    """When this worker stops starting trials: at its deadline (its own minutes), or once the study holds
    `trials` trials finished or running, whichever worker ran them (a failed trial does not count)."""

    deadline: float | None  # time.monotonic()
    trials: int | None

    def time_is_up(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def spent(self, study: optuna.Study) -> str | None:
        """Why no further trial should start, or None."""
        if self.time_is_up():
            return "the time budget is spent"
        if self.trials is not None:
            counted = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING))
            if len(counted) >= self.trials:
                return f"the study holds {len(counted)} trials finished or running (the budget: {self.trials})"
        return None


# ---- the study and its storage ---------------------------------------------------------------------


def default_storage(search_dir: Path) -> str:
    return f"sqlite:///{(search_dir / STUDY_FILE).resolve()}"


def open_storage(url: str, heartbeat_seconds: int) -> tuple[optuna.storages.RDBStorage, str]:
    """The study's database, connected now, and its URL without the password, to show: a URL that cannot
    be reached is one error line, before anything trains. A running trial writes a heartbeat every
    `heartbeat_seconds`; one silent for twice that is taken for a killed worker's, failed, and queued again."""
    import sqlalchemy

    try:
        parsed = sqlalchemy.engine.make_url(url)
    except sqlalchemy.exc.ArgumentError as error:
        raise UserInputError(f"--storage {url.split('@')[-1]}: not a database URL Optuna can use ({error})") from None
    shown, dialect = parsed.render_as_string(hide_password=True), parsed.get_backend_name()
    # SQLite: two workers on one machine wait for each other's writes instead of failing at once.
    # A server: an unreachable host fails in seconds, not after the system's TCP timeout.
    engine_kwargs = {"connect_args": {"timeout": 60} if dialect == "sqlite" else {"connect_timeout": 10}}
    attempt = 1
    while True:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeats: stable for years
                storage = optuna.storages.RDBStorage(
                    url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat_seconds,
                    grace_period=2 * heartbeat_seconds, heartbeat_stale_trial_callback=queue_again,
                )
            return storage, shown
        except ImportError as error:  # Optuna's words hide which module: its cause names it
            raise UserInputError(f"--storage {shown}: the database driver is not installed ({error.__cause__ or error}); "
                                 "install it into .venv (PostgreSQL's, psycopg, comes with the toolkit)") from None
        except (sqlalchemy.exc.SQLAlchemyError, ValueError) as error:
            # Workers started at the same moment on a new database both create its tables; the one that comes
            # second fails on what the first wrote, which is there a moment later.
            if attempt < SCHEMA_TRIES and (isinstance(error, sqlalchemy.exc.IntegrityError) or "already exists" in str(error)):
                attempt += 1
                time.sleep(1)
                continue
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise UserInputError(f"--storage {shown}: cannot use this database ({reason})") from None


def open_study(storage: optuna.storages.RDBStorage, name: str, pruner: str) -> optuna.Study:
    """The study called `name` in `storage`, created on first use; a rerun or another worker loads it."""
    pruners = {
        # Not before 3 trials have finished: a median of fewer says little.
        "median": optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0),
        "hyperband": optuna.pruners.HyperbandPruner(min_resource=1, max_resource="auto"),
        "none": optuna.pruners.NopPruner(),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # A budget of minutes on a CPU allows a handful of trials: TPE starts guessing after 5 random ones.
        # constant_liar: workers running at the same time do not all sample the same promising region.
        sampler = optuna.samplers.TPESampler(n_startup_trials=5, multivariate=True, constant_liar=True)
    # Every task's metric (accuracy, F1) is better higher.
    return optuna.create_study(storage=storage, study_name=name, direction="maximize", sampler=sampler,
                               pruner=pruners[pruner], load_if_exists=True)


def queue_again(study: optuna.Study, trial: FrozenTrial) -> None:
    """A trial that a killed worker left behind runs again with the same parameters, once."""
    if RETRY_ATTR in trial.user_attrs or not trial.params:
        return  # already a retry, or killed before it had parameters
    study.enqueue_trial(trial.params, user_attrs={RETRY_ATTR: trial.number})
    logger.info("Trial %d was left unfinished by a worker that is gone: queued again", trial.number)


def fail_trials_of_dead_workers(study: optuna.Study) -> None:
    """Fail, and queue again, the trials left running by a worker of this machine whose process is gone
    (killed): a rerun right after a kill continues at once rather than after the heartbeat's grace."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        host, _, pid = trial.user_attrs.get(WORKER_ATTR, "").rpartition(":")
        if host == socket.gethostname() and pid.isdigit() and not process_exists(int(pid)):
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
            queue_again(study, trial)


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


# ---- the search --------------------------------------------------------------------------------------


def run_search(study: optuna.Study, plan: SearchPlan, budget: Budget) -> None:
    """Run trials until the budget is spent. A trial in flight at the deadline is stopped and recorded as
    pruned (with the scores it reached), never left running or half-recorded."""
    plan.trials_dir.mkdir(parents=True, exist_ok=True)
    fail_trials_of_dead_workers(study)
    failures = 0

    def after_trial(study: optuna.Study, trial: FrozenTrial) -> None:
        nonlocal failures
        failures = failures + 1 if trial.state == TrialState.FAIL else 0
        keep_only_the_best_model(study, plan.trials_dir)

    while (reason := budget.spent(study)) is None:
        if failures >= MAX_CONSECUTIVE_FAILURES:
            reason = f"{failures} trials in a row failed (read their logs in {plan.trials_dir})"
            break
        study.optimize(lambda trial: run_trial(trial, plan, budget), n_trials=1, catch=(TrialFailed,),
                       callbacks=[after_trial])
    logger.info("Search stopped: %s", reason)
    keep_only_the_best_model(study, plan.trials_dir)  # another worker may have found a better one meanwhile


def run_trial(trial: optuna.Trial, plan: SearchPlan, budget: Budget) -> float:
    """Train one configuration; report its validation score after each epoch; stop it when pruned or
    out of time. Returns the score after the last epoch."""
    trial.set_user_attr(WORKER_ATTR, WORKER)
    settings = plan.fixed | plan.space.suggest(trial)
    trial.set_user_attr(SETTINGS_ATTR, settings)
    run_dir = plan.trials_dir / str(trial.number)
    log_path = plan.trials_dir / f"{trial.number}.log"  # beside the run folder: run_classification.py wants an empty one
    logger.info("Trial %d: %s", trial.number, " ".join(f"{name}={settings[name]}" for name in plan.space.names))
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(trial_command(plan, settings, run_dir), stdout=log, stderr=subprocess.STDOUT,
                                   env=trial_environment(settings), cwd=REPO_ROOT, preexec_fn=dies_with_parent())
        try:
            reported: set[int] = set()
            while True:
                done = wait(process, POLL_SECONDS)
                new = sorted(set(scores := epoch_scores(run_dir, plan.score_key)) - reported)
                for epoch in new:
                    trial.report(scores[epoch], epoch)
                reported.update(new)
                if done:
                    break
                if new and trial.should_prune():  # the pruner judges epochs: nothing new, nothing to judge
                    raise optuna.TrialPruned(f"after epoch {max(reported)}, below the other trials there")
                if budget.time_is_up():
                    trial.set_user_attr(STOPPED_ATTR, "time budget")
                    raise optuna.TrialPruned("stopped: the time budget is spent")
        finally:
            stop(process)
    if process.returncode != 0:
        message = f"run_classification.py exited with {process.returncode}; see {log_path}"
        trial.set_user_attr(ERROR_ATTR, message)
        raise TrialFailed(message)
    results = read_json(run_dir / EVAL_RESULTS)
    if plan.score_key not in results:
        raise TrialFailed(f"{run_dir / EVAL_RESULTS} has no {plan.score_key}")
    return results[plan.score_key]


def trial_command(plan: SearchPlan, settings: dict[str, str], run_dir: Path) -> list[str]:
    """run_classification.py as scripts/lib/run_task.sh calls it, on train and validation only (a search
    scores nothing on test), scoring validation and saving a checkpoint (for its trainer state) each epoch."""
    task = plan.task
    command = [
        sys.executable, str(REPO_ROOT / "run_classification.py"),
        "--train_file", str(plan.data_dir / "train.csv"), "--validation_file", str(plan.data_dir / "validation.csv"),
        "--label_column_name", task.label_column, "--metric_name", task.metric,
        "--do_train", "--do_eval", "--shuffle_train_dataset",
        "--eval_strategy", "epoch", "--save_strategy", "epoch", "--save_total_limit", "1",
        "--report_to", "none", "--disable_tqdm", "true", "--output_dir", str(run_dir),
    ]  # fmt: skip
    if task.class_names:
        command += ["--class_names", json.dumps(task.class_names, ensure_ascii=False)]
    for name, value in settings.items():
        if name == "PRECISION":
            command += ["--bf16", str(value == "bf16").lower(), "--fp16", str(value == "fp16").lower()]
        elif value:  # empty: none, the flag left out (FREEZE_LOWER_LAYERS=, MAX_TRAIN_SAMPLES=)
            command += [SETTINGS[name].flag, value]
    return command


def trial_environment(settings: dict[str, str]) -> dict[str, str]:
    # The trial's report.md lists its settings as a task script's run does (textclf/runs/folder.py).
    lines = "".join(f"{name}={value}\n" for name, value in settings.items())
    return {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false", SCRIPT_SETTINGS_VARIABLE: lines}


def dies_with_parent() -> Callable[[], None] | None:
    """For Popen's preexec_fn: the trial's process gets SIGKILL when the search process dies, even by
    SIGKILL, so a killed search leaves no training running on (Linux; elsewhere None). prctl is looked up
    here, in the parent: the child, forked beside the heartbeat thread, only calls it."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    return lambda: prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def wait(process: subprocess.Popen, seconds: float) -> bool:
    """Whether the process has ended, waiting up to `seconds` for it."""
    try:
        process.wait(timeout=seconds)
        return True
    except subprocess.TimeoutExpired:
        return False


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        if not wait(process, STOP_SECONDS):
            process.kill()
            process.wait()


def epoch_scores(run_dir: Path, key: str) -> dict[int, float]:
    """The validation score after each epoch so far, by epoch: from the last checkpoint's trainer state
    while the run trains, from the run's own once it has finished (its checkpoints are deleted then)."""
    scores: dict[int, float] = {}
    for path in [*run_dir.glob(f"{CHECKPOINT_PREFIX}-*/{TRAINER_STATE}"), run_dir / TRAINER_STATE]:
        try:
            history = json.loads(path.read_text(encoding="utf-8"))["log_history"]
        except (OSError, ValueError, KeyError):
            continue  # not there yet, being written, or rotated away: the next look reads it
        scores |= {round(entry["epoch"]): entry[key] for entry in history if key in entry and "epoch" in entry}
    return scores


# ---- disk: only the best trial keeps its model ---------------------------------------------------------


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    try:
        return study.best_trial
    except ValueError:  # no trial completed yet
        return None


def keep_only_the_best_model(study: optuna.Study, trials_dir: Path) -> None:
    """Delete the weights and checkpoints of every finished trial but the best one (their metrics, logs and
    reports stay). Running trials are left alone: they may be another worker's, and may become the best."""
    best = best_trial(study)
    for trial in study.get_trials(deepcopy=False, states=FINISHED):
        run_dir = trials_dir / str(trial.number)
        if (best is None or trial.number != best.number) and run_dir.is_dir():
            delete_weights(run_dir)


def delete_weights(run_dir: Path) -> None:
    for checkpoint in run_dir.glob(f"{CHECKPOINT_PREFIX}-*"):
        shutil.rmtree(checkpoint, ignore_errors=True)
    for pattern in ("*.safetensors", "*.safetensors.index.json", "pytorch_model*.bin"):
        for path in run_dir.glob(pattern):
            path.unlink(missing_ok=True)


def copy_paste_command(plan: SearchPlan, trial: FrozenTrial) -> str:
    """The task script run with the trial's searched settings: `LR=3e-05 EPOCHS=3 bash scripts/train_tweets.sh`."""
    assignments = " ".join(f"{name}={shlex.quote(value)}" for name, value in plan.searched_settings(trial).items())
    return f"{assignments} bash {plan.task.script}"
