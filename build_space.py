#!/usr/bin/env python
"""Build a Hugging Face Space (a Gradio app) from a finished run, and upload it given a token.

    python build_space.py --run experiments/tweets-all-MiniLM-L6-v2 --name disaster-tweets
    HF_TOKEN=hf_... python build_space.py --run experiments/tweets-all-MiniLM-L6-v2 --name disaster-tweets
    python build_space.py --run experiments/tweets-all-MiniLM-L6-v2 --name disaster-tweets --dry-run

space/<name>/ gets everything the Space runs on: app.py with the few modules it imports, the run's
model (safetensors, tokenizer, config with the label names), its metrics and example texts,
requirements.txt (CPU torch, the versions installed here) and a README.md with the Spaces front
matter. It runs on its own, as Spaces runs it: `bash scripts/try_space.sh space/<name>`. With a token (HF_TOKEN or --token)
the Space is created on the Hub if needed and the folder uploaded; --dry-run only lists the files.
A run with its own model code (decoupled/main.py) takes that file along.
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import logging
import os
import re
import shutil
import sys
from pathlib import Path

from huggingface_hub import HfApi
from huggingface_hub.errors import HTTPError

from textclf import UserInputError, exit_code_of
from textclf.problem_types import REGRESSION
from textclf.runs.folder import (
    CALIBRATION,
    CONFIG,
    EXAMPLES_FILE,
    RUN_INFO,
    TEST_METRICS,
    VALIDATION_METRICS,
    RunInfo,
    example_texts,
    read_optional_json,
    resolve_run,
    write_json_atomically,
)

logger = logging.getLogger("build_space")

REPO_ROOT = Path(__file__).resolve().parent
APP = "app.py"
# The Space carries the toolkit's modules that app.py imports, followed through every import statement
# (those inside functions too), so that adding or moving a module cannot leave one behind (a Space once
# crashed on start for want of textclf/markdown.py). A module named here is left out by design, and so is
# what only it imports; wherever the app imports one, it must go on without it (ImportError handled).
LEFT_OUT_OF_SPACE = {
    "textclf.runs.data_files": "reads the run's validation file back; a Space carries no data, so the Predictor serves the "
                          "unquantized ONNX export without the int8 accuracy check that needs it",
    "textclf.audit.review_page": "the review page (app.py --review) edits a data folder's labels; a Space carries no data, "
                                 "and a public page must not let visitors edit labels",
}
RUN_FILES = (
    CONFIG, "model.safetensors", "model.safetensors.index.json", "model-*.safetensors",
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
    # Each tokenizer kind's own vocabulary files, where a run has them: WordPiece (BERT, ELECTRA, MPNet),
    # byte-level BPE (RoBERTa), sentencepiece (T5 and ALBERT, XLM-RoBERTa, DeBERTa-v2/v3).
    "vocab.txt", "vocab.json", "merges.txt", "spiece.model", "sentencepiece.bpe.model", "spm.model",
    RUN_INFO, VALIDATION_METRICS, TEST_METRICS, CALIBRATION,
)
# Pinned in the Space's requirements.txt: what app.py imports, what transformers loads the model with, and
# the web server's compiled event loop and HTTP parser, which uvicorn uses when installed (bench/serve_load.py).
REQUIREMENTS = ("gradio", "uvloop", "httptools", "torch", "transformers", "tokenizers", "safetensors",
                "huggingface_hub", "numpy", "pandas", "onnx", "onnxruntime")
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# Hub repository names: letters, digits, '-', '_', '.', at most 96 characters.
SPACE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", help="the finished run to publish (default: the newest one in experiments/)")
    parser.add_argument("--name", help="the Space's name; the folder is space/<name> (default: the run's name)")
    parser.add_argument("--output_dir", type=Path, default=REPO_ROOT / "space", help="where space/<name> goes")
    parser.add_argument("--token", default=os.environ.get("HF_TOKEN"),
                        help="Hugging Face write token (default: $HF_TOKEN); without one, the Space is only built")
    parser.add_argument("--repo_id", help="user/name on the Hub (default: <name> under the token's account)")
    parser.add_argument("--private", action="store_true", help="create the Space private")
    parser.add_argument("--emoji", default="📝", help="the Space's emoji")
    parser.add_argument("--dry-run", "--dry_run", dest="dry_run", action="store_true",
                        help="build the folder and list what would be uploaded, without contacting the Hub")
    return parser.parse_args(argv)


def build_space(run_dir: Path, space_dir: Path, name: str, emoji: str) -> list[Path]:
    """Write the Space folder; returns its files."""
    info = RunInfo.read(run_dir)
    if info.problem_type == REGRESSION:
        raise UserInputError(f"{run_dir}: a regression run has no classes to show; publish a classification run")
    model_code = [run_dir / info.model_code] if info.has_model_code else []
    app_files = toolkit_files_imported_by([REPO_ROOT / APP, *model_code])
    replace_previous_build(space_dir)
    for source in [REPO_ROOT / APP, *app_files]:
        copy_file(source, space_dir / source.relative_to(REPO_ROOT))
    bundled_run = space_dir / "experiments" / run_dir.name
    for pattern in RUN_FILES + ((info.model_code,) if info.has_model_code else ()):
        for source in sorted(run_dir.glob(pattern)):
            copy_file(source, bundled_run / source.name)
    # The local path of the base model means nothing on the Space and names this machine's folders.
    info.model_path = None
    info.write(bundled_run)
    write_json_atomically(bundled_run / EXAMPLES_FILE, {"examples": example_texts(run_dir)})
    (space_dir / "requirements.txt").write_text(requirements_txt(), encoding="utf-8")
    (space_dir / "README.md").write_text(space_readme(run_dir, info, name, emoji), encoding="utf-8")
    return sorted(path for path in space_dir.rglob("*") if path.is_file())


def toolkit_files_imported_by(scripts: list[Path], package: str = "textclf") -> list[Path]:
    """The files of `package` that `scripts` import, directly or through one another, each package's
    __init__.py included; modules in LEFT_OUT_OF_SPACE, and what only they import, are not followed."""
    found: set[Path] = set()
    to_read = list(scripts)
    while to_read:
        for module in imported_modules(to_read.pop()):
            if not (module == package or module.startswith(package + ".")) or module in LEFT_OUT_OF_SPACE:
                continue
            for path in module_files(module):
                if path not in found:
                    found.add(path)
                    to_read.append(path)
    return sorted(found)


def imported_modules(path: Path) -> set[str]:
    """Every module name an import statement of `path` names, wherever the statement is; for
    `from a import b`, both a and a.b (b may be a module or a name defined in a)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the file's own package
                parts = path.relative_to(REPO_ROOT).with_suffix("").parts
                base = ".".join(parts[: len(parts) - node.level] + ((node.module,) if node.module else ()))
            else:
                base = node.module
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def module_files(module: str) -> list[Path]:
    """The files importing `module` runs: each enclosing package's __init__.py and the module's own
    file; none where the name is not a module of this repository (a function imported by name)."""
    parts = module.split(".")
    own, package = REPO_ROOT.joinpath(*parts).with_suffix(".py"), REPO_ROOT.joinpath(*parts, "__init__.py")
    if not (own.is_file() or package.is_file()):
        return []
    enclosing = [REPO_ROOT.joinpath(*parts[:depth], "__init__.py") for depth in range(1, len(parts))]
    return [*enclosing, own if own.is_file() else package]


def replace_previous_build(space_dir: Path) -> None:
    """Start from an empty folder, but never delete one this script did not make."""
    if space_dir.exists():
        if not (space_dir / "app.py").is_file() or "sdk: gradio" not in read_text(space_dir / "README.md"):
            raise UserInputError(f"{space_dir} exists and is not a Space built by this script; choose another --name")
        logger.info("Replacing the previous build in %s", space_dir)
        shutil.rmtree(space_dir)
    space_dir.mkdir(parents=True)


def read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def copy_file(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def requirements_txt() -> str:
    """The versions installed here, with the CPU build of torch (Spaces' free hardware has no GPU,
    and the default CUDA wheels are several GB)."""
    lines = ["# Versions the run was served with locally; torch is the CPU build.", f"--extra-index-url {TORCH_CPU_INDEX}"]
    for package in REQUIREMENTS:
        version = importlib.metadata.version(package).split("+")[0]  # 2.13.0+cpu: the index picks the build
        lines.append(f"{package}=={version}")
    return "\n".join(lines) + "\n"


def model_card_license(run_dir: Path) -> str:
    """The licence in the run's model card front matter (the base model's), else 'other'."""
    match = re.search(r"^license:\s*(\S+)\s*$", read_text(run_dir / "README.md").split("\n---", 1)[0], re.MULTILINE)
    return match.group(1) if match else "other"


def space_readme(run_dir: Path, info: RunInfo, name: str, emoji: str) -> str:
    labels = info.labels or []
    metrics = read_optional_json(run_dir / VALIDATION_METRICS)
    scores = ", ".join(f"{key} {metrics[key]:.3f}" for key in ("accuracy", "macro_f1", "positive_f1") if key in metrics)
    front_matter = {
        "title": name,
        "emoji": emoji,
        "colorFrom": "blue",
        "colorTo": "indigo",
        "sdk": "gradio",
        "sdk_version": importlib.metadata.version("gradio"),
        # Quoted: YAML would read 3.10 as the number 3.1.
        "python_version": f'"{sys.version_info.major}.{sys.version_info.minor}"',
        "app_file": "app.py",
        "license": model_card_license(run_dir),
        "pinned": "false",
        "short_description": f"{', '.join(labels)} classifier"[:60],
    }
    return "\n".join([
        "---",
        *(f"{key}: {value}" for key, value in front_matter.items()),
        "---",
        "",
        f"# {name}",
        "",
        f"Type a text and see the probability of each class: {', '.join(f'`{label}`' for label in labels)}.",
        f"The model is `{info.model}` fine-tuned as run `{run_dir.name}`"
        + (f"; on its validation data: {scores}." if scores else "."),
        "A CSV tab classifies every row of an uploaded file.",
        "",
        "From Python:",
        "",
        "```python",
        "from gradio_client import Client",
        "",
        'client = Client("<user>/' + name + '")',
        'print(client.predict("Forest fire near La Ronge", api_name="/predict"))',
        "```",
        "",
        "Built by `build_space.py` from the run's folder: the model, tokenizer and metrics are in "
        f"`experiments/{run_dir.name}/`.",
        "",
    ])


def list_files(space_dir: Path, files: list[Path]) -> None:
    total = sum(path.stat().st_size for path in files)
    for path in files:
        logger.info("  %-60s %10s", path.relative_to(space_dir), f"{path.stat().st_size:,}")
    logger.info("%d files, %.1f MB", len(files), total / 1e6)


def upload(space_dir: Path, repo_id: str, token: str, private: bool) -> str:
    """Create the Space if needed and upload the folder; returns its address."""
    api = HfApi(token=token)
    try:
        repo = api.create_repo(repo_id, repo_type="space", space_sdk="gradio", exist_ok=True, private=private)
        api.upload_folder(
            folder_path=str(space_dir), repo_id=repo.repo_id, repo_type="space",
            commit_message=f"Upload {space_dir.name} from build_space.py",
        )
    except (HTTPError, OSError, ValueError) as error:
        # Hub errors do not contain the token, but make sure it can never reach the terminal.
        raise UserInputError(f"uploading to the Hub failed: {str(error).replace(token, '***')}") from None
    return f"https://huggingface.co/spaces/{repo.repo_id}"


def publish(arguments: argparse.Namespace) -> None:
    """Build the Space folder, then list it (--dry-run) or upload it (with a token)."""
    run_dir = resolve_run(arguments.run, REPO_ROOT / "experiments")
    name = arguments.name or run_dir.name
    if not SPACE_NAME.match(name):
        raise UserInputError(f"--name {name!r}: use letters, digits, '-', '_' or '.', at most 96 characters")
    space_dir = arguments.output_dir / name
    files = build_space(run_dir, space_dir, name, arguments.emoji)
    logger.info("Built %s from %s; try it as the Space runs it: bash scripts/try_space.sh %s", space_dir, run_dir, space_dir)
    repo_id = arguments.repo_id or name
    if arguments.dry_run:
        logger.info("Dry run: would create the Space %s (sdk gradio) and upload:", repo_id)
        list_files(space_dir, files)
    elif arguments.token:
        logger.info("Uploading %d files to the Space %s ...", len(files), repo_id)
        logger.info("Done: %s", upload(space_dir, repo_id, arguments.token, arguments.private))
    else:
        logger.info("No token (HF_TOKEN or --token): not uploaded. See README.md, 'Web demo and Hugging Face Space'.")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(format="%(message)s", level=logging.INFO)
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    return exit_code_of(lambda: publish(arguments))


if __name__ == "__main__":
    sys.exit(main())
