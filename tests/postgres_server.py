"""A throwaway PostgreSQL server on loopback for the tests that need a database server (the search's shared
study): Debian's server programs, a new cluster in a temporary folder, stopped and deleted afterwards.

Where the programs are missing the test is skipped, or fails under REQUIRE_POSTGRES=1 (CI: .ci/run installs
Debian's postgresql package and sets it). PostgreSQL refuses to run as root: as root, the server runs as
`nobody`, which owns the cluster's folder.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

USER = "search"  # the cluster's superuser; loopback connections are trusted: a test server only
DATABASE = "optuna"


def server_programs_or_skip() -> Path:
    """Debian's folder of PostgreSQL's programs (initdb, pg_ctl), the newest version installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda path: int(Path(path).parent.parent.name))
    if found:
        return Path(found[-1]).parent
    message = "a PostgreSQL server needs Debian's postgresql package (apt-get install postgresql)"
    if os.environ.get("REQUIRE_POSTGRES") == "1":
        pytest.fail(message)
    pytest.skip(message)


@contextlib.contextmanager
def postgres_server(port: int) -> Iterator[str]:
    """Starts a server on 127.0.0.1:port with an empty database; yields its SQLAlchemy URL (driver: psycopg)."""
    programs = server_programs_or_skip()
    folder = Path(tempfile.mkdtemp(prefix="textclf-postgres-", dir="/tmp"))
    data = folder / "cluster"
    as_server_user: list[str] = []
    if os.geteuid() == 0:
        as_server_user = ["runuser", "-u", "nobody", "--"]
        folder.chmod(0o755)
        data.mkdir(mode=0o700)
        shutil.chown(data, "nobody", "nogroup")

    def run(*command: str) -> None:
        subprocess.run([*as_server_user, *command], check=True, capture_output=True, text=True, timeout=120, cwd=folder)

    try:
        run(str(programs / "initdb"), "-D", str(data), "-U", USER, "-A", "trust", "--no-sync", "-E", "UTF8")
        # TCP on loopback only, no Unix socket (its default folder belongs to Debian's own server).
        options = f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off"
        run(str(programs / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(data / "server.log"), "-w", "start")
        try:
            run(str(programs / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", USER, DATABASE)
            yield f"postgresql+psycopg://{USER}@127.0.0.1:{port}/{DATABASE}"
        finally:
            run(str(programs / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
