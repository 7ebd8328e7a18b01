"""The benchmarks' quick modes end to end on tiny data with the tiny model: they run and report.

They are smoke tests of the scripts, not timings: the figures they print are not checked.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import pytest
from conftest import REPO_ROOT, sentiment_rows, write_csv

from textclf.tasks import PROTOCOL

pytestmark = pytest.mark.slow  # end to end: each test trains a model through a script


def write_prepared_tweets(directory) -> None:
    directory.mkdir(parents=True)
    rows = [{"id": r["id"], "text": r["text"], "target": r["label"]} for r in sentiment_rows(120, seed=7)]
    write_csv(directory / "train.csv", rows[:80])
    write_csv(directory / "validation.csv", rows[80:])
    write_csv(directory / "test.csv", [{"id": r["id"], "text": r["text"]} for r in rows[80:]])
    (directory / PROTOCOL).write_text("written by the test\n")  # a complete folder: the benchmark uses it as it is


def test_train_speed_serve_latency_and_serve_load_quick_modes_report_their_figures(tmp_path, tiny_model):
    write_prepared_tweets(tmp_path / "data")
    results = tmp_path / "RESULTS.md"
    command = [
        sys.executable, str(REPO_ROOT / "bench/train_speed.py"), "--quick", "--model", str(tiny_model),
        "--data_dir", str(tmp_path / "data"), "--work_dir", str(tmp_path / "runs"), "--results", str(results),
    ]
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    completed = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    text = results.read_text()
    assert "## Training speed (--quick)" in text
    for run in ("(a)", "(b)", "(c0)", "(c)"):
        assert f"| {run} |" in text
    for figure in ("c/a = ", "c/b = ", "utilisation of c = ", "F1 of c minus F1 of b", "c0/c = ", "F1 of c minus F1 of c0"):
        assert figure in text
    assert (tmp_path / "runs/c/report.md").exists()

    # The run (c) made is a finished run to serve.
    command = [sys.executable, str(REPO_ROOT / "bench/serve_latency.py"), "--quick", "--run", str(tmp_path / "runs/c"),
               "--results", str(results)]
    completed = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    text = results.read_text()
    assert "## Training speed (--quick)" in text and "## Serving latency (--quick)" in text
    for variant in ("transformers pipeline (fp32)", "(fp32)", "(int8)", "(onnx)", "(onnx-int8)"):
        assert f"| textclf Predictor {variant} |" in text or f"| {variant} |" in text
    assert "| textclf Predictor (auto: onnx" in text  # the demo's default names the variant it chose
    assert "- the web demo's default, textclf Predictor (auto: onnx" in text and "x the pipeline's (target <= 0.25x)" in text
    explanations = text[text.index("Token explanations"):]
    for variant in ("auto: onnx", "fp32"):
        row = next(line for line in explanations.splitlines() if line.startswith(f"| textclf Predictor ({variant}"))
        assert row.split(" | ")[1] == "5"  # words a tweet: the test tweets have 5
        assert f"- textclf Predictor ({variant}" in explanations and "x at the median" in explanations

    # The same run served by today's app and by a reference app from git, under a small load. HEAD, not the
    # benchmark's older default commit: a shallow clone has HEAD only.
    command = [sys.executable, str(REPO_ROOT / "bench/serve_load.py"), "--run", str(tmp_path / "runs/c"),
               "--requests", "6", "--clients", "2", "--rounds", "1", "--reference", "HEAD", "--results", str(results)]
    completed = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    section = results.read_text().split("## Demo under load\n")[1]
    assert "| reference app (HEAD) | 0 |" in section and "| current app | 0 |" in section  # no errors
    assert "x the reference (target >= 2x)" in section and "ms in the app" in section


def test_serve_load_runs_the_reference_app_without_the_packages_added_since_its_commit(tmp_path, monkeypatch):
    """A package the current requirements add (uvloop, say) would speed up the reference app too if it
    could import it: the reference must run as its own commit pinned it."""
    monkeypatch.syspath_prepend(str(REPO_ROOT / "bench"))  # bench/ scripts import each other by name
    serve_load = importlib.import_module("serve_load")

    requirements = ("torch==2.13.0\n# a comment\n--extra-index-url https://x\n"
                    "uvloop==0.23.0 ; sys_platform != 'win32'\nPyYAML>=6\n")
    assert serve_load.requirement_names(requirements) == {"torch", "uvloop", "pyyaml"}
    assert serve_load.modules_of({"uvloop", "httptools", "pytest-xdist"}) == ["httptools", "uvloop", "xdist"]
    probe = tmp_path / "probe.py"
    probe.write_text("import sys\ntry:\n    import uvloop\nexcept ImportError:\n    sys.exit(3)\n"
                     "sys.exit(int(sys.argv[1]))\n")
    assert subprocess.run(serve_load.script_command(probe, ["5"]), timeout=60).returncode == 5  # arguments reach it
    assert subprocess.run(serve_load.script_command(probe, ["5"], ["uvloop"]), timeout=60).returncode == 3


def test_single_requests_and_batches_are_timed_in_rounds_the_variants_taking_turns(monkeypatch):
    """Every variant times every request once, in blocks that alternate between the variants (the order
    reversed each round), and the whole batch once a round, so that the machine's slow spells fall on
    all of them in the same share."""
    monkeypatch.syspath_prepend(str(REPO_ROOT / "bench"))
    serve_latency = importlib.import_module("serve_latency")

    calls = []
    variants = [serve_latency.Variant(name, single=lambda text, name=name: calls.append((name, text)) or "label",
                                      batch=list) for name in ("a", "b")]
    requests = [f"text {i}" for i in range(6)]
    timings = serve_latency.time_single_requests(variants, requests, rounds=3)
    assert [len(seconds) for seconds in timings] == [6, 6]
    warm_up = serve_latency.WARM_UP_REQUESTS
    timed = [call for position, call in enumerate(calls) if position % (warm_up + 2) >= warm_up]  # blocks of 2
    assert [name for name, _ in timed] == ["a", "a", "b", "b", "b", "b", "a", "a", "a", "a", "b", "b"]
    assert sorted(text for name, text in timed if name == "a") == requests
    assert sorted(text for name, text in timed if name == "b") == requests

    batches = []
    variants = [serve_latency.Variant(name, single=str, batch=lambda texts, name=name: batches.append((name, texts)) or [])
                for name in ("a", "b")]
    assert [len(seconds) for seconds in serve_latency.time_batches(variants, requests, rounds=3)] == [3, 3]
    assert batches == [("a", requests), ("b", requests), ("b", requests), ("a", requests), ("a", requests), ("b", requests)]


def test_batch_predict_quick_mode_reports_its_figures(tmp_path, tiny_model):
    from test_app import write_tiny_run

    run_dir = write_tiny_run(tmp_path / "project", tiny_model)
    results = tmp_path / "RESULTS.md"
    command = [sys.executable, str(REPO_ROOT / "bench/batch_predict.py"), "--quick", "--run", str(run_dir),
               "--work_dir", str(tmp_path / "work"), "--results", str(results)]
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    completed = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    section = results.read_text().split("## Batch prediction (--quick)\n")[1]
    for figure in ("| (a) | run_classification.py --do_predict", "| (b) | predict.py", "| (c) | predict.py --workers 1",
                   "x run_classification's rows/s (target >= 3x)", "labels equal on", "x from one core to",
                   "peak memory of (b) on 3,000 generated rows", "3,000 rows written", "Measured matmul peak",
                   "predict.py's first call on 100 rows took", "made the ONNX exports and the int8 check"):
        assert figure in section, figure
    from textclf.hardware import serving_plan

    # (d), PyTorch bf16, only where this CPU has bf16 units
    assert ("| (d) | predict.py --variant half" in section) == (serving_plan().half_dtype is not None)
    assert ("(d)'s labels equal to (a)'s on" in section) == (serving_plan().half_dtype is not None)


def test_int8_agreement_quick_mode_reports_each_way_of_quantizing(tmp_path, tiny_model):
    from test_app import write_tiny_run

    from textclf.hardware import serving_plan

    run_dir = write_tiny_run(tmp_path / "project", tiny_model)
    results = tmp_path / "RESULTS.md"
    command = [sys.executable, str(REPO_ROOT / "bench/int8_agreement.py"), "--quick", "--run", str(run_dir),
               "--results", str(results)]
    completed = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    section = results.read_text().split("## int8 agreement (--quick)\n")[1]
    for row in ("| PyTorch fp32 | the reference", "| shipped |", "| full range |", "| per tensor |", "| matmuls only |",
                "| FFN output fp32 |", "Measured matmul peak"):
        assert row in section, row
    assert ("| half |" in section) == (serving_plan().half_dtype is not None)
    assert "| PyTorch fp32 | the reference: the model as trained (every core, batches of 64) |" in section
