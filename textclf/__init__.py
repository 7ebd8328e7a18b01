"""The toolkit's library, one subpackage per stage of the pipeline, imports running one way (later
stages import earlier ones, never the other way):

    data/      preparing data: raw public data sets, train/validation/test splits, labels, loading
    models/    pretrained models offline: model lookup, the model zoo
    runs/      the run folder: its files, interrupted runs, predictions, calibration, scores
    training/  arguments, metrics, the Trainer's helpers, resuming, the TF-IDF baseline
    serving/   the Predictor, token explanations (what a Space carries), batch prediction (predict.py)
    audit/     checks of a prepared folder, suspected label errors, cleaning, the review of suspects
    reports/   what a person reads: report.md, its analysis, audit.md, comparisons, five-split summaries
    search/    hyperparameter search with Optuna (search.py), confirmed on five splits

and small shared modules here at the top (tasks, tables, problem_types, hardware, ...), which import
no stage. Everything raises `UserInputError` for problems the user can fix (a missing file, an unknown
column, an unreachable hub); the command-line entry points turn it into a one-line `error:` message.
"""


import errno
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

# The checkout the library runs from (installed editable): the entry points, local_metrics/, models/, bench/.
REPO_ROOT = Path(__file__).resolve().parent.parent
# What a shell reports for a command stopped by Ctrl-C (128 + SIGINT); scripts and CI rely on it.
INTERRUPTED_EXIT_CODE = 130
# Libraries that write through their own I/O layer (safetensors, torch.save) report a full disk in words.
DISK_FULL_WORDS = ("No space left on device", "StorageFull")


class UserInputError(Exception):
    """A problem with the user's input, reported as one line without a traceback."""


def exit_code_of(main: Callable[[], object], interrupted_hint: str = "") -> int:
    """Run a command-line entry point, the one place where errors become exit codes.

    A UserInputError or a full disk becomes one `error:` line and exit code 2; Ctrl-C one line and
    exit code 130 (`interrupted_hint` says what the user can do next). Never a traceback for these.
    """
    try:
        main()
    except UserInputError as error:
        return report_error(str(error))
    except KeyboardInterrupt:
        sys.stderr.write(f"interrupted (Ctrl-C){interrupted_hint}\n")
        return INTERRUPTED_EXIT_CODE
    except Exception as error:
        if not is_disk_full(error):
            raise
        where = next((f"{cause.filename}: " for cause in causes(error) if isinstance(cause, OSError) and cause.filename), "")
        return report_error(f"{where}no space left on device; free some space and run the same command again")
    return 0


def report_error(message: str) -> int:
    sys.stderr.write(f"error: {' '.join(message.split())}\n")
    return 2


def causes(error: BaseException | None) -> Iterator[BaseException]:
    """`error` and the errors it was raised from or while handling."""
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__


def is_disk_full(error: BaseException) -> bool:
    """Whether `error`, or an error it was raised from, says the disk is full."""
    return any(
        (isinstance(cause, OSError) and cause.errno == errno.ENOSPC) or any(words in str(cause) for words in DISK_FULL_WORDS)
        for cause in causes(error)
    )


def answer_about_directory(argv: list[str], question: str, problem_of: Callable[[Path], str | None], then: str = "") -> None:
    """`python -m textclf.<module> <question> DIR`, asked by the shell scripts: exit code 0 when
    `problem_of(DIR)` finds nothing, else 1, with the problem (and `then`, what happens next) on stderr."""
    if len(argv) != 2 or argv[0] != question:
        raise UserInputError(f"usage: {question} DIR")
    problem = problem_of(Path(argv[1]))
    if problem is not None:
        sys.stderr.write(f"{argv[1]}: {problem}{then}\n")
        sys.exit(1)
