"""The run report's numbers, checked against hand-computed values."""

from __future__ import annotations

import pandas as pd
import pytest

from textclf.problem_types import MULTI_LABEL, REGRESSION, SINGLE_LABEL
from textclf.reports.report import learning_curve_points, main, validation_metrics


def test_binary_metrics_and_confusion_matrix():
    table = pd.DataFrame({"label": ["0", "0", "1", "1", "1"], "prediction": ["0", "1", "1", "1", "0"]})
    metrics = validation_metrics(table, SINGLE_LABEL, ["0", "1"])
    assert metrics["accuracy"] == pytest.approx(3 / 5)
    assert metrics["positive_precision"] == pytest.approx(2 / 3)
    assert metrics["positive_recall"] == pytest.approx(2 / 3)
    assert metrics["positive_f1"] == pytest.approx(2 / 3)
    assert metrics["macro_f1"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert metrics["confusion_matrix"]["counts"] == [[1, 1], [1, 2]]


def test_multiclass_has_no_positive_class():
    table = pd.DataFrame({"label": ["a", "b", "c"], "prediction": ["a", "b", "b"]})
    metrics = validation_metrics(table, SINGLE_LABEL, ["a", "b", "c"])
    assert "positive_f1" not in metrics
    assert metrics["per_class"]["c"]["recall"] == 0.0
    assert metrics["confusion_matrix"]["counts"] == [[1, 0, 0], [0, 1, 0], [0, 1, 0]]


def test_multi_label_and_regression_metrics():
    table = pd.DataFrame({"label": ["a|b", "b", ""], "prediction": ["a|b", "", ""]})
    metrics = validation_metrics(table, MULTI_LABEL, ["a", "b"])
    assert metrics["subset_accuracy"] == pytest.approx(2 / 3)
    assert metrics["micro_f1"] == pytest.approx(2 * 2 / (2 * 2 + 1))
    table = pd.DataFrame({"label": ["1.0", "2.0", "4.0"], "prediction": ["1.0", "3.0", "4.0"]})
    metrics = validation_metrics(table, REGRESSION, [])
    assert metrics["mse"] == pytest.approx(1 / 3) and metrics["mae"] == pytest.approx(1 / 3)


def test_learning_curve_adds_the_final_evaluation_once():
    state = {"global_step": 20, "log_history": [{"step": 10, "loss": 0.7}, {"step": 10, "eval_f1": 0.5}, {"step": 20, "loss": 0.3}]}
    assert learning_curve_points(state, {"eval_f1": 0.8}, "eval_f1") == ([10, 20], [0.7, 0.3], [10, 20], [0.5, 0.8])
    state["log_history"].append({"step": 20, "eval_f1": 0.8})
    assert learning_curve_points(state, {"eval_f1": 0.8}, "eval_f1")[2] == [10, 20]


def test_report_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert "no run_info.json" in capsys.readouterr().err


def test_the_report_says_what_the_precision_costs_on_the_task_as_measured(monkeypatch):
    import dataclasses

    from textclf import tasks
    from textclf.reports.report import precision_cost_line
    from textclf.runs.folder import RunInfo

    info = RunInfo(model="m", problem_type=SINGLE_LABEL, labels=["0", "1"], metric="f1", text_columns=["text"],
                   label_column="target", data={}, hyperparameters={"bf16": True}, script_settings={"TASK": "tweets"})
    monkeypatch.setitem(tasks.TASKS, "tweets", dataclasses.replace(tasks.TASKS["tweets"], precision_cost="F1 a against b."))
    assert precision_cost_line(info) == ("Trained in bf16 (PRECISION in scripts/lib/settings.sh). bf16 against fp32 "
                                         "on tweets: F1 a against b.")
    monkeypatch.setitem(tasks.TASKS, "tweets", dataclasses.replace(tasks.TASKS["tweets"], precision_cost=""))
    assert precision_cost_line(info).endswith("on tweets: not measured yet.")
    info.script_settings, info.hyperparameters = {}, {}  # a run started by hand, in fp32
    assert precision_cost_line(info) == ("Trained in fp32; what bf16 rather than fp32 costs was not measured for this "
                                         "run's data.")
