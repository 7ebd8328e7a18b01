"""Helpers behind run_classification.py: data loading, labels, metrics and offline model lookup.

Everything here raises `UserInputError` for problems the user can fix (a missing file, an unknown
column, an unreachable hub); the command-line entry points turn it into a one-line `error:` message.
"""


class UserInputError(Exception):
    """A problem with the user's input, reported as one line without a traceback."""
