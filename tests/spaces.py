"""Run a Space bundle the way Hugging Face Spaces does, for the tests: scripts/try_space.sh, which makes
a fresh virtual environment from the bundle's own requirements.txt and runs `python app.py` in the
bundle's folder. That interpreter cannot see this checkout, its .venv or the editable install of
textclf, so a module the bundle lacks fails here as it fails on the Space.

The environment is made once per requirements.txt (every bundle built here has the same one) in
.venv/space-env, and kept: about a minute and a half on a fresh machine, seconds after."""

from __future__ import annotations

import fcntl
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import REPO_ROOT

SPACE_VENV = REPO_ROOT / ".venv" / "space-env"
TRY_SPACE = REPO_ROOT / "scripts" / "try_space.sh"


def space_environment(space: Path) -> dict[str, str]:
    """The environment variables that run `space` through try_space.sh, its virtual environment made."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "TEXTCLF_RUN", "VIRTUAL_ENV", "HF_TOKEN")}
    env |= {"SPACE_VENV": str(SPACE_VENV), "HF_HUB_OFFLINE": "1"}
    SPACE_VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(SPACE_VENV.parent / "space-env.lock", "w") as lock:  # two test workers make it once
        fcntl.flock(lock, fcntl.LOCK_EX)
        made = subprocess.run(["bash", str(TRY_SPACE), str(space)], env=env | {"SETUP_ONLY": "1"},
                              capture_output=True, text=True, timeout=900)
    assert made.returncode == 0, made.stderr[-3000:]
    assert_checkout_is_invisible(env)
    return env


def assert_checkout_is_invisible(env: dict[str, str]) -> None:
    """The Space's interpreter, outside a bundle, cannot import textclf: whatever it imports comes from the bundle."""
    outside = subprocess.run([str(SPACE_VENV / "bin" / "python"), "-E", "-s", "-c", "import textclf"], cwd="/",
                             env=env, capture_output=True, text=True, timeout=60)
    assert outside.returncode != 0 and "No module named 'textclf'" in outside.stderr, outside.stderr[-2000:]


@contextmanager
def served_space(space: Path) -> Iterator:
    """A gradio_client Client of `space`'s app.py, started by try_space.sh on a free port; stopped afterwards."""
    from gradio_client import Client
    from test_app import free_port

    port = free_port()
    env = space_environment(space) | {"GRADIO_SERVER_PORT": str(port)}
    server = subprocess.Popen(["bash", str(TRY_SPACE), str(space)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        yield connect(Client, f"http://127.0.0.1:{port}/", server)
    finally:
        server.terminate()
        server.communicate(timeout=30)


def connect(client_class, url: str, server: subprocess.Popen, timeout: float = 120):
    """A client once the server answers; fails with the server's output if it exits first."""
    deadline = time.monotonic() + timeout
    while True:
        if server.poll() is not None:
            pytest.fail("the Space app exited:\n" + server.communicate()[0][-3000:])
        try:
            return client_class(url, verbose=False)
        except Exception:  # not listening yet; gradio_client raises several kinds here
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
