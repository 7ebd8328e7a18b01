"""build_space.py: the Space folder is complete, runs on its own, and the upload never shows the token."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import REPO_ROOT, write_csv
from test_app import LABELS, RUN_NAME, TWEET, confidences, write_tiny_run

SPACE_NAME = "tiny-demo"
SECRET = "hf_TestTokenThatMustNeverBeShown0123"


def build(project: Path, *arguments: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in ("HF_TOKEN", "PYTHONPATH")}
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "build_space.py"), "--run", str(project / "experiments" / RUN_NAME),
         "--name", SPACE_NAME, "--output_dir", str(project / "space"), *arguments],
        cwd=project, env=env, capture_output=True, text=True, timeout=120,
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory, tiny_model) -> Path:
    project = tmp_path_factory.mktemp("project")
    write_tiny_run(project, tiny_model)
    return project


@pytest.fixture(scope="module")
def space(project) -> Path:
    result = build(project)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "not uploaded" in result.stderr  # logging goes to stderr
    return project / "space" / SPACE_NAME


def front_matter(readme: Path) -> dict:
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_space_folder_has_app_model_metrics_and_pinned_requirements(space):
    files = {str(path.relative_to(space)) for path in space.rglob("*") if path.is_file()}
    run = f"experiments/{RUN_NAME}"
    assert {"app.py", "README.md", "requirements.txt", "textclf/__init__.py", "textclf/serving/predictor.py",
            "textclf/runs/folder.py", f"{run}/config.json", f"{run}/model.safetensors", f"{run}/tokenizer.json",
            f"{run}/tokenizer_config.json", f"{run}/run_info.json", f"{run}/validation_metrics.json",
            f"{run}/examples.json"} <= files
    assert (space / "app.py").read_bytes() == (REPO_ROOT / "app.py").read_bytes()
    assert json.loads((space / run / "config.json").read_text())["id2label"] == {"0": "negative", "1": "positive"}
    assert json.loads((space / run / "run_info.json").read_text())["model_path"] is None  # no path of this machine
    assert len(json.loads((space / run / "examples.json").read_text())["examples"]) == 4

    meta = front_matter(space / "README.md")
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py"
    assert meta["sdk_version"] == importlib.metadata.version("gradio")
    assert meta["python_version"] == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert {"title", "emoji", "license"} <= set(meta)

    requirements = (space / "requirements.txt").read_text().splitlines()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in requirements
    for package in ("gradio", "torch", "transformers"):
        assert f"{package}=={importlib.metadata.version(package).split('+')[0]}" in requirements


def test_space_carries_every_toolkit_module_the_app_imports_and_nothing_left_out(space):
    import build_space

    bundled = {str(path.relative_to(space)) for path in (space / "textclf").rglob("*.py")}
    assert "textclf/markdown.py" in bundled  # imported by explain.py; the file a hand-kept list once missed
    assert {"textclf/__init__.py", "textclf/serving/predictor.py", "textclf/serving/explain.py", "textclf/runs/calibration.py"} <= bundled
    # Left out by design: the reader of the run's validation file behind the int8 accuracy check, which a Space
    # (no data) cannot run; the Predictor imports it in a try and serves the unquantized export without it. And
    # the review page (app.py --review), which edits a data folder's labels: a Space has no data folder.
    assert set(build_space.LEFT_OUT_OF_SPACE) == {"textclf.runs.data_files", "textclf.audit.review_page"}
    assert not bundled & {"textclf/runs/data_files.py", "textclf/audit/review_page.py", "textclf/audit/review.py"}
    # ...and no training code, data loading or reports: nothing of the Trainer's side reaches the Space.
    assert not bundled & {"textclf/training/trainer.py", "textclf/data/loading.py", "textclf/training/arguments.py", "textclf/audit/checks.py",
                          "textclf/reports/analysis.py", "textclf/reports/report.py"}
    for path in bundled:
        assert (space / path).read_bytes() == (REPO_ROOT / path).read_bytes(), path


def test_bundle_follows_imports_inside_functions_and_relative_ones(tmp_path, monkeypatch):
    """The files come from the import statements, wherever they are, so a new or moved module comes along."""
    import build_space

    script = tmp_path / "app.py"
    script.write_text("def serve():\n    from textclf.serving.explain import explain\n    import textclf.tables as tables\n")
    files = {str(path.relative_to(REPO_ROOT)) for path in build_space.toolkit_files_imported_by([script])}
    assert {"textclf/__init__.py", "textclf/serving/explain.py", "textclf/markdown.py", "textclf/serving/predictor.py",
            "textclf/tables.py", "textclf/tokenization.py"} <= files
    assert "textclf/runs/data_files.py" not in files  # imported inside predictor.py, left out by design
    monkeypatch.setattr(build_space, "LEFT_OUT_OF_SPACE", {})
    assert "textclf/runs/data_files.py" in {str(path.relative_to(REPO_ROOT))
                                            for path in build_space.toolkit_files_imported_by([script])}

    assert build_space.imported_modules(REPO_ROOT / "textclf" / "serving" / "explain.py") >= {"textclf.markdown", "textclf.markdown.escape_markdown"}
    relative = tmp_path / "relative.py"
    relative.write_text("from . import markdown\nfrom .runs import RunInfo\n")
    monkeypatch.setattr(build_space, "REPO_ROOT", tmp_path.parent)
    assert build_space.imported_modules(relative) >= {f"{tmp_path.name}.markdown", f"{tmp_path.name}.runs.RunInfo"}


@pytest.mark.slow
def test_space_app_answers_from_its_own_folder(space, tmp_path):
    """The bundle run as Spaces runs it (scripts/try_space.sh: a fresh environment from its requirements.txt,
    which cannot see this checkout), asked through gradio_client: /predict, /explain and /predict_csv."""
    from gradio_client import handle_file
    from spaces import served_space

    with served_space(space) as client:
        result = client.predict(TWEET, api_name="/predict")
        assert set(confidences(result)) == set(LABELS)
        assert sum(confidences(result).values()) == pytest.approx(1, abs=1e-4)
        assert result["label"] == "positive"
        assert not client.predict("", api_name="/predict").get("confidences")

        pieces = client.predict(TWEET, RUN_NAME, api_name="/explain")
        assert "".join(piece["token"] for piece in pieces) == TWEET
        scores = {piece["token"]: piece["class_or_confidence"] for piece in pieces}
        assert max(scores, key=lambda word: scores[word] or -2) == "great"

        upload = write_csv(tmp_path / "tweets.csv", [{"id": 7, "tweet": "awful storm"}, {"id": 8, "tweet": "good team"}])
        path, _preview = client.predict(handle_file(str(upload)), "tweet", RUN_NAME, api_name="/predict_csv")
        table = pd.read_csv(path)
        assert table["id"].tolist() == [7, 8] and table["prediction"].tolist() == ["negative", "positive"]


def test_dry_run_lists_the_upload_and_never_shows_the_token(project):
    result = build(project, "--token", SECRET, "--dry-run")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Dry run: would create the Space tiny-demo" in result.stderr
    assert "model.safetensors" in result.stderr and "requirements.txt" in result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert_token_not_in_folder(project / "space" / SPACE_NAME)


def assert_token_not_in_folder(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


class FakeHubApi:
    """Records what build_space asks of huggingface_hub.HfApi instead of reaching the Hub."""

    calls: list = []

    def __init__(self, token=None):
        self.calls.append(("init", token))

    def create_repo(self, repo_id, **options):
        self.calls.append(("create_repo", repo_id, options))
        return type("RepoUrl", (), {"repo_id": f"someone/{repo_id}"})()

    def upload_folder(self, **options):
        self.calls.append(("upload_folder", options))


@pytest.mark.parametrize("token_from", ["argument", "environment"])
def test_upload_creates_the_space_and_uploads_the_folder(project, tmp_path, monkeypatch, capsys, caplog, token_from):
    import build_space

    caplog.set_level(logging.INFO)
    monkeypatch.setattr(build_space, "HfApi", FakeHubApi)
    FakeHubApi.calls = []
    arguments = ["--run", str(project / "experiments" / RUN_NAME), "--name", SPACE_NAME, "--output_dir", str(tmp_path)]
    if token_from == "argument":
        arguments += ["--token", SECRET]
    else:
        monkeypatch.setenv("HF_TOKEN", SECRET)
    assert build_space.main(arguments) == 0
    calls = {call[0]: call[1:] for call in FakeHubApi.calls}
    assert calls["init"] == (SECRET,)
    repo_id, options = calls["create_repo"]
    assert repo_id == SPACE_NAME and options["repo_type"] == "space" and options["space_sdk"] == "gradio"
    (upload,) = calls["upload_folder"]
    assert upload["folder_path"] == str(tmp_path / SPACE_NAME) and upload["repo_id"] == f"someone/{SPACE_NAME}"
    assert "https://huggingface.co/spaces/someone/tiny-demo" in caplog.text
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err + caplog.text
    assert_token_not_in_folder(tmp_path / SPACE_NAME)


def test_builder_refuses_to_replace_a_folder_it_did_not_make(project, tmp_path):
    (tmp_path / SPACE_NAME).mkdir()
    (tmp_path / SPACE_NAME / "notes.txt").write_text("mine")
    env = {key: value for key, value in os.environ.items() if key != "HF_TOKEN"}
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "build_space.py"), "--run", str(project / "experiments" / RUN_NAME),
         "--name", SPACE_NAME, "--output_dir", str(tmp_path)], env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "is not a Space built by this script" in result.stderr
    assert (tmp_path / SPACE_NAME / "notes.txt").exists()
