"""The search space: which of a task script's settings a search varies, over which values.

A space is written the way the task scripts' variables are named, one entry per setting, separated by
spaces (scripts/search.sh's SPACE, search.py --space):

    LR=1e-5..2e-4:log EPOCHS=1..3 BATCH_SIZE=16|32|64 TEXT_COLUMNS=text|keyword,text FREEZE_LOWER_LAYERS=none|0|2

`LOW..HIGH` is a range (whole numbers for whole-number settings), `:log` samples it on a log scale,
`A|B|C` are choices, a single value fixes the setting; `none` is the empty value of the settings where
empty means none. The models come from MODELS, as the choices of MODEL. Everything is checked here,
before a study is opened or anything trains: a mistake is one line, not a failed trial an hour later.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import optuna

from textclf import UserInputError
from textclf.hardware import AUTO, fast_precision, requested_precision
from textclf.models.offline import available_offline_models, resolve_model_name_or_path
from textclf.tasks import Task

logger = logging.getLogger(__name__)

NONE = "none"  # in a space, the empty value of a setting where empty means none
LOG = "log"


@dataclass(frozen=True)
class Setting:
    """A task-script variable a trial sets, and the run_classification.py flag it becomes."""

    name: str
    flag: str
    kind: type  # int, float or str: what its values are
    minimum: float | None = None  # the smallest value that trains
    searchable: bool = True  # False: fixed for the whole search (machinery, or searched through MODELS)
    may_be_empty: bool = False  # empty means none (the flag is left out), as in the task scripts


SETTINGS = {
    setting.name: setting
    for setting in (
        Setting("MODEL", "--model_name_or_path", str, searchable=False),  # searched through MODELS
        Setting("LR", "--learning_rate", float, minimum=0),
        Setting("EPOCHS", "--num_train_epochs", int, minimum=1),
        Setting("BATCH_SIZE", "--per_device_train_batch_size", int, minimum=1),
        Setting("WARMUP_STEPS", "--warmup_steps", int, minimum=0),
        Setting("MAX_SEQ_LENGTH", "--max_seq_length", int, minimum=1),
        Setting("TRUNCATION_TAIL_TOKENS", "--truncation_tail_tokens", int, minimum=0),
        Setting("FREEZE_LOWER_LAYERS", "--freeze_lower_layers", int, minimum=0, may_be_empty=True),
        Setting("TEXT_COLUMNS", "--text_column_names", str),
        Setting("MAX_TRAIN_SAMPLES", "--max_train_samples", int, minimum=1, searchable=False, may_be_empty=True),
        Setting("MAX_EVAL_SAMPLES", "--max_eval_samples", int, minimum=1, searchable=False, may_be_empty=True),
        Setting("SEED", "--seed", int, searchable=False),
        Setting("OPTIM", "--optim", str, searchable=False),
        Setting("SAMPLING", "--train_sampling_strategy", str, searchable=False),
        Setting("EVAL_BATCH_SIZE", "--per_device_eval_batch_size", int, minimum=1, searchable=False),
        Setting("LOGGING_STEPS", "--logging_steps", int, minimum=1, searchable=False),
        Setting("PRECISION", "", str, searchable=False),  # resolved to bf16, fp16 or fp32: --bf16 / --fp16
    )
}
SEARCHABLE = [name for name, setting in SETTINGS.items() if setting.searchable]


@dataclass(frozen=True)
class Range:
    name: str
    low: float
    high: float
    log: bool = False

    def suggest(self, trial: optuna.Trial) -> str:
        if SETTINGS[self.name].kind is int:
            return str(trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log))
        # Three significant digits: what the trial trains with is what the copy-paste command says.
        return f"{trial.suggest_float(self.name, self.low, self.high, log=self.log):.3g}"

    def largest(self) -> float:
        return self.high


@dataclass(frozen=True)
class Choices:
    name: str
    values: tuple[str, ...]  # "" for none

    def suggest(self, trial: optuna.Trial) -> str:
        return trial.suggest_categorical(self.name, self.values)

    def largest(self) -> float:
        return max((float(value) for value in self.values if value), default=0)


Dimension = Range | Choices


@dataclass(frozen=True)
class Space:
    dimensions: tuple[Dimension, ...]  # MODEL first

    @property
    def names(self) -> list[str]:
        return [dimension.name for dimension in self.dimensions]

    def dimension(self, name: str) -> Dimension | None:
        return next((dimension for dimension in self.dimensions if dimension.name == name), None)

    def suggest(self, trial: optuna.Trial) -> dict[str, str]:
        """A trial's values of the searched settings, as the task script's variables take them."""
        return {dimension.name: dimension.suggest(trial) for dimension in self.dimensions}

    def describe(self) -> str:
        return " ".join(describe(dimension) for dimension in self.dimensions)


def describe(dimension: Dimension) -> str:
    if isinstance(dimension, Range):
        bounds = "..".join(f"{bound:g}" for bound in (dimension.low, dimension.high))
        return f"{dimension.name}={bounds}{':' + LOG if dimension.log else ''}"
    return f"{dimension.name}={'|'.join(value or NONE for value in dimension.values)}"


def parse_space(text: str, models: list[str]) -> Space:
    """`SPACE` and `MODELS` as a Space; any mistake in them is a UserInputError naming the entry."""
    if not models:
        raise UserInputError("MODELS: empty; name at least one installed model (e.g. minilm-l6)")
    dimensions: list[Dimension] = [Choices("MODEL", tuple(dict.fromkeys(models)))]
    for entry in text.split():
        name, equals, values = entry.partition("=")
        if not equals:
            raise UserInputError(f"SPACE entry {entry!r}: write NAME=LOW..HIGH, NAME=LOW..HIGH:log, NAME=A|B|C or NAME=VALUE")
        if name == "MODEL":
            raise UserInputError("SPACE: MODEL is searched through MODELS (installed models, separated by spaces)")
        if name not in SEARCHABLE:
            raise UserInputError(f"SPACE: unknown parameter {name!r}; searchable: {', '.join(SEARCHABLE)}")
        if name in {dimension.name for dimension in dimensions}:
            raise UserInputError(f"SPACE: {name} given twice")
        dimensions.append(parse_dimension(SETTINGS[name], values, entry))
    return Space(tuple(dimensions))


def parse_dimension(setting: Setting, values: str, entry: str) -> Dimension:
    if ".." in values:
        bounds, _, scale = values.partition(":")
        if scale not in ("", LOG):
            raise UserInputError(f"SPACE: {entry}: unknown scale {scale!r}; only :{LOG}")
        if setting.kind is str:
            raise UserInputError(f"SPACE: {entry}: {setting.name} takes choices (A|B), not a range")
        low, _, high = bounds.partition("..")
        low_value, high_value = number(setting, low, entry), number(setting, high, entry)
        if low_value == high_value:
            raise UserInputError(f"SPACE: {entry}: an empty range; write {setting.name}={low} to fix it")
        if low_value > high_value:
            raise UserInputError(f"SPACE: {entry}: an inverted range, {low} is above {high}")
        if scale == LOG and low_value <= 0:
            raise UserInputError(f"SPACE: {entry}: a log range needs a low end above 0")
        return Range(setting.name, low_value, high_value, log=scale == LOG)
    choices = values.split("|")
    for choice in choices:
        if choice == NONE and setting.may_be_empty:
            continue
        if setting.kind is str:
            if not choice:
                raise UserInputError(f"SPACE: {entry}: an empty choice")
        else:
            number(setting, choice, entry)
    return Choices(setting.name, tuple(dict.fromkeys("" if choice == NONE else choice for choice in choices)))


def number(setting: Setting, text: str, entry: str) -> float:
    """A bound or choice of a numeric setting, checked against the setting's kind and smallest value."""
    try:
        value = float(text)
    except ValueError:
        raise UserInputError(f"SPACE: {entry}: {text!r} is not a number") from None
    if setting.kind is int and value != int(value):
        raise UserInputError(f"SPACE: {entry}: {setting.name} takes whole numbers")
    # A float's minimum is exclusive (a learning rate above 0), a whole number's inclusive (at least 1 epoch).
    exclusive = setting.kind is float
    if setting.minimum is not None and (value <= setting.minimum if exclusive else value < setting.minimum):
        raise UserInputError(f"SPACE: {entry}: {setting.name} must be {'above' if exclusive else 'at least'} {setting.minimum:g}")
    return value


def parse_fixed(entries: list[str]) -> dict[str, str]:
    """`NAME=value` settings every trial shares (the task script's and settings.sh's, as the script resolved
    them); empty means none where the task scripts say so."""
    fixed = {}
    for entry in entries:
        name, equals, value = entry.partition("=")
        if not equals or name not in SETTINGS:
            raise UserInputError(f"--fixed {entry!r}: expected NAME=value with NAME one of {', '.join(SETTINGS)}")
        fixed[name] = value
    return fixed


def complete_fixed_settings(fixed: dict[str, str], task: Task) -> dict[str, str]:
    """The fixed settings as a trial uses them: the task's text columns where none are given (as the task
    scripts do), and PRECISION=auto resolved once, so that every trial of this worker trains alike."""
    completed = dict(fixed)
    if not completed.get("TEXT_COLUMNS"):
        completed["TEXT_COLUMNS"] = task.text_columns
    precision = requested_precision(completed.get("PRECISION") or AUTO)
    completed["PRECISION"] = fast_precision() if precision == AUTO else precision
    return completed


def check_models(space: Space) -> None:
    """Each model of MODELS is installed here (search trials never download), and has the layers the
    space freezes: a model that cannot train fails here, not in the middle of the search."""
    model_dimension = space.dimension("MODEL")
    freeze = space.dimension("FREEZE_LOWER_LAYERS")
    for name in model_dimension.values:
        try:
            model = resolve_model_name_or_path(name)
        except UserInputError as error:
            raise UserInputError(f"MODELS: {str(error).removeprefix('--model_name_or_path ')}") from None
        if not model.is_local:
            installed = ", ".join(available_offline_models()) or "none"
            raise UserInputError(f"MODELS: {name!r} is not installed here (installed: {installed}; more with "
                                 "bash scripts/setup_models.sh ALIAS)")
        if freeze is not None:
            layers = layer_count(Path(model.path))
            if layers is not None and freeze.largest() > layers:
                raise UserInputError(f"SPACE: {describe(freeze)}: {name} has {layers} layers")


def layer_count(model_dir: Path) -> int | None:
    """The encoder's number of layers from its config.json; None where it does not say."""
    try:
        return json.loads((model_dir / "config.json").read_text(encoding="utf-8")).get("num_hidden_layers")
    except (OSError, ValueError):
        return None
