"""Command lines copied from older docs and tutorials keep working: run_classification.py's argument fixes.

transformers 5 renamed or removed arguments that tutorials still show, refuses `--bf16` on a
machine without a GPU, and makes `torchrun` on a CPU machine train the whole data in every process.
These functions rewrite the command line (or the environment) before HfArgumentParser sees it.
"""

from __future__ import annotations

import logging
import os

from textclf import UserInputError

logger = logging.getLogger(__name__)

# Arguments of older transformers that tutorials still show; transformers 5 rejects them.
RENAMED_ARGUMENTS = {"--evaluation_strategy": "--eval_strategy", "--no_cuda": "--use_cpu"}
# (--overwrite_output_dir, also removed, is run_classification's own again: textclf/training/resume.py.)
REMOVED_FLAGS = {
    "--save_safetensors": "transformers 5 always saves safetensors",
    "--logging_dir": "transformers 5 dropped it; loggers choose their own folder",
}
BOOLEAN_WORDS = {"true", "false", "yes", "no", "1", "0"}
# --report_to integrations: transformers' test that each can run (transformers.integrations), and the
# package a user installs for it. transformers itself fails only when the Trainer is built, after
# the model is loaded, with a traceback (tensorboard: "RuntimeError: TensorBoardCallback requires
# tensorboard"). tensorboard is pinned in requirements.txt; kubeflow needs no package.
REPORTING_INTEGRATIONS = {
    "azure_ml": ("is_azureml_available", "azureml-core"),
    "clearml": ("is_clearml_available", "clearml"),
    "codecarbon": ("is_codecarbon_available", "codecarbon"),
    "comet_ml": ("is_comet_available", "comet-ml"),  # also needs COMET_API_KEY
    "dagshub": ("is_dagshub_available", "dagshub mlflow"),
    "dvclive": ("is_dvclive_available", "dvclive"),
    "flyte": ("is_flyte_deck_standard_available", "flytekit flytekitplugins-deck-standard"),
    "mlflow": ("is_mlflow_available", "mlflow"),
    "neptune": ("is_neptune_available", "neptune"),
    "swanlab": ("is_swanlab_available", "swanlab"),
    "tensorboard": ("is_tensorboard_available", "tensorboard"),
    "trackio": ("is_trackio_available", "trackio"),
    "wandb": ("is_wandb_available", "wandb"),
}


def translate_legacy_arguments(argv: list[str]) -> list[str]:
    """Rewrite arguments removed or renamed in transformers 5 so copied commands keep working."""
    translated, index = [], 0
    while index < len(argv):
        argument = argv[index]
        name, has_inline_value, inline_value = argument.partition("=")
        following = argv[index + 1] if index + 1 < len(argv) else None
        takes_next = not has_inline_value and following is not None and not following.startswith("--")
        index += 1
        if name in RENAMED_ARGUMENTS:
            logger.warning("%s is now called %s", name, RENAMED_ARGUMENTS[name])
            translated.append(RENAMED_ARGUMENTS[name] + has_inline_value + inline_value)
        elif name in REMOVED_FLAGS:
            logger.warning("Ignoring %s: %s", name, REMOVED_FLAGS[name])
            if takes_next and (name == "--logging_dir" or following.lower() in BOOLEAN_WORDS):
                index += 1
        elif name == "--group_by_length":
            value = inline_value if has_inline_value else (following if takes_next else "true")
            if takes_next and following.lower() in BOOLEAN_WORDS:
                index += 1
            if value.lower() in ("true", "yes", "1"):
                logger.warning("--group_by_length is now --train_sampling_strategy group_by_length")
                translated += ["--train_sampling_strategy", "group_by_length"]
        else:
            translated.append(argument)
    return translated


def check_reporting_integrations(report_to: list[str]) -> None:
    """Every --report_to integration can run here; else one error naming the package to install.

    Checked before anything heavy is loaded. `all` and `none` were already resolved by TrainingArguments.
    """
    from transformers import integrations

    known = sorted(integrations.INTEGRATION_TO_CALLBACK)
    for name in report_to:
        if name not in known:
            raise UserInputError(f"--report_to {name}: not an integration transformers knows; use one of: "
                                 f"{', '.join(known)}, all or none")
        if name not in REPORTING_INTEGRATIONS:
            continue
        available, package = REPORTING_INTEGRATIONS[name]
        if not getattr(integrations, available)():
            raise UserInputError(f"--report_to {name} needs the {package} package, which is not installed (or not "
                                 f"set up) here; install it with: pip install {package}; or pass --report_to none")


def distribute_over_cpu_processes_without_accelerator() -> None:
    """Make `torchrun --nproc_per_node 2` split the work on a machine without a GPU.

    Launched so, accelerate (through which the Trainer sets up devices) starts the process group
    but treats each process as a separate single-process run unless told to use the CPU: both
    would train on all the data. This must be set before TrainingArguments sets up its devices.
    """
    import torch

    if os.environ.get("LOCAL_RANK") is not None and not torch.accelerator.is_available():
        os.environ.setdefault("ACCELERATE_USE_CPU", "true")


def bf16_needs_use_cpu(arguments: dict[str, str | bool]) -> bool:
    """`--bf16` on a machine without a GPU: train on the CPU in bf16 instead of failing.

    transformers refuses `--bf16` without a GPU unless `--use_cpu` is also given ("Your setup
    doesn't support bf16/gpu"), although CPUs with AVX512-BF16 or AMX train markedly faster in bf16.
    """
    import torch

    wants_bf16 = str(arguments.get("bf16", False)).lower() in ("true", "yes", "1")
    if wants_bf16 and "use_cpu" not in arguments and not torch.accelerator.is_available():
        logger.warning("--bf16 without a GPU: training in bf16 on the CPU (--use_cpu True)")
        return True
    return False


def command_line_flags(argv: list[str]) -> dict[str, str | bool]:
    """The `--name [value]` pairs of a command line, enough to look up a few flags."""
    flags = {}
    for index, argument in enumerate(argv):
        if argument.startswith("--"):
            name, has_value, value = argument[2:].partition("=")
            following = argv[index + 1] if index + 1 < len(argv) else "--"
            flags[name] = value if has_value else (True if following.startswith("--") else following)
    return flags
