"""Hyperparameter search (search.py, scripts/search.sh): Optuna over the task scripts' own settings.

    space   the search space: which task-script settings are searched and over what values, checked
            before anything trains
    study   the study in its database, the trials (each a run_classification.py run of its own), pruning,
            the budget, resuming, the best trial's model kept
    confirm the best configuration and the task's default on the five-split protocol (repeat_splits.sh)
    report  search.md: the trials, the optimisation history, the parameter importances, the confirmation

The last stage: it trains through run_classification.py and reads what reports/ reads.
"""
