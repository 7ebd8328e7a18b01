"""Fault injection for the interruption tests (tests/test_interruptions.py); inert otherwise.

With TEXTCLF_TEST_KILL_AT=<point> in its environment, a process kills itself with SIGKILL when it
reaches that named point, as a power cut or the out-of-memory killer would: no handler, no cleanup.
The points are named where they are placed (`kill_point("prepare:before-publish")`); nothing else
reads the variable.
"""

from __future__ import annotations

import os
import signal

KILL_AT = "TEXTCLF_TEST_KILL_AT"


def kill_point(name: str) -> None:
    if os.environ.get(KILL_AT) == name:
        os.kill(os.getpid(), signal.SIGKILL)
