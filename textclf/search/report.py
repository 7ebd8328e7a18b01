"""search.md, in the search folder: the trials, the optimisation history and the parameter importances
(Optuna's matplotlib plots), the best configuration as a command, and the five-split confirmation."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from textclf.markdown import escape_markdown
from textclf.reports.analysis import pyplot
from textclf.search.confirm import Confirmation
from textclf.search.study import (
    ERROR_ATTR,
    RETRY_ATTR,
    STOPPED_ATTR,
    TRIALS_DIR,
    WORKER_ATTR,
    SearchPlan,
    best_trial,
    copy_paste_command,
)

logger = logging.getLogger(__name__)

REPORT = "search.md"
HISTORY_PLOT = "history.png"
IMPORTANCE_PLOT = "importances.png"
STATE_NAMES = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed",
               TrialState.RUNNING: "running", TrialState.WAITING: "waiting"}


def write_search_report(study: optuna.Study, plan: SearchPlan, storage_shown: str,
                        confirmation: Confirmation | None) -> Path:
    trials = study.get_trials(deepcopy=False)
    counts = {name: sum(STATE_NAMES[trial.state] == name for trial in trials) for name in STATE_NAMES.values()}
    best = best_trial(study)
    lines = [
        f"# Hyperparameter search: {plan.task.name}",
        "",
        f"Study `{study.study_name}` in `{storage_shown}`; each trial scored by `{plan.task.metric}` on the validation "
        f"split of `{plan.data_dir}` after each epoch; trial folders in `{TRIALS_DIR}/`.",
        f"Searched: `{plan.space.describe()}`. Trials: " + ", ".join(f"{count} {name}" for name, count in counts.items() if count) + ".",
        "",
    ]
    if best is None:
        lines += ["No trial has completed yet.", ""]
    else:
        lines += [
            f"**Best: trial {best.number}, {plan.task.metric} {best.value:.4f}** on the validation rows it was picked on "
            "(so optimistic: see the five-split confirmation). As a command:",
            "",
            "```",
            copy_paste_command(plan, best),
            "```",
            "",
        ]
    lines += ["## Trials", "", *trials_table(trials, plan), ""]
    lines += plots(study, plan.search_dir, f"validation {plan.task.metric}")
    lines += confirmation_section(confirmation, plan)
    path = plan.search_dir / REPORT
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def trials_table(trials: list[FrozenTrial], plan: SearchPlan) -> list[str]:
    names = plan.space.names
    header = ["trial", "state", plan.task.metric, "epochs scored", "seconds", *names, "worker", "note"]
    rows = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for trial in trials:
        settings = plan.settings_of(trial)
        cells = [
            str(trial.number),
            STATE_NAMES.get(trial.state, trial.state.name.lower()),
            "" if trial.value is None else f"{trial.value:.4f}",
            str(len(trial.intermediate_values)),
            "" if trial.duration is None else f"{trial.duration.total_seconds():.0f}",
            *(escape_markdown(settings.get(name, "")) or "none" for name in names),
            escape_markdown(trial.user_attrs.get(WORKER_ATTR, "")),
            escape_markdown(note(trial)),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def note(trial: FrozenTrial) -> str:
    notes = []
    if RETRY_ATTR in trial.user_attrs:
        notes.append(f"a rerun of trial {trial.user_attrs[RETRY_ATTR]}, which a killed worker left unfinished")
    if trial.user_attrs.get(STOPPED_ATTR):
        notes.append(f"stopped by the {trial.user_attrs[STOPPED_ATTR]}")
    elif trial.state == TrialState.PRUNED:
        notes.append(f"pruned after epoch {trial.last_step}" if trial.last_step is not None else "pruned")
    if trial.user_attrs.get(ERROR_ATTR):
        notes.append(trial.user_attrs[ERROR_ATTR])
    elif trial.state == TrialState.FAIL:
        notes.append("its worker stopped while it ran (killed or interrupted)")
    return "; ".join(notes)


def plots(study: optuna.Study, search_dir: Path, score_name: str) -> list[str]:
    """The optimisation history and the parameter importances as PNGs beside search.md, with a line each."""
    lines = []
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    plt = pyplot()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # the plots' API, unchanged since 2.2
        from optuna.visualization.matplotlib import plot_optimization_history, plot_param_importances

        lines += ["## Optimisation history", ""]
        if complete:
            axes = plot_optimization_history(study, target_name=score_name)
            axes.figure.savefig(search_dir / HISTORY_PLOT, dpi=100, bbox_inches="tight")
            plt.close(axes.figure)
            lines += [f"![Each trial's score and the best so far]({HISTORY_PLOT})", ""]
        else:
            lines += ["No trial has completed yet.", ""]
        lines += ["## Parameter importances", ""]
        # fANOVA needs several completed trials that differ in some parameter and in their scores.
        varied = any(len({trial.params.get(name) for trial in complete}) > 1 for name in complete[0].params) if complete else False
        if len({trial.value for trial in complete}) > 1 and varied:
            evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)  # the same picture for the same trials
            axes = plot_param_importances(study, evaluator=evaluator, target_name=score_name)
            axes.figure.savefig(search_dir / IMPORTANCE_PLOT, dpi=100, bbox_inches="tight")
            plt.close(axes.figure)
            lines += [f"![How much of the score's variation each parameter explains (fANOVA)]({IMPORTANCE_PLOT})",
                      "With few trials these are rough.", ""]
        else:
            lines += ["Too few completed trials to estimate them.", ""]
    return lines


def confirmation_section(confirmation: Confirmation | None, plan: SearchPlan) -> list[str]:
    lines = ["## Five-split confirmation", ""]
    if confirmation is None:
        return lines + ["Not run yet: `CONFIRM=1` in scripts/search.sh (search.py --confirm) trains the best configuration "
                        "and the task's default on the five splits of scripts/repeat_splits.sh.", ""]
    seeds = list(confirmation.best.scores)
    points = 100 * confirmation.difference
    verdict = ("more than the split-to-split spread" if confirmation.exceeds_spread
               else "within the split-to-split spread: not a demonstrated difference")
    lines += [
        f"Both trained by the task script on the same {len(seeds)} seeded validation splits (scripts/repeat_splits.sh), "
        f"scored by {confirmation.score_name}:",
        "",
        "| configuration | mean | sd | " + " | ".join(f"split {seed}" for seed in seeds) + " | training, mean |",
        "|---" * (4 + len(seeds)) + "|",
    ]
    for label, splits in ((f"best (trial {confirmation.trial_number})", confirmation.best), ("task default", confirmation.default)):
        seconds = splits.mean_train_seconds
        lines.append(f"| {label} | {splits.mean:.4f} | {splits.sd:.4f} | "
                     + " | ".join(f"{splits.scores[seed]:.4f}" for seed in seeds)
                     + f" | {'?' if seconds is None else f'{seconds:.0f} s'} |")
    lines += [
        "",
        f"Difference: {points:+.2f} points, {verdict} (the larger standard deviation: {100 * confirmation.spread:.2f} "
        f"points). The best configuration scored above the default on {confirmation.best_wins} of {len(seeds)} splits.",
        "",
    ]
    if confirmation.time_ratio is not None:
        lines += [f"Its training took {confirmation.time_ratio:.2f}x the default's (mean over the splits, measured in this "
                  "search, one after the other on this machine).", ""]
    return lines
