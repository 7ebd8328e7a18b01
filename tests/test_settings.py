"""Settings stated once: each task script keeps its own hyperparameters, scripts/lib/settings.sh the ones
every task shares, and the docs restate no default, or restate it right."""

from __future__ import annotations

import re
import subprocess

import pytest
from conftest import REPO_ROOT

from textclf.tasks import TASKS

SETTINGS = REPO_ROOT / "scripts" / "lib" / "settings.sh"
# What a task script may set: the hyperparameters a user edits for that task, and the shared settings a task
# overrides for itself: IMDB's EVAL_STRATEGY (one epoch: a score after each epoch would repeat the final one)
# and PREDICT_WITH (25,000 test reviews: predict.py on every core).
TASK_HYPERPARAMETERS = {"TASK", "MODEL", "EPOCHS", "LR", "BATCH_SIZE", "WARMUP_STEPS", "MAX_SEQ_LENGTH",
                        "TRUNCATION_TAIL_TOKENS", "MAX_TRAIN_SAMPLES", "MAX_EVAL_SAMPLES", "FREEZE_LOWER_LAYERS"}
TASK_OVERRIDES = {"EVAL_STRATEGY", "PREDICT_WITH"}
ASSIGNMENT = re.compile(r"^([A-Z][A-Z0-9_]*)=", re.MULTILINE)


def assigned(path) -> set[str]:
    return set(ASSIGNMENT.findall(path.read_text(encoding="utf-8")))


def script_defaults(script) -> dict[str, str]:
    """The values a task script runs with when nothing is set: its own lines, then settings.sh, in bash."""
    own = "".join(line + "\n" for line in script.read_text(encoding="utf-8").splitlines() if not line.startswith("source "))
    names = sorted(assigned(script) | assigned(SETTINGS))
    program = own + f"set -euo pipefail\nsource {SETTINGS}\n" + "".join(f'printf "%s=%s\\n" {name} "${{{name}-}}"\n' for name in names)
    printed = subprocess.run(["env", "-i", "bash", "-c", program], capture_output=True, text=True, check=True).stdout
    return dict(line.split("=", 1) for line in printed.splitlines())


@pytest.mark.parametrize("task", sorted(TASKS))
def test_a_task_script_states_only_its_own_hyperparameters(task):
    script = REPO_ROOT / TASKS[task].script
    assert assigned(script) <= TASK_HYPERPARAMETERS | TASK_OVERRIDES, script
    assert not (assigned(script) & assigned(SETTINGS)) - TASK_OVERRIDES, script  # nothing of settings.sh restated
    defaults = script_defaults(script)
    assert defaults["TASK"] == task and defaults["OUTPUT_DIR"].startswith(f"experiments/{task.replace('_', '')}-")


def test_the_shared_settings_are_stated_in_one_place():
    """No other script of the task scripts' chain gives a shared setting a default value of its own (resolving one,
    TEXT_COLUMNS from the task table or PRECISION=auto from the machine, is no default)."""
    shared = assigned(SETTINGS) - TASK_OVERRIDES
    for path in [*(REPO_ROOT / "scripts").glob("train_*.sh"), REPO_ROOT / "scripts/lib/run_task.sh"]:
        for name, default in re.findall(r"^([A-Z_]+)=\$\{\1:?-([^}$]*)\}", path.read_text(encoding="utf-8"), re.MULTILINE):
            assert name not in shared, f"{path.name} gives {name} a default ({default!r}); settings.sh owns it"
    # Each setting: one form, `${X:-default}`, or `${X-default}` where empty means "none" (settings.sh says which).
    for name, form in re.findall(r"^([A-Z_]+)=\$\{\1(:?-)", SETTINGS.read_text(encoding="utf-8"), re.MULTILINE):
        assert form == ":-", f"{name}: in settings.sh every setting treats empty as unset"


# A default restated in prose: "<number> epochs", "batch <number>", "lr <number>", "max length <number>", "<number>
# frozen layers", on a line that says "default". Checked against the scripts' values; dated logs are history.
RESTATED = {"EPOCHS": r"(\d+) epochs?", "BATCH_SIZE": r"batch (\d+)", "LR": r"lr ([\d.e-]+)",
            "MAX_SEQ_LENGTH": r"max length (\d+)", "FREEZE_LOWER_LAYERS": r"(\d+) (?:lowest |frozen )+layers"}
PROSE = ["README.md", "docs/decoupled.md", "docs/adding_a_task.md", "docs/comparison.md", "bench/decoupled_speed.py",
         "bench/serve_latency.py", "bench/serve_load.py"]  # bench/train_speed.py pins round 1's recipe on purpose


def test_docs_restate_no_default_or_restate_it_right():
    values: dict[str, set[str]] = {}
    for task in TASKS.values():
        for name, value in script_defaults(REPO_ROOT / task.script).items():
            values.setdefault(name, set()).add(value)
    for name in PROSE:
        for number, line in enumerate((REPO_ROOT / name).read_text(encoding="utf-8").splitlines(), 1):
            if "default" not in line.lower():
                continue
            for variable, pattern in RESTATED.items():
                for value in re.findall(pattern, line):
                    assert value in values[variable], f"{name}:{number} restates {variable}={value}: {line.strip()}"
