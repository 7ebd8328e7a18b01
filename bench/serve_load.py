#!/usr/bin/env python
"""The web demo under load: many users at once, today's app against the reference app, side by side.

Each app (the current app.py, and the reference: app.py and textclf/ as they were at a fixed commit,
before the serving work of issue 16) is started on a loopback port serving the same run; then
`--requests` validation tweets are sent from `--clients` concurrent users to the demo's /predict,
the event the page's button triggers. For each app: errors, requests/s, latency p50 and p95, and the
CPU time the app and the load generator each spent per request.

Users call Gradio's plain HTTP API by default (`--client http`); `--client gradio_client` sends the
same requests through gradio_client, which on 2 cores spends 3.5x the app's CPU per request, so that
requests/s then measures the clients, not the app (bench/RESULTS.md).

The two apps are measured in turns, reference first then current, then current first (`--rounds`):
runs one after the other on a shared machine drift by 10% or more, and turns cancel a drift that is
steady. Each app runs with the packages its own commit pinned: a package added to requirements.txt
since the reference (a faster event loop for the web server, say) is hidden from the reference app.

    python bench/serve_load.py             # 1,000 requests from 50 users per app and round, 2 rounds: minutes
    python bench/serve_load.py --quick     # 100 requests from 10 users, one round: a smoke test

Results go to bench/RESULTS.md (section "Demo under load").
"""

from __future__ import annotations

import argparse
import http.client
import importlib.metadata
import io
import itertools
import json
import logging
import os
import re
import resource
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from serve_latency import read_texts_and_labels  # bench/ is on sys.path: these are run as scripts

from textclf import REPO_ROOT
from textclf.reports.benchmarks import RESULTS_FILE, peak_matmul_flops, update_section
from textclf.runs.folder import TRAIN_COMMAND, is_finished

logger = logging.getLogger("serve_load")
DEFAULT_RUN = "experiments/tweets-all-MiniLM-L6-v2"
# The reference: app.py and textclf/ at this commit (2026-11-30), before any serving change of issue 16. The issue
# measured the app of its day by hand on another machine: 40.8 requests/s, p95 1.76 s.
REFERENCE_COMMIT = "3e0d5e6"
START_TIMEOUT_SECONDS = 180
GRADIO_API = "/gradio_api"


@dataclass
class LoadResult:
    app: str
    requests: int
    errors: int
    seconds: float
    latencies: list[float]
    app_cpu_seconds: float  # the app's process
    client_cpu_seconds: float  # this process: the clients sending the load

    def cpu_ms_per_request(self, seconds: float) -> float:
        return seconds * 1000 / self.requests

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds

    def percentile_ms(self, q: float) -> float:
        return float(np.percentile(self.latencies, q) * 1000) if self.latencies else float("nan")

    @classmethod
    def over_rounds(cls, rounds: list[LoadResult]) -> LoadResult:
        """One result for all of an app's turns: their requests over their summed time."""
        return cls(rounds[0].app, sum(r.requests for r in rounds), sum(r.errors for r in rounds),
                   sum(r.seconds for r in rounds), [latency for r in rounds for latency in r.latencies],
                   sum(r.app_cpu_seconds for r in rounds), sum(r.client_cpu_seconds for r in rounds))


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", default=DEFAULT_RUN, help="a finished run directory (default: %(default)s)")
    parser.add_argument("--requests", type=int, default=1000, help="requests per app (default %(default)s)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent users (default %(default)s)")
    parser.add_argument("--client", choices=sorted(USERS), default="http",
                        help="how each user calls the demo: Gradio's plain HTTP API, light on this machine's CPU, or "
                             "a gradio_client, which costs more CPU than the app per request (default %(default)s)")
    parser.add_argument("--reference", default=REFERENCE_COMMIT, help="git commit of the reference app (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=2,
                        help="turns per app, their order alternating (default %(default)s); figures are over all turns")
    parser.add_argument("--quick", action="store_true", help="100 requests from 10 clients, one round")
    parser.add_argument("--results", default=str(RESULTS_FILE), help="results file to update")
    return parser.parse_args()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def reference_tree(commit: str, into: Path) -> Path:
    """app.py and textclf/ as they were at `commit`, unpacked into `into`."""
    archive = subprocess.run(["git", "archive", commit, "app.py", "textclf"], cwd=REPO_ROOT, capture_output=True, check=False)
    if archive.returncode != 0:
        sys.exit(f"error: cannot read the reference app at {commit}: {archive.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into / "app.py"


def requirement_names(requirements: str) -> set[str]:
    """The distribution names pinned in a requirements.txt text."""
    names = set()
    for line in requirements.splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[=<>!~\[; ]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def modules_added_since(commit: str) -> list[str]:
    """Top-level modules of the distributions requirements.txt pins now but did not at `commit`."""
    then = subprocess.run(["git", "show", f"{commit}:requirements.txt"], cwd=REPO_ROOT, capture_output=True, text=True,
                          check=False)
    if then.returncode != 0:
        sys.exit(f"error: cannot read requirements.txt at {commit}: {then.stderr.strip()}")
    return modules_of(requirement_names((REPO_ROOT / "requirements.txt").read_text()) - requirement_names(then.stdout))


def modules_of(distributions: set[str]) -> list[str]:
    """The top-level modules the installed `distributions` (names as requirement_names gives them) provide."""
    return sorted(module for module, providers in importlib.metadata.packages_distributions().items()
                  if any(name.lower().replace("_", "-") in distributions for name in providers))


def script_command(script: Path, arguments: list[str], hidden_modules: list[str] = ()) -> list[str]:
    """The command that runs `script` with `arguments` in this Python, `hidden_modules` not importable:
    a module set to None in sys.modules raises ImportError on import, as if it were not installed."""
    launcher = (f"import runpy, sys; sys.modules.update(dict.fromkeys({list(hidden_modules)!r})); "
                f"sys.argv = {[str(script), *arguments]!r}; runpy.run_path(sys.argv[0], run_name='__main__')")
    return [sys.executable, "-c", launcher]


def start_app(app_file: Path, run_dir: Path, log_file: Path,
              hidden_modules: list[str] = ()) -> tuple[subprocess.Popen, str]:
    """Start `app_file` on a free loopback port; `hidden_modules` cannot be imported in it."""
    port = free_port()
    command = script_command(app_file, ["--run", str(run_dir.resolve()), "--experiments_dir",
                                        str(run_dir.resolve().parent), "--host", "127.0.0.1", "--port", str(port)],
                             hidden_modules)
    with open(log_file, "w") as log:  # the app keeps its own copy of the descriptor
        process = subprocess.Popen(command, cwd=app_file.parent, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"error: {app_file} stopped (exit {process.returncode}); see {log_file}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return process, url
        except OSError:
            time.sleep(0.5)
    process.kill()
    sys.exit(f"error: {app_file} did not answer within {START_TIMEOUT_SECONDS} s; see {log_file}")


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a running process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class HttpUser:
    """One user calling the demo's /predict over Gradio's plain HTTP API, as `curl` would: POST the text,
    then read the event stream of its answer (`/gradio_api/call/predict`). The page's button and
    gradio_client go through the same queue and batching; this side just costs the load generator
    far less CPU per request than a gradio_client (its own event stream, heartbeat thread and JSON
    schema handling), which on a machine shared with the app would otherwise be what is measured."""

    def __init__(self, url: str, run_name: str):
        parsed = urllib.parse.urlsplit(url)
        self.connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=300)
        self.run_name = run_name
        # One session for all of this user's requests, as a gradio_client or a browser tab keeps: without
        # it, the app would set up a new session (a copy of every component's settings) for each request.
        self.session_hash = uuid.uuid4().hex

    def predict(self, text: str) -> list:
        body = json.dumps({"data": [text, self.run_name], "session_hash": self.session_hash})
        self.connection.request("POST", f"{GRADIO_API}/call/predict", body, {"Content-Type": "application/json"})
        response = self.connection.getresponse()
        answer = response.read()
        if response.status != 200:
            raise RuntimeError(f"POST answered {response.status}: {answer[:200]!r}")
        self.connection.request("GET", f"{GRADIO_API}/call/predict/{json.loads(answer)['event_id']}")
        response = self.connection.getresponse()
        events = response.read().decode()
        last_event = events.strip().split("\n\n")[-1]
        event, _, data = last_event.partition("\ndata: ")
        if event != "event: complete":
            raise RuntimeError(f"the event stream ended with {last_event[:200]!r}")
        return json.loads(data)


class GradioClientUser:
    """One user with its own gradio_client connection, as API callers of the demo write it."""

    def __init__(self, url: str, run_name: str):
        from gradio_client import Client

        self.client = Client(url, verbose=False)
        self.run_name = run_name

    def predict(self, text: str) -> list:
        return self.client.predict(text, self.run_name, api_name="/predict")


def check_prediction(output) -> None:
    """An answer counts only if it is a prediction: the app answers a message (an unknown run, an empty
    text) in the same shape, with no probabilities."""
    label = output[0] if isinstance(output, list) else output  # the HTTP API wraps the outputs in a list
    if not isinstance(label, dict) or not label.get("confidences"):
        raise RuntimeError(f"not a prediction: {str(label)[:200]}")


USERS = {"http": HttpUser, "gradio_client": GradioClientUser}
CLIENT_DESCRIPTIONS = {"http": "Gradio's plain HTTP API, /gradio_api/call/predict", "gradio_client": "gradio_client clients"}


def default_run_name(url: str) -> str:
    """The run the page offers first: the default of /predict's `run` parameter."""
    with urllib.request.urlopen(f"{url.rstrip('/')}{GRADIO_API}/info", timeout=30) as response:
        parameters = json.load(response)["named_endpoints"]["/predict"]["parameters"]
    return next(parameter["parameter_default"] for parameter in parameters if parameter["parameter_name"] == "run")


def send_load(name: str, url: str, app_pid: int, texts: list[str], requests: int, clients: int,
              client_kind: str) -> LoadResult:
    """`requests` texts from `clients` threads, each a user with its own connection (USERS[client_kind]).

    CPU time is counted on both sides: on a 2-core machine the clients can cost more than the app,
    and then requests/s measures the clients."""
    run_name = default_run_name(url)
    connections = [USERS[client_kind](url, run_name) for _ in range(clients)]
    connections[0].predict(texts[0])  # warm-up: the model loads on first use, outside the timing
    numbers = itertools.count()
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def user(client) -> None:
        while (number := next(numbers)) < requests:
            started = time.perf_counter()
            try:
                check_prediction(client.predict(texts[number % len(texts)]))
            except Exception as error:  # any failed request counts, whatever gradio raises
                with lock:
                    errors[0] += 1
                logger.warning("%s: request %d failed: %s", name, number, error)
                continue
            with lock:
                latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=user, args=(client,)) for client in connections]
    app_cpu, client_cpu = process_cpu_seconds(app_pid), own_cpu_seconds()
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = LoadResult(name, requests, errors[0], time.perf_counter() - started, latencies,
                        process_cpu_seconds(app_pid) - app_cpu, own_cpu_seconds() - client_cpu)
    logger.info("%s: %d errors, %.1f requests/s, p50 %.0f ms, p95 %.0f ms; CPU per request: app %.0f ms, clients %.0f ms",
                name, result.errors, result.requests_per_second, result.percentile_ms(50), result.percentile_ms(95),
                result.cpu_ms_per_request(result.app_cpu_seconds), result.cpu_ms_per_request(result.client_cpu_seconds))
    return result


def measure_app(name: str, app_file: Path, run_dir: Path, texts: list[str], args, work_dir: Path,
                hidden_modules: list[str] = ()) -> LoadResult:
    process, url = start_app(app_file, run_dir, work_dir / f"{name}.log", hidden_modules)
    try:
        return send_load(name, url, process.pid, texts, args.requests, args.clients, args.client)
    finally:
        process.terminate()
        process.wait(timeout=30)


def report(reference: LoadResult, current: LoadResult, peaks: dict[str, float], run_dir: Path, args,
           hidden: list[str]) -> str:
    ratio = current.requests_per_second / reference.requests_per_second
    turns = ("one turn each, one after the other" if args.rounds == 1 else
             f"{args.rounds} turns each, taken in alternating order (reference first, then current first), "
             "figures over all turns")
    packages = (f"; the reference app runs without the packages added to requirements.txt since its commit "
                f"({', '.join(hidden)})" if hidden else "")
    lines = [
        f"Run `{run_dir}`; {args.requests} requests (validation tweets) per app and turn from {args.clients} "
        f"concurrent users ({CLIENT_DESCRIPTIONS[args.client]}), both apps on this machine's loopback, {turns}{packages}. "
        "Measured matmul peak: "
        f"fp32 {peaks['fp32'] / 1e9:.0f} GFLOP/s, bf16 {peaks['bf16'] / 1e9:.0f} GFLOP/s.",
        "",
        "| app | errors | requests/s | p50 ms | p95 ms | app CPU ms/request | clients' CPU ms/request |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in (reference, current):
        lines.append(f"| {result.app} | {result.errors} | {result.requests_per_second:.1f} | "
                     f"{result.percentile_ms(50):.0f} | {result.percentile_ms(95):.0f} | "
                     f"{result.cpu_ms_per_request(result.app_cpu_seconds):.0f} | "
                     f"{result.cpu_ms_per_request(result.client_cpu_seconds):.0f} |")
    lines += [
        "",
        f"- requests/s: {ratio:.2f}x the reference (target >= 2x); errors {current.errors} (target 0); "
        f"p95 {current.percentile_ms(95):.0f} ms against {reference.percentile_ms(95):.0f} ms (target: equal or lower)",
        f"- CPU per request, current app: {current.cpu_ms_per_request(current.app_cpu_seconds):.0f} ms in the app, "
        f"{current.cpu_ms_per_request(current.client_cpu_seconds):.0f} ms in the clients; where the clients cost more, "
        "requests/s is bounded by the load generator sharing this machine's cores, not by the app",
        "",
        f"Reproduce: `.venv/bin/python bench/serve_load.py{' --quick' if args.quick else ''}"
        f"{' --client ' + args.client if args.client != 'http' else ''}`",
    ]
    return "\n".join(lines)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    args = parse_arguments()
    if args.quick:
        args.requests, args.clients, args.rounds = 100, 10, 1
    if args.rounds < 1:
        sys.exit("error: --rounds must be at least 1")
    run_dir = Path(args.run)
    if not is_finished(run_dir):
        sys.exit(f"error: {run_dir} is not a finished run; make the default one with: {TRAIN_COMMAND}")
    texts, _, _ = read_texts_and_labels(run_dir)  # the validation texts, as the latency benchmark reads them
    peaks = peak_matmul_flops()
    hidden = modules_added_since(args.reference)
    if hidden:
        logger.info("The reference app runs without the packages added since %s: %s", args.reference, ", ".join(hidden))
    with tempfile.TemporaryDirectory(prefix="serve-load-") as work:
        work_dir = Path(work)
        reference_app = reference_tree(args.reference, work_dir / "reference")
        apps = {"reference": (f"reference app ({args.reference})", reference_app, hidden),
                "current": ("current app", REPO_ROOT / "app.py", [])}
        turns: dict[str, list[LoadResult]] = {"reference": [], "current": []}
        for round_number in range(args.rounds):
            order = ("reference", "current") if round_number % 2 == 0 else ("current", "reference")
            for key in order:
                name, app_file, hidden_modules = apps[key]
                turns[key].append(measure_app(name, app_file, run_dir, texts, args, work_dir, hidden_modules))
    reference, current = LoadResult.over_rounds(turns["reference"]), LoadResult.over_rounds(turns["current"])
    body = report(reference, current, peaks, run_dir, args, hidden)
    print(body)
    path = update_section("Demo under load" + (" (--quick)" if args.quick else ""), body, Path(args.results))
    logger.info("Written to %s", path)


if __name__ == "__main__":
    main()
