"""The honest result: the best configuration and the task's default on the five-split protocol.

The search picks its best trial on the validation rows that score it, so its best score flatters it. Here
both configurations train with scripts/repeat_splits.sh (the task script on five seeded validation
splits), into <search_dir>/confirm-trial<N>/ and <search_dir>/confirm-default/, and are compared by their
means over the splits that both finished, against the split-to-split spread.
"""

from __future__ import annotations

import logging
import os
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

from optuna.trial import FrozenTrial

from textclf import INTERRUPTED_EXIT_CODE, REPO_ROOT, UserInputError
from textclf.reports.splits import finished_seeds, split_scores
from textclf.runs.folder import ALL_RESULTS, read_optional_json
from textclf.search.study import SearchPlan

logger = logging.getLogger(__name__)

DEFAULT_ROOT = "confirm-default"
REPEAT_SPLITS = REPO_ROOT / "scripts" / "repeat_splits.sh"
# What repeat_splits.sh's runs call the task's metric (validation_metrics.json): the F1 of a binary task's
# positive class (what Kaggle scores tweets by), else the macro F1.
SPLIT_SCORE_NAMES = {"f1": ("positive_f1", "macro_f1"), "accuracy": ("accuracy",)}


def best_root(search_dir: Path, trial_number: int) -> Path:
    """Named after the trial: when a resumed search finds a better one, it is confirmed anew."""
    return search_dir / f"confirm-trial{trial_number}"


def run_five_splits(plan: SearchPlan, best: FrozenTrial) -> None:
    """repeat_splits.sh for the best trial's settings, then for the task's default. Both get the settings
    the trials shared (the task script's, as the search ran them); the default also gets the searched
    settings out of its way, so that only what the search changed differs. Finished splits are skipped."""
    shared = {name: value for name, value in os.environ.items() if name not in plan.space.names} | plan.fixed
    for root, settings in ((best_root(plan.search_dir, best.number), plan.searched_settings(best)),
                           (plan.search_dir / DEFAULT_ROOT, {})):
        logger.info("Five splits of %s into %s", " ".join(f"{k}={v}" for k, v in settings.items()) or "the default", root)
        environment = shared | settings | {"TASK": plan.task.name, "OUTPUT_ROOT": str(root.resolve())}
        result = subprocess.run(["bash", str(REPEAT_SPLITS)], env=environment, cwd=REPO_ROOT)
        if result.returncode == INTERRUPTED_EXIT_CODE:
            raise KeyboardInterrupt
        if result.returncode != 0:
            raise UserInputError(f"scripts/repeat_splits.sh into {root} failed (exit code {result.returncode}, "
                                 "see above); run the same command again to continue it")


@dataclass(frozen=True)
class FiveSplits:
    scores: dict[str, float]  # split seed -> the task's score on that split's validation rows
    train_seconds: dict[str, float]  # split seed -> the Trainer's train_runtime (the time budget is training's)

    @property
    def mean(self) -> float:
        return statistics.mean(self.scores.values())

    @property
    def sd(self) -> float:
        return statistics.stdev(self.scores.values()) if len(self.scores) > 1 else 0.0

    @property
    def mean_train_seconds(self) -> float | None:
        return statistics.mean(self.train_seconds.values()) if self.train_seconds else None


@dataclass(frozen=True)
class Confirmation:
    trial_number: int
    score_name: str
    best: FiveSplits
    default: FiveSplits

    @property
    def difference(self) -> float:
        return self.best.mean - self.default.mean

    @property
    def spread(self) -> float:
        """The split-to-split standard deviation, the larger of the two."""
        return max(self.best.sd, self.default.sd)

    @property
    def exceeds_spread(self) -> bool:
        return abs(self.difference) > self.spread

    @property
    def time_ratio(self) -> float | None:
        """The best configuration's mean training time over the default's, both measured in this search."""
        best, default = self.best.mean_train_seconds, self.default.mean_train_seconds
        return best / default if best is not None and default else None

    @property
    def best_wins(self) -> int:
        """On how many splits the best configuration scored above the default."""
        return sum(self.best.scores[seed] > self.default.scores[seed] for seed in self.best.scores)


def read_confirmation(search_dir: Path, trial_number: int, metric: str) -> Confirmation | None:
    """Both configurations' scores on the splits that both finished; None before any has."""
    roots = best_root(search_dir, trial_number), search_dir / DEFAULT_ROOT
    seeds = sorted(set(finished_split_seeds(roots[0])) & set(finished_split_seeds(roots[1])))
    if not seeds:
        return None
    first = split_scores(roots[0] / f"split{seeds[0]}")
    names = SPLIT_SCORE_NAMES.get(metric, (metric,))
    score_name = next((name for name in names if name in first), None)
    if score_name is None:
        logger.warning("No %s in the five-split runs' validation metrics: no confirmation", " or ".join(names))
        return None
    best, default = (FiveSplits({seed: split_scores(root / f"split{seed}")[score_name] for seed in seeds},
                                train_seconds(root, seeds)) for root in roots)
    return Confirmation(trial_number, score_name, best, default)


def train_seconds(root: Path, seeds: list[str]) -> dict[str, float]:
    """Each split run's training time (all_results.json's train_runtime), where it was recorded."""
    results = {seed: read_optional_json(root / f"split{seed}" / ALL_RESULTS).get("train_runtime") for seed in seeds}
    return {seed: seconds for seed, seconds in results.items() if seconds is not None}


def finished_split_seeds(root: Path) -> list[str]:
    """The split seeds of repeat_splits.sh's runs in `root` (split<seed>/) whose runs have finished."""
    seeds = sorted(path.name.removeprefix("split") for path in root.glob("split*")
                   if path.is_dir() and not path.name.endswith("-tfidf"))
    try:
        return finished_seeds(root, seeds) if seeds else []
    except UserInputError:  # none finished yet
        return []
