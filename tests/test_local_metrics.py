"""The evaluate metric modules in local_metrics/: loading (offline) and values against sklearn / scipy.

Expected values are hand-computed where that is easy, and otherwise computed here directly with
sklearn, scipy or numpy (with the documented argument order, so swapped arguments in a module,
e.g. precision computed as recall, show up).
"""

from __future__ import annotations

import ast
import filecmp
import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import evaluate
import numpy as np
import pytest
from conftest import network_namespace_or_skip
from scipy import stats
from sklearn import metrics as skm

REPO_ROOT = Path(__file__).resolve().parent.parent
METRICS_DIR = REPO_ROOT / "local_metrics"

# name -> (class name, feature dtype, name of the config with sequence features)
METRICS = {
    "accuracy": ("Accuracy", "int32", "multilabel"),
    "f1": ("F1", "int32", "multilabel"),
    "precision": ("Precision", "int32", "multilabel"),
    "recall": ("Recall", "int32", "multilabel"),
    "matthews_correlation": ("MatthewsCorrelation", "int32", "multilabel"),
    "mse": ("Mse", "float32", "multilist"),
    "mae": ("Mae", "float32", "multilist"),
    "pearsonr": ("Pearsonr", "float32", None),
    "spearmanr": ("Spearmanr", "float32", None),
}
FORMS = ["script", "folder"]

# Binary: TP=4 (ids 1, 4, 5, 7), FN=1 (id 2), FP=2 (ids 0, 6), TN=1 (id 3).
BIN_REFS = [0, 1, 1, 0, 1, 1, 0, 1]
BIN_PREDS = [1, 1, 0, 0, 1, 1, 1, 1]
# Multi-class: per class precision 1, 1, 3/4 and recall 1, 1/2, 1.
MC_REFS = [0, 1, 2, 2, 1, 0, 2]
MC_PREDS = [0, 2, 2, 2, 1, 0, 2]
# Multilabel (multi-hot): micro TP=4, FP=1, FN=2; only the last row is exactly right.
ML_REFS = [[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]]
ML_PREDS = [[1, 0, 0], [0, 1, 1], [1, 0, 0], [0, 0, 1]]
# Regression (values exact in float32): squared errors 0.25, 0.25, 0, 1; absolute errors 0.5, 0.5, 0, 1.
REG_REFS = [3.0, -0.5, 2.0, 7.0]
REG_PREDS = [2.5, 0.0, 2.0, 8.0]
# Several outputs: per output MSE 5/12 and 1, MAE 1/2 and 1.
MULTI_REFS = [[0.5, 1.0], [-1.0, 1.0], [7.0, -6.0]]
MULTI_PREDS = [[0.0, 2.0], [-1.0, 2.0], [8.0, -5.0]]
# Correlation: no ties, not monotonic.
COR_REFS = [1.0, 2.5, 3.0, 4.5, 6.0, 7.0]
COR_PREDS = [1.5, 2.0, 3.5, 3.0, 7.5, 6.0]


def metric_path(name: str, form: str) -> Path:
    return METRICS_DIR / name / f"{name}.py" if form == "script" else METRICS_DIR / name


@pytest.fixture(scope="module")
def load(tmp_path_factory):
    """load(name, form, config) -> the metric, each combination loaded once for the module."""
    cache_dir = tmp_path_factory.mktemp("metric_data")  # compute()'s temporary Arrow files
    loaded = {}

    def get(name: str, form: str = "script", config: str | None = None):
        key = (name, form, config)
        if key not in loaded:
            loaded[key] = evaluate.load(str(metric_path(name, form)), config_name=config, cache_dir=str(cache_dir))
        return loaded[key]

    return get


def check(result: dict, expected: dict):
    """Same keys, plain Python floats (or lists of them), values equal up to rounding."""
    assert set(result) == set(expected)
    for key, value in expected.items():
        if isinstance(value, (list, np.ndarray)):
            assert isinstance(result[key], list) and all(type(v) is float for v in result[key]), result
        else:
            assert type(result[key]) is float, result
        np.testing.assert_allclose(result[key], value, rtol=1e-6, atol=1e-9, err_msg=key)


# ---------------------------------------------------------------- layout and loading


@pytest.mark.parametrize("name", METRICS)
def test_layout_one_metric_class_and_shared_helper(name):
    script = metric_path(name, "script")
    tree = ast.parse(script.read_text())
    metric_classes = [
        node.name
        for node in tree.body
        if isinstance(node, ast.ClassDef) and any(ast.unparse(base) == "evaluate.Metric" for base in node.bases)
    ]
    assert metric_classes == [METRICS[name][0]]
    # evaluate copies only same-folder imports, hence the per-folder link to the shared helper.
    helper = script.parent / "_shared.py"
    assert helper.is_file(), f"{helper} is missing or a dangling link"
    assert filecmp.cmp(helper, METRICS_DIR / "_shared.py", shallow=False)


@pytest.mark.parametrize("name", METRICS)
def test_script_and_folder_forms_load_the_same_module(load, name):
    class_name, dtype, _ = METRICS[name]
    by_script, by_folder = load(name, "script"), load(name, "folder")
    for metric in (by_script, by_folder):
        assert type(metric).__name__ == class_name
        assert metric.name == name  # also names evaluate's cache folders
        assert metric.features["predictions"].dtype == dtype
        assert metric.features["references"].dtype == dtype
        assert metric.info.description.strip() and metric.info.citation.strip()
        assert "Args:" in metric.info.inputs_description
    assert by_script._hash == by_folder._hash


@pytest.mark.parametrize("name", [name for name, (_, _, config) in METRICS.items() if config])
def test_sequence_config_features(load, name):
    _, dtype, config = METRICS[name]
    features = load(name, "folder", config).features
    assert features["predictions"].feature.dtype == dtype
    assert features["references"].feature.dtype == dtype


@pytest.mark.parametrize("name", ["accuracy", "mse", "pearsonr"])
def test_unknown_config_is_an_error(name):
    wrong = "multilist" if METRICS[name][2] != "multilist" else "multilabel"
    with pytest.raises(ValueError, match="unknown config_name"):
        evaluate.load(str(metric_path(name, "folder")), config_name=wrong)


# ---------------------------------------------------------------- values


@pytest.mark.parametrize("form", FORMS)
def test_binary_classification(load, form):
    compute = {name: load(name, form).compute for name in ["accuracy", "f1", "precision", "recall"]}
    mcc = load("matthews_correlation", form).compute
    check(compute["accuracy"](predictions=BIN_PREDS, references=BIN_REFS), {"accuracy": 5 / 8})
    check(compute["precision"](predictions=BIN_PREDS, references=BIN_REFS), {"precision": 4 / 6})
    check(compute["recall"](predictions=BIN_PREDS, references=BIN_REFS), {"recall": 4 / 5})
    check(compute["f1"](predictions=BIN_PREDS, references=BIN_REFS), {"f1": 8 / 11})
    check(mcc(predictions=BIN_PREDS, references=BIN_REFS), {"matthews_correlation": 2 / math.sqrt(6 * 5 * 3 * 2)})
    # keyword arguments reach sklearn
    check(compute["accuracy"](predictions=BIN_PREDS, references=BIN_REFS, normalize=False), {"accuracy": 5.0})
    check(compute["precision"](predictions=BIN_PREDS, references=BIN_REFS, pos_label=0), {"precision": 1 / 2})
    check(compute["recall"](predictions=BIN_PREDS, references=BIN_REFS, pos_label=0), {"recall": 1 / 3})
    weights = [1, 2, 3, 1, 1, 2, 4, 1]
    for name, score_fn in [("accuracy", skm.accuracy_score), ("f1", skm.f1_score)]:
        expected = score_fn(BIN_REFS, BIN_PREDS, sample_weight=weights)
        check(compute[name](predictions=BIN_PREDS, references=BIN_REFS, sample_weight=weights), {name: expected})
    expected = skm.matthews_corrcoef(BIN_REFS, BIN_PREDS, sample_weight=weights)
    check(mcc(predictions=BIN_PREDS, references=BIN_REFS, sample_weight=weights), {"matthews_correlation": expected})


def test_zero_division(load):
    precision = load("precision").compute
    no_positive_predictions = dict(predictions=[0, 0, 0], references=[0, 1, 1])
    check(precision(**no_positive_predictions, zero_division=1), {"precision": 1.0})
    check(precision(**no_positive_predictions, zero_division=0), {"precision": 0.0})


@pytest.mark.parametrize("form", FORMS)
def test_multiclass_macro(load, form):
    per_class = {"precision": [1, 1, 3 / 4], "recall": [1, 1 / 2, 1], "f1": [1, 2 / 3, 6 / 7]}
    for name, scores in per_class.items():
        metric = load(name, form)
        check(metric.compute(predictions=MC_PREDS, references=MC_REFS, average="macro"), {name: np.mean(scores)})
        check(metric.compute(predictions=MC_PREDS, references=MC_REFS, average=None), {name: scores})
        only = metric.compute(predictions=MC_PREDS, references=MC_REFS, average=None, labels=[2])
        check(only, {name: scores[2]})  # a single per-label score is a float, as in the hub metrics
    weighted = skm.f1_score(MC_REFS, MC_PREDS, average="weighted")
    check(load("f1", form).compute(predictions=MC_PREDS, references=MC_REFS, average="weighted"), {"f1": weighted})
    check(load("accuracy", form).compute(predictions=MC_PREDS, references=MC_REFS), {"accuracy": 6 / 7})
    mcc = skm.matthews_corrcoef(MC_REFS, MC_PREDS)
    check(load("matthews_correlation", form).compute(predictions=MC_PREDS, references=MC_REFS),
          {"matthews_correlation": mcc})


@pytest.mark.parametrize("form", FORMS)
def test_multilabel_config(load, form):
    micro = {"precision": 4 / 5, "recall": 4 / 6, "f1": 8 / 11}
    for name, expected in micro.items():
        metric = load(name, form, "multilabel")
        check(metric.compute(predictions=ML_PREDS, references=ML_REFS, average="micro"), {name: expected})
    samples = skm.f1_score(np.array(ML_REFS), np.array(ML_PREDS), average="samples")
    f1 = load("f1", form, "multilabel")
    check(f1.compute(predictions=ML_PREDS, references=ML_REFS, average="samples"), {"f1": samples})
    accuracy = load("accuracy", form, "multilabel")
    check(accuracy.compute(predictions=ML_PREDS, references=ML_REFS), {"accuracy": 1 / 4})  # subset accuracy
    refs, preds = np.array(ML_REFS), np.array(ML_PREDS)
    per_label = [skm.matthews_corrcoef(refs[:, i], preds[:, i]) for i in range(refs.shape[1])]
    mcc = load("matthews_correlation", form, "multilabel")
    check(mcc.compute(predictions=ML_PREDS, references=ML_REFS), {"matthews_correlation": per_label})
    check(mcc.compute(predictions=ML_PREDS, references=ML_REFS, average="macro"),
          {"matthews_correlation": np.mean(per_label)})
    with pytest.raises(ValueError, match="average"):
        mcc.compute(predictions=ML_PREDS, references=ML_REFS, average="micro")


@pytest.mark.parametrize("form", FORMS)
def test_regression(load, form):
    mse, mae = load("mse", form), load("mae", form)
    check(mse.compute(predictions=REG_PREDS, references=REG_REFS), {"mse": 0.375})
    check(mse.compute(predictions=REG_PREDS, references=REG_REFS, squared=False), {"mse": math.sqrt(0.375)})
    check(mae.compute(predictions=REG_PREDS, references=REG_REFS), {"mae": 0.5})
    weights = [1.0, 0.0, 0.0, 3.0]
    check(mse.compute(predictions=REG_PREDS, references=REG_REFS, sample_weight=weights), {"mse": 3.25 / 4})
    check(mae.compute(predictions=REG_PREDS, references=REG_REFS, sample_weight=weights), {"mae": 3.5 / 4})


@pytest.mark.parametrize("form", FORMS)
def test_multilist_config(load, form):
    mse, mae = load("mse", form, "multilist"), load("mae", form, "multilist")
    per_output_mse = np.array([5 / 12, 1.0])
    check(mse.compute(predictions=MULTI_PREDS, references=MULTI_REFS), {"mse": per_output_mse.mean()})
    raw = mse.compute(predictions=MULTI_PREDS, references=MULTI_REFS, multioutput="raw_values")
    check(raw, {"mse": per_output_mse})
    # RMSE as the old sklearn squared=False: root per output, then the average
    rmse = mse.compute(predictions=MULTI_PREDS, references=MULTI_REFS, squared=False)
    check(rmse, {"mse": np.sqrt(per_output_mse).mean()})
    rmse_raw = mse.compute(predictions=MULTI_PREDS, references=MULTI_REFS, squared=False, multioutput="raw_values")
    check(rmse_raw, {"mse": np.sqrt(per_output_mse)})
    check(mae.compute(predictions=MULTI_PREDS, references=MULTI_REFS), {"mae": 0.75})
    check(mae.compute(predictions=MULTI_PREDS, references=MULTI_REFS, multioutput="raw_values"), {"mae": [0.5, 1.0]})
    weighted = mae.compute(predictions=MULTI_PREDS, references=MULTI_REFS, multioutput=[0.25, 0.75])
    check(weighted, {"mae": 0.25 * 0.5 + 0.75 * 1.0})


def ranks(values):
    return np.argsort(np.argsort(values)).astype(float)  # no ties in the test data


@pytest.mark.parametrize("form", FORMS)
def test_correlations(load, form):
    pearson, spearman = load("pearsonr", form), load("spearmanr", form)
    expected_pearson = np.corrcoef(COR_REFS, COR_PREDS)[0, 1]
    expected_spearman = np.corrcoef(ranks(COR_REFS), ranks(COR_PREDS))[0, 1]
    assert not math.isclose(expected_pearson, expected_spearman)
    check(pearson.compute(predictions=COR_PREDS, references=COR_REFS), {"pearsonr": expected_pearson})
    check(spearman.compute(predictions=COR_PREDS, references=COR_REFS), {"spearmanr": expected_spearman})
    check(
        pearson.compute(predictions=COR_PREDS, references=COR_REFS, return_pvalue=True),
        {"pearsonr": expected_pearson, "p-value": stats.pearsonr(COR_REFS, COR_PREDS).pvalue},
    )
    check(
        spearman.compute(predictions=COR_PREDS, references=COR_REFS, return_pvalue=True),
        {"spearmanr": expected_spearman, "spearmanr_pvalue": stats.spearmanr(COR_REFS, COR_PREDS).pvalue},
    )


# ---------------------------------------------------------------- offline

# One small computation per metric, run in-process and in a subprocess without network:
# (name, config, predictions, references, kwargs, expected result)
OFFLINE_CASES = [
    ("accuracy", None, BIN_PREDS, BIN_REFS, {}, {"accuracy": 5 / 8}),
    ("f1", "multilabel", ML_PREDS, ML_REFS, {"average": "micro"}, {"f1": 8 / 11}),
    ("precision", None, MC_PREDS, MC_REFS, {"average": "macro"}, {"precision": 11 / 12}),
    ("recall", None, BIN_PREDS, BIN_REFS, {}, {"recall": 4 / 5}),
    ("matthews_correlation", None, BIN_PREDS, BIN_REFS, {}, {"matthews_correlation": 2 / math.sqrt(180)}),
    ("mse", "multilist", MULTI_PREDS, MULTI_REFS, {}, {"mse": 17 / 24}),
    ("mae", None, REG_PREDS, REG_REFS, {}, {"mae": 0.5}),
    ("pearsonr", None, COR_PREDS, COR_REFS, {}, {"pearsonr": np.corrcoef(COR_REFS, COR_PREDS)[0, 1]}),
    ("spearmanr", None, COR_PREDS, COR_REFS, {}, {"spearmanr": stats.spearmanr(COR_REFS, COR_PREDS).statistic}),
]
assert sorted(case[0] for case in OFFLINE_CASES) == sorted(METRICS)


def test_loads_with_offline_flags_and_no_sockets(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")
    monkeypatch.setattr(evaluate.config, "HF_EVALUATE_OFFLINE", True)  # evaluate reads the env at import

    def no_network(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    for name, config, predictions, references, kwargs, expected in OFFLINE_CASES:
        metric = evaluate.load(str(metric_path(name, "folder")), config_name=config, keep_in_memory=True)
        check(metric.compute(predictions=predictions, references=references, **kwargs), expected)


def test_no_network_namespace_skips_unless_required(monkeypatch, tmp_path):
    """Where `unshare -n` is refused the no-network tests skip, unless REQUIRE_NETWORK_ISOLATION=1 (CI)."""
    assert "\nexport REQUIRE_NETWORK_ISOLATION=1\n" in (REPO_ROOT / ".ci/run").read_text()
    refusing = tmp_path / "bin" / "unshare"
    refusing.parent.mkdir()
    refusing.write_text("#!/bin/sh\necho 'unshare: unshare failed: Operation not permitted' >&2\nexit 1\n")
    refusing.chmod(0o755)
    monkeypatch.setenv("PATH", f"{refusing.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.delenv("REQUIRE_NETWORK_ISOLATION", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Operation not permitted"):
        network_namespace_or_skip()
    monkeypatch.setenv("REQUIRE_NETWORK_ISOLATION", "1")  # CI (.ci/run) sets this
    with pytest.raises(pytest.fail.Exception, match="cannot create a network namespace"):
        network_namespace_or_skip()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no unshare at all
    with pytest.raises(pytest.fail.Exception, match="No such file"):
        network_namespace_or_skip()


OFFLINE_SCRIPT = """
import json, sys
import evaluate
results = []
for name, config, predictions, references, kwargs, path in json.loads(sys.argv[1]):
    metric = evaluate.load(path, config_name=config)
    results.append(metric.compute(predictions=predictions, references=references, **kwargs))
print(json.dumps(results))
"""


@pytest.mark.slow
def test_loads_in_a_network_namespace_with_fresh_caches(tmp_path):
    network_namespace_or_skip()
    # absolute script paths and folder paths relative to the repo root (the subprocess's cwd)
    cases = [
        (name, config, predictions, references, kwargs,
         str(metric_path(name, "script")) if index % 2 else f"local_metrics/{name}")
        for index, (name, config, predictions, references, kwargs, _) in enumerate(OFFLINE_CASES)
    ]
    env = {key: value for key, value in os.environ.items() if not key.startswith("HF_")}
    env["HF_HOME"] = str(tmp_path / "hf")  # empty modules and metrics caches; no offline flags set
    completed = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", OFFLINE_SCRIPT, json.dumps(cases)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads(completed.stdout.strip().splitlines()[-1])
    for result, (name, *_, expected) in zip(results, OFFLINE_CASES, strict=True):
        check(result, expected)
    for name in METRICS:  # evaluate imported the copies it made in the new modules cache
        copies = list((tmp_path / "hf" / "modules" / "evaluate_modules" / "metrics" / name).glob("*/_shared.py"))
        assert copies and not copies[0].is_symlink()
