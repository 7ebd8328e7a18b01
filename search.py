#!/usr/bin/env python
"""Search a task's hyperparameters with Optuna, within a budget, resumably, on one machine or many.

Each trial is a run_classification.py run into <search_dir>/trials/<number>/, scored on validation after
each epoch; unpromising trials are pruned. The study lives in a database (a SQLite file in the search
folder by default): run the same command again to continue it, or on another machine with a shared
--storage to add a worker. search.md reports the trials; --confirm then trains the best configuration
and the task's default on the five-split protocol, the honest comparison. scripts/search.sh runs it
with the task script's settings; docs/search.md explains it.

    python search.py --task tweets --models "minilm-l6 minilm-l3" --minutes 30 --fixed MAX_SEQ_LENGTH=64 SEED=42 ...
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from textclf import UserInputError, exit_code_of
from textclf.data.preparation import incomplete_reason
from textclf.search.confirm import read_confirmation, run_five_splits
from textclf.search.report import write_search_report
from textclf.search.space import check_models, complete_fixed_settings, parse_fixed, parse_space
from textclf.search.study import (
    Budget,
    SearchPlan,
    best_trial,
    copy_paste_command,
    default_storage,
    open_storage,
    open_study,
    run_search,
)
from textclf.tasks import TASKS, task_named

logger = logging.getLogger("search")


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Search a task's hyperparameters with Optuna (docs/search.md).")
    parser.add_argument("--task", required=True, choices=sorted(TASKS), help="a task of the task table (textclf/tasks.py)")
    parser.add_argument("--models", required=True,
                        help="installed models to try, separated by spaces: zoo aliases (bash scripts/setup_models.sh) "
                             "or model folders")
    parser.add_argument("--space", help="the search space, e.g. \"LR=1e-5..2e-4:log EPOCHS=1..3 BATCH_SIZE=16|32\" "
                                        "(textclf/search/space.py; default: the task's, in textclf/tasks.py)")
    parser.add_argument("--fixed", nargs="*", default=[], metavar="NAME=VALUE",
                        help="the settings every trial shares, named as in the task scripts (scripts/search.sh passes the "
                             "task script's); a searched setting's value here is ignored")
    parser.add_argument("--data_dir", type=Path, help="the prepared data (default: data/<task>)")
    parser.add_argument("--search_dir", type=Path, help="where trials, study.db and search.md go (default: experiments/search-<task>)")
    parser.add_argument("--minutes", type=float, help="this command's time budget: no trial starts after it, and a trial "
                                                     "running then is stopped and recorded as pruned")
    parser.add_argument("--trials", type=int, help="the study's budget: stop once it holds this many trials, finished or "
                                                   "running, of every worker and earlier run")
    parser.add_argument("--storage", help="an Optuna RDB storage URL, e.g. postgresql+psycopg://user:password@host/db "
                                          "(default: sqlite:///<search_dir>/study.db)")
    parser.add_argument("--study_name", help="the study's name in the storage (default: the search folder's name)")
    parser.add_argument("--pruner", choices=("median", "hyperband", "none"), default="median",
                        help="how unpromising trials are stopped after an epoch (default: %(default)s)")
    parser.add_argument("--heartbeat_seconds", type=int, default=60,
                        help="a running trial's worker writes to the study this often; a trial silent for twice as "
                             "long is taken for a killed worker's and run again (default: %(default)s)")
    parser.add_argument("--confirm", action="store_true",
                        help="after the search, train the best configuration and the task's default on the five splits "
                             "of scripts/repeat_splits.sh and compare them in search.md")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_arguments(sys.argv[1:] if argv is None else argv)
    task = task_named(args.task)
    search_dir = args.search_dir or Path(f"experiments/search-{task.name}")
    data_dir = args.data_dir or Path(f"data/{task.name}")

    # Bad input stops here, in one line, before anything trains: the space, the models, the data, the budget.
    space = parse_space(task.search_space if args.space is None else args.space, args.models.split())
    check_models(space)
    fixed = complete_fixed_settings(parse_fixed(args.fixed), task)
    if (reason := incomplete_reason(data_dir)) is not None:
        raise UserInputError(f"{data_dir}: {reason}; prepare it first (bash {task.script} does, or prepare_data.py)")
    if args.minutes is None and args.trials is None:
        raise UserInputError("no budget: give --minutes, --trials or both")
    if (args.minutes is not None and args.minutes <= 0) or (args.trials is not None and args.trials < 1):
        raise UserInputError("--minutes must be above 0 and --trials at least 1")
    plan = SearchPlan(task=task, data_dir=data_dir, search_dir=search_dir, space=space, fixed=fixed)
    # Progress is logged from here on; what went wrong above is one line, alone.
    logging.basicConfig(level=logging.INFO, format="%(levelname)s - %(name)s - %(message)s")

    # The study, in its database (an unreachable one stops here too), then the trials.
    search_dir.mkdir(parents=True, exist_ok=True)
    storage_url = args.storage or default_storage(search_dir)
    storage, shown = open_storage(storage_url, args.heartbeat_seconds)
    study = open_study(storage, args.study_name or search_dir.resolve().name, args.pruner)
    logger.info("Searching %s", space.describe())
    deadline = None if args.minutes is None else time.monotonic() + 60 * args.minutes
    run_search(study, plan, Budget(deadline=deadline, trials=args.trials))

    # The honest result: the best configuration and the default on five splits, then the report.
    best = best_trial(study)
    if best is not None and args.confirm:
        run_five_splits(plan, best)
    confirmation = None if best is None else read_confirmation(search_dir, best.number, task.metric)
    report = write_search_report(study, plan, shown, confirmation)

    if best is None:
        print(f"\nNo trial completed. Report: {report}")
        return
    print(f"\nBest: trial {best.number}, {task.metric} {best.value:.4f} on validation (picked there, so optimistic). "
          f"As a command:\n  {copy_paste_command(plan, best)}")
    if confirmation is not None:
        print(f"Five splits: best {confirmation.best.mean:.4f} +- {confirmation.best.sd:.4f}, default "
              f"{confirmation.default.mean:.4f} +- {confirmation.default.sd:.4f}: {100 * confirmation.difference:+.2f} points, "
              f"{'more than' if confirmation.exceeds_spread else 'within'} the split-to-split spread")
    print(f"Report: {report}")


def cli() -> int:
    """Entry point: problems with the user's input become one `error:` line and exit code 2."""
    return exit_code_of(main, interrupted_hint="; run the same command again to continue the study")


if __name__ == "__main__":
    sys.exit(cli())
