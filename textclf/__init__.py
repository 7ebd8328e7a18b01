"""Helpers behind run_classification.py: data loading, labels, metrics and offline model lookup.

Everything here raises `UserInputError` for problems the user can fix (a missing file, an unknown
column, an unreachable hub); the command-line entry points turn it into a one-line `error:` message.
"""


import sys
from collections.abc import Callable


class UserInputError(Exception):
    """A problem with the user's input, reported as one line without a traceback."""


def exit_code_of(main: Callable[[], object]) -> int:
    """Run a command-line entry point: a UserInputError becomes one `error:` line and exit code 2."""
    try:
        main()
    except UserInputError as error:
        sys.stderr.write(f"error: {' '.join(str(error).split())}\n")
        return 2
    return 0
