"""How far an unfinished run got, so that the same command, run again, continues it.

run_classification.py follows the examples of transformers 4.x: with --do_train it looks for the last
checkpoint in --output_dir and resumes from it; --overwrite_output_dir starts again from scratch;
--resume_from_checkpoint PATH resumes from PATH; a --output_dir that is not empty and holds nothing
to resume is refused. On top of that:

- progress.json, written when training starts, holds the settings the run was started with: an
  interrupted run continues only with the same settings (a changed learning rate must not quietly
  continue the old run). It also says when training has finished and the final model is saved, so
  a run interrupted while evaluating or predicting does not train again;
- a checkpoint counts only when complete: the Trainer writes its trainer_state.json last;
- a finished run keeps none of this: its checkpoints (unless asked to keep them), its prediction
  chunks and progress.json are deleted before its run_info.json is marked finished.

This module imports nothing heavy; the task scripts ask it what to do:
    python -m textclf.runs.progress flags OUTPUT_DIR [--overwrite]
prints --overwrite_output_dir when OUTPUT_DIR holds nothing to continue (then run_classification.py
starts afresh, even over a finished run), and nothing when an interrupted run can continue.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textclf import UserInputError, exit_code_of
from textclf.runs.folder import (
    CHECKPOINT_PREFIX,
    PREDICTION_CHUNKS,
    PROGRESS,
    RUN_INFO,
    TRAINER_STATE,
    unfinished_reason,
    write_json_atomically,
)

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = re.compile(rf"^{CHECKPOINT_PREFIX}-(\d+)$")
OVERWRITE_FLAG = "--overwrite_output_dir"
HOW_TO_RESTART = f"add {OVERWRITE_FLAG} to train from scratch (the task scripts: OVERWRITE=1), or choose another --output_dir"
# Settings a run may continue with although they changed, said in a warning: the precision changes the
# arithmetic, not what is learnt, and the scripts' PRECISION=auto decides it again on each start.
MAY_CHANGE_ON_RESUME = ("bf16", "fp16")


@dataclass
class ResumePoint:
    """Where training starts: from scratch, from a checkpoint, or not at all (already trained)."""

    checkpoint: str | None = None
    trained: bool = False  # the final model is in the output directory: evaluate and predict with it

    @property
    def description(self) -> str | None:
        """What the run continued from, for run_info.json (None: it did not)."""
        if self.trained:
            return "the trained model"
        if self.checkpoint:
            return Path(self.checkpoint).name
        return None


# --------------------------------------------------------------------------- checkpoints


def checkpoint_step(path: Path) -> int | None:
    match = CHECKPOINT_NAME.match(Path(path).name)
    return int(match.group(1)) if match and Path(path).is_dir() else None


def checkpoints(output_dir: Path) -> list[Path]:
    """The checkpoint-<step> folders of `output_dir`, by step."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return []
    found = [path for path in output_dir.iterdir() if checkpoint_step(path) is not None]
    return sorted(found, key=checkpoint_step)


def is_complete_checkpoint(path: Path) -> bool:
    """The Trainer writes a checkpoint's trainer_state.json after the model, optimizer and RNG states."""
    try:
        json.loads((Path(path) / TRAINER_STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def remove_incomplete_checkpoints(output_dir: Path) -> None:
    """Checkpoints cut short by an interruption (or a full disk) are never resumed from."""
    for path in checkpoints(output_dir):
        if not is_complete_checkpoint(path):
            logger.warning("Removing %s: an incomplete checkpoint (no readable %s)", path, TRAINER_STATE)
            shutil.rmtree(path, ignore_errors=True)


def last_complete_checkpoint(output_dir: Path) -> Path | None:
    complete = [path for path in checkpoints(output_dir) if is_complete_checkpoint(path)]
    return complete[-1] if complete else None


# --------------------------------------------------------------------------- progress.json


def read_progress(output_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((Path(output_dir) / PROGRESS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_progress(output_dir: Path, settings: dict[str, Any], trained: bool = False) -> None:
    write_json_atomically(Path(output_dir) / PROGRESS, {"settings": settings, "trained": trained})


def mark_trained(output_dir: Path, settings: dict[str, Any]) -> None:
    """Training finished and the final model is saved: a rerun goes straight to evaluation and prediction."""
    write_progress(output_dir, settings, trained=True)


def settings_differences(then: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """`name: then -> now` for every setting that changed (compared as JSON stores them)."""
    now = json.loads(json.dumps(now))
    return [f"{name}: {then.get(name)!r} then, {now.get(name)!r} now"
            for name in sorted(set(then) | set(now)) if then.get(name) != now.get(name)]


# --------------------------------------------------------------------------- deciding where to start


def resume_point(output_dir: Path) -> ResumePoint | None:
    """What an interrupted run in `output_dir` can continue from (the trained model, a checkpoint), or None."""
    progress = read_progress(output_dir)
    if progress and progress.get("trained"):
        return ResumePoint(trained=True)
    checkpoint = last_complete_checkpoint(output_dir)
    return ResumePoint(checkpoint=str(checkpoint)) if checkpoint else None


def clear_resume_state(output_dir: Path, keep: Path | None = None) -> None:
    """Forget an earlier run in `output_dir`: its checkpoints (but `keep`), prediction chunks and progress."""
    output_dir = Path(output_dir)
    for path in checkpoints(output_dir):
        if keep is None or path.resolve() != Path(keep).resolve():
            shutil.rmtree(path, ignore_errors=True)
    shutil.rmtree(output_dir / PREDICTION_CHUNKS, ignore_errors=True)
    (output_dir / PROGRESS).unlink(missing_ok=True)


def plan_training(output_dir: str | Path, settings: dict[str, Any], overwrite: bool,
                  resume_from_checkpoint: str | None, is_main_process: bool = True) -> ResumePoint:
    """Where training starts, as transformers 4.x examples decided it, and the files that say so.

    Raises UserInputError for a --output_dir that holds other files and nothing to resume (as
    upstream did), and for an interrupted run started with other settings. In a distributed run
    the main process decides first and alone changes files; the others then read the same answer.
    """
    output_dir = Path(output_dir)
    if overwrite or resume_from_checkpoint:
        if overwrite and is_main_process:
            if output_dir.is_dir() and any(output_dir.iterdir()):
                logger.info("%s: training from scratch into %s, replacing what is there", OVERWRITE_FLAG, output_dir)
            clear_resume_state(output_dir, keep=Path(resume_from_checkpoint) if resume_from_checkpoint else None)
        point = ResumePoint(checkpoint=resume_from_checkpoint)
    else:
        if is_main_process:
            remove_incomplete_checkpoints(output_dir)
        progress = read_progress(output_dir)
        point = resume_point(output_dir)
        if point is not None and progress is not None:
            check_same_settings(output_dir, progress.get("settings", {}), settings)
        if point is None:
            if progress is None and output_dir.is_dir() and any(output_dir.iterdir()):
                finished = " (a finished run)" if (output_dir / RUN_INFO).is_file() else ""
                raise UserInputError(f"Output directory ({output_dir}) already exists and is not empty{finished}: {HOW_TO_RESTART}")
            if progress is not None and is_main_process:
                logger.info("%s: an earlier attempt stopped before its first checkpoint; training from scratch", output_dir)
                clear_resume_state(output_dir)
            point = ResumePoint()
        elif point.trained:
            logger.info("Training finished earlier in %s: evaluating and predicting with the trained model", output_dir)
        else:
            # Upstream's words, so that users who know them recognise what happens.
            logger.info(
                "Checkpoint detected, resuming training at %s. To avoid this behavior, change the `--output_dir` or add "
                "`%s` to train from scratch.", point.checkpoint, OVERWRITE_FLAG,
            )
    if point.checkpoint and not Path(point.checkpoint).is_dir():
        raise UserInputError(f"--resume_from_checkpoint {point.checkpoint}: no such checkpoint folder")
    if is_main_process and not point.trained:
        write_progress(output_dir, settings)
    return point


def check_same_settings(output_dir: Path, then: dict[str, Any], now: dict[str, Any]) -> None:
    """An interrupted run continues only with the settings it was started with (bf16 aside, with a warning)."""
    changed = settings_differences(then, now)
    for name in MAY_CHANGE_ON_RESUME:
        for change in [change for change in changed if change.startswith(f"{name}: ")]:
            logger.warning("%s: continuing the interrupted run with %s", output_dir, change)
            changed.remove(change)
    if changed:
        raise UserInputError(
            f"{output_dir} holds an interrupted run started with other settings ({'; '.join(changed)}): "
            f"run the same command as then to continue it, or {HOW_TO_RESTART}"
        )


def clean_up_finished(output_dir: Path, keep_checkpoints: bool) -> None:
    """What only an unfinished run needs goes once everything else is written."""
    output_dir = Path(output_dir)
    if not keep_checkpoints:
        for path in checkpoints(output_dir):
            shutil.rmtree(path, ignore_errors=True)
    shutil.rmtree(output_dir / PREDICTION_CHUNKS, ignore_errors=True)
    (output_dir / PROGRESS).unlink(missing_ok=True)


# --------------------------------------------------------------------------- the task scripts


def interrupted_run_to_continue(output_dir: Path, overwrite: bool) -> ResumePoint | None:
    """Where the task scripts continue the run in OUTPUT_DIR: an interrupted run with somewhere to resume
    from, unless OVERWRITE=1; None when they start afresh."""
    if overwrite or unfinished_reason(output_dir) is None:
        return None
    return resume_point(output_dir)


def script_flags(output_dir: Path, overwrite: bool) -> list[str]:
    """The flag the task scripts add: none when an interrupted run can continue, else start afresh."""
    point = interrupted_run_to_continue(output_dir, overwrite)
    if point is not None:
        logger.info("%s: continuing the interrupted run from %s", output_dir, point.description)
        return []
    if overwrite:
        logger.info("%s: OVERWRITE=1, training from scratch", output_dir)
    elif unfinished_reason(output_dir) is None:
        logger.info("%s holds a finished run: training again from scratch, replacing it", output_dir)
    return [OVERWRITE_FLAG]


def script_precision(output_dir: Path, overwrite: bool) -> str:
    """PRECISION=auto in the task scripts: an interrupted run continues in the precision it started in (the
    machine's answer can change between two starts: another process taking a core while it is timed);
    any other run trains in the precision this machine computes fast (textclf.hardware)."""
    from textclf.hardware import BF16, FP16, FP32, fast_precision

    started_with = (read_progress(output_dir) or {}).get("settings", {})
    if "bf16" in started_with and interrupted_run_to_continue(output_dir, overwrite) is not None:
        return BF16 if started_with["bf16"] else FP16 if started_with.get("fp16") else FP32
    return fast_precision()


def main(argv: list[str]) -> None:
    if len(argv) not in (2, 3) or argv[0] not in ("flags", "precision") or argv[2:] not in ([], ["--overwrite"]):
        raise UserInputError("usage: python -m textclf.runs.progress {flags,precision} OUTPUT_DIR [--overwrite]")
    output_dir, overwrite = Path(argv[1]), argv[2:] == ["--overwrite"]
    if argv[0] == "flags":
        print(" ".join(script_flags(output_dir, overwrite)))
    else:
        print(script_precision(output_dir, overwrite))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    sys.exit(exit_code_of(lambda: main(sys.argv[1:])))
