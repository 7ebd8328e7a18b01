"""What counts as a missing value, one rule per name.

Data reaches us as pandas cells, datasets rows or JSON values: an empty CSV cell can be None, NaN
(in a column pandas read as numbers) or "" (in one read as strings). Each caller needs a slightly
different rule, so each rule has a name that says it.
"""

from __future__ import annotations

import math

NO_LABEL = -1  # GLUE-style test sets mark unlabelled rows with -1


def is_none_or_nan(value: object) -> bool:
    """None, or NaN where pandas read the column as floats."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def is_none_nan_or_empty(value: object) -> bool:
    """None, NaN or the empty string: an empty text cell, skipped when text columns are joined."""
    return is_none_or_nan(value) or value == ""


def is_none_nan_or_blank(value: object) -> bool:
    """None, NaN, or a string of whitespace only: a raw text or label cell with nothing in it."""
    return is_none_or_nan(value) or (isinstance(value, str) and value.strip() == "")


def is_none_nan_or_no_label(value: object) -> bool:
    """A class label that is not there: an empty cell, or the -1 of GLUE-style test sets."""
    return is_none_or_nan(value) or value == NO_LABEL


def is_none_nan_blank_or_no_label(value: object) -> bool:
    """A label cell of a file with nothing in it: empty, blank, or -1 (a number or the text "-1")."""
    return is_none_nan_or_blank(value) or is_none_nan_or_no_label(value) or value == str(NO_LABEL)
