"""predict.py: a finished run applied to a file of any size (textclf/serving/batch.py, ray_batch.py)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REPO_ROOT, sentiment_rows, write_csv, write_jsonl
from test_app import LABELS, write_tiny_run

from textclf.runs.folder import RunInfo

PREDICT = [sys.executable, str(REPO_ROOT / "predict.py")]
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_model) -> Path:
    return write_tiny_run(tmp_path_factory.mktemp("project"), tiny_model)


def rows_with_ids(count: int, seed: int = 5) -> list[dict]:
    rows = sentiment_rows(count, seed=seed, labels=LABELS)
    for index, row in enumerate(rows):
        row["id"] = f"{index:06d}"  # leading zeros: ids must come back byte for byte
    return rows


def predict(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*PREDICT, *args], capture_output=True, text=True, timeout=timeout, env=ONE_THREAD, cwd=REPO_ROOT)


def read_output(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_output_keeps_every_column_and_row_and_matches_the_predictor(tiny_run, tmp_path):
    from textclf.serving.predictor import Predictor

    rows = rows_with_ids(300)
    rows[3]["text"] = ""  # no text: no prediction rather than a guess
    rows[4]["text"] = '=HYPERLINK("http://x.example","great")'  # a spreadsheet formula: neutralised
    rows[5]["text"] = "-great day"
    source = write_csv(tmp_path / "in.csv", rows, ["id", "text", "label"])
    result = predict(str(tiny_run), str(source), "--output", str(tmp_path / "out.csv"), "--chunk_rows", "64")
    assert result.returncode == 0, result.stderr
    table = read_output(tmp_path / "out.csv")
    assert list(table.columns) == ["id", "text", "label", "prediction", "prob_negative", "prob_positive"]
    assert table["id"].tolist() == [row["id"] for row in rows]
    assert table.loc[3, ["prediction", "prob_negative", "prob_positive"]].tolist() == ["", "", ""]
    assert table.loc[4, "text"] == "'" + rows[4]["text"] and table.loc[5, "text"] == "'-great day"
    assert not list(tmp_path.glob("*.partial")) and not list(tmp_path.glob(".*tmp"))
    predictor = Predictor.from_run(tiny_run, "onnx")  # what "auto" serves a run without validation predictions
    kept = [i for i in range(len(rows)) if i != 3]
    expected = predictor.predict_proba([rows[i]["text"] for i in kept])
    np.testing.assert_allclose(table.loc[kept, ["prob_negative", "prob_positive"]].astype(float), expected, atol=2e-6)
    assert table.loc[kept, "prediction"].tolist() == [LABELS[i] for i in expected.argmax(axis=1)]


def test_two_text_columns_are_joined_as_in_training_and_json_lines_are_read(tiny_run, tmp_path):
    from textclf.serving.predictor import Predictor

    run_dir = shutil.copytree(tiny_run, tmp_path / "keyword-run")
    info = RunInfo.read(run_dir)
    info.text_columns = ["keyword", "text"]
    info.write(run_dir)
    rows = [{"id": i, "keyword": keyword, "text": text} for i, (keyword, text) in
            enumerate([("fire", "great day"), ("", "awful storm"), ("flood", "")])]
    source = write_jsonl(tmp_path / "in.jsonl", rows)
    result = predict(str(run_dir), str(source), "--output", str(tmp_path / "out.jsonl"))
    assert result.returncode == 0, result.stderr
    table = pd.read_json(tmp_path / "out.jsonl", lines=True)
    expected = Predictor.from_run(run_dir, "onnx").predict_proba(["fire great day", "awful storm", "flood"])
    np.testing.assert_allclose(table[["prob_negative", "prob_positive"]], expected, atol=2e-6)
    assert table["id"].tolist() == [0, 1, 2]


@pytest.mark.parametrize("case", ["binary", "empty", "missing column", "unfinished run", "output exists", "no rows"])
def test_bad_input_is_one_error_line_and_leaves_nothing_behind(tiny_run, tmp_path, case, capsys):
    """In this process (predict.main, as the command calls it): a subprocess each would cost a start of torch."""
    import predict as predict_command

    run_dir, source, output = tiny_run, tmp_path / "in.csv", tmp_path / "out.csv"
    write_csv(source, rows_with_ids(10), ["id", "text", "label"])
    expected = {"binary": "binary file", "empty": "file is empty", "missing column": "missing required column(s) body",
                "unfinished run": "not a finished run", "output exists": "exists already; pass --overwrite",
                "no rows": "no data rows"}[case]
    extra = []
    if case == "binary":
        source.write_bytes(b"PK\x03\x04\x00\x00binary")
    elif case == "empty":
        source.write_text("")
    elif case == "missing column":
        extra = ["--text_columns", "body"]
    elif case == "unfinished run":
        run_dir = shutil.copytree(tiny_run, tmp_path / "unfinished")
        (run_dir / "run_info.json").unlink()
    elif case == "output exists":
        output.write_text("keep me")
    elif case == "no rows":
        source.write_text("id,text,label\n")
    returncode = predict_command.main([str(run_dir), str(source), "--output", str(output), *extra])
    stderr = capsys.readouterr().err
    assert returncode == 2, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and expected in errors[0], stderr
    assert "Traceback" not in stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name not in ("in.csv", "unfinished")) == (
        ["out.csv"] if case == "output exists" else [])
    if case == "output exists":
        assert output.read_text() == "keep me"


def test_killed_at_any_moment_it_continues_to_the_same_output(tiny_run, tmp_path):
    """SIGKILL half-way: no output yet, finished chunks kept; the same command finishes it, byte for byte
    the output of a run that was never interrupted."""
    source = write_csv(tmp_path / "in.csv", rows_with_ids(30_000), ["id", "text", "label"])
    whole, resumed = tmp_path / "whole.csv", tmp_path / "resumed.csv"
    arguments = [str(tiny_run), str(source), "--chunk_rows", "250", "--workers", "1"]
    assert predict(*arguments, "--output", str(whole)).returncode == 0

    partial = Path(str(resumed) + ".partial")
    process = subprocess.Popen([*PREDICT, *arguments, "--output", str(resumed)], env=ONE_THREAD, cwd=REPO_ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(list(partial.glob("chunk-*.csv"))) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = len(list(partial.glob("chunk-*.csv")))
    assert 3 <= finished < 120, "killed too late to test anything"
    assert not resumed.exists()  # the output appears only when complete

    result = predict(*arguments, "--output", str(resumed))
    assert result.returncode == 0, result.stderr
    assert f"{finished} chunk(s) of 250 rows finished earlier" in result.stderr
    assert resumed.read_bytes() == whole.read_bytes()
    assert not partial.exists()


def test_a_partial_of_another_input_is_not_continued(tiny_run, tmp_path):
    source = write_csv(tmp_path / "in.csv", rows_with_ids(40), ["id", "text", "label"])
    output = tmp_path / "out.csv"
    partial = Path(str(output) + ".partial")
    partial.mkdir()
    (partial / "manifest.json").write_text(json.dumps({"input_path": "another.csv"}))
    (partial / "chunk-0000000.csv").write_text("id,text\nstale,row\n")
    result = predict(str(tiny_run), str(source), "--output", str(output))
    assert result.returncode == 0 and "starting afresh" in result.stderr
    assert read_output(output)["id"].tolist() == [row["id"] for row in rows_with_ids(40)]


def test_as_test_split_writes_the_runs_own_scored_predictions(tiny_run, tmp_path):
    run_dir = shutil.copytree(tiny_run, tmp_path / "run")
    rows = rows_with_ids(50, seed=9)
    test_file = write_csv(tmp_path / "test.csv", rows, ["id", "text", "label"])
    result = predict(str(run_dir), str(test_file), "--as_test_split")
    assert result.returncode == 0, result.stderr
    predictions = pd.read_csv(run_dir / "predictions.csv", dtype=str)
    assert list(predictions.columns) == ["id", "label", "prediction", "prob_negative", "prob_positive"]
    assert predictions["label"].tolist() == [row["label"] for row in rows]
    metrics = json.loads((run_dir / "test_metrics.json").read_text())
    assert metrics["rows"] == 50 and metrics["accuracy"] == pytest.approx(
        (predictions["label"] == predictions["prediction"]).mean())
    assert (run_dir / "predict_results.txt").read_text().count("\n") == 51
    assert "## Test" in (run_dir / "report.md").read_text()
    assert not (run_dir / "test_batch_predictions.csv").exists()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_ray_cluster_predicts_what_one_machine_predicts(tiny_run, tmp_path):
    """A local Ray cluster started here (as a user's existing one), the command pointed at it."""
    source = write_csv(tmp_path / "in.csv", rows_with_ids(3000), ["id", "text", "label"])
    assert predict(str(tiny_run), str(source), "--output", str(tmp_path / "one.csv")).returncode == 0
    ray = str(Path(sys.executable).with_name("ray"))
    port = free_port()
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths must fit 107 characters
    # The cluster's own token (Ray clusters require one since 2.5x), as a user's secured cluster would have.
    ray_env = {**ONE_THREAD, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    started = subprocess.run([ray, "start", "--head", f"--port={port}", "--num-cpus=3", "--include-dashboard=false",
                              f"--temp-dir={temp_dir}"], capture_output=True, text=True, env=ray_env, timeout=120)
    assert started.returncode == 0, started.stderr
    try:
        result = subprocess.run([*PREDICT, str(tiny_run), str(source), "--output", str(tmp_path / "cluster"),
                                 "--ray", f"127.0.0.1:{port}", "--workers", "2", "--chunk_rows", "500"],
                                capture_output=True, text=True, timeout=300, env=ray_env, cwd=REPO_ROOT)
    finally:
        subprocess.run([ray, "stop", "--force"], capture_output=True, env=ray_env, timeout=120)
        shutil.rmtree(temp_dir, ignore_errors=True)
    assert result.returncode == 0, result.stderr[-3000:]
    one = read_output(tmp_path / "one.csv")
    parts = sorted((tmp_path / "cluster").glob("*.csv"))
    cluster = pd.concat([read_output(part) for part in parts]).sort_values("id").reset_index(drop=True)
    assert len(parts) >= 2  # the blocks went through more than one actor's hands
    pd.testing.assert_frame_equal(cluster[["id", "text", "label", "prediction"]], one[["id", "text", "label", "prediction"]])
    probabilities = ["prob_negative", "prob_positive"]
    np.testing.assert_allclose(cluster[probabilities].astype(float), one[probabilities].astype(float), atol=1e-5)
