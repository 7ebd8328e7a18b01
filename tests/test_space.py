"""build_space.py: the Space folder is complete, runs on its own, and the upload never shows the token."""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT
from test_app import LABELS, RUN_NAME, TWEET, confidences, free_port, write_tiny_run

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
    assert {"app.py", "README.md", "requirements.txt", "textclf/__init__.py", "textclf/predictor.py",
            "textclf/runs.py", f"{run}/config.json", f"{run}/model.safetensors", f"{run}/tokenizer.json",
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


@pytest.mark.slow
def test_space_app_answers_from_its_own_folder(space):
    """`python app.py` in the Space folder, with no access to this repository and no network."""
    from gradio_client import Client

    port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "TEXTCLF_RUN")}
    env |= {"GRADIO_SERVER_PORT": str(port), "HF_HUB_OFFLINE": "1"}
    where = "import importlib.util; print(importlib.util.find_spec('textclf.predictor').origin)"
    imported = subprocess.run([sys.executable, "-c", where],
                              cwd=space, env=env, capture_output=True, text=True, timeout=120)
    assert Path(imported.stdout.strip()) == space / "textclf" / "predictor.py", imported.stderr[-2000:]
    server = subprocess.Popen([sys.executable, "app.py"], cwd=space, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        client = connect(Client, f"http://127.0.0.1:{port}/", server)
        result = client.predict(TWEET, api_name="/predict")
        assert set(confidences(result)) == set(LABELS)
        assert sum(confidences(result).values()) == pytest.approx(1, abs=1e-4)
        assert result["label"] == "positive"
        assert not client.predict("", api_name="/predict").get("confidences")
    finally:
        server.terminate()
        server.communicate(timeout=30)


def connect(client_class, url: str, server: subprocess.Popen, timeout: float = 90):
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
