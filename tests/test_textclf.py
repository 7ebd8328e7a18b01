"""The small pieces behind run_classification.py, and its one-line errors for bad input."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from conftest import sentiment_rows, write_csv
from datasets import ClassLabel, Dataset, DatasetDict, Features, List, Value

import run_classification
from textclf import UserInputError
from textclf.training.arguments import translate_legacy_arguments
from textclf.data.loading import join_text_columns, load_data_file, resolve_text_columns, unescape_delimiter
from textclf.data.labels import build_label_list, infer_problem_type, normalize_labels, sort_labels
from textclf.training.metrics import load_metric, metric_compute_kwargs, resolve_metric
from textclf.models.offline import resolve_model_name_or_path
from textclf.problem_types import MULTI_LABEL, REGRESSION, SINGLE_LABEL, logits_to_predictions
from textclf.tokenization import tokenize
from textclf.training.trainer import leave_process_group


def test_delimiter_escapes_typed_in_a_shell_mean_what_the_user_meant():
    assert unescape_delimiter("\\n") == "\n"
    assert unescape_delimiter(" \\t ") == " \t "
    assert unescape_delimiter("\\\\n") == "\\n"
    assert unescape_delimiter(" | ") == " | "
    _, data_args, _ = run_classification.parse_arguments(
        ["--model_name_or_path", "m", "--train_file", "t.csv", "--text_column_delimiter", "\\n", "--output_dir", "o"]
    )
    assert data_args.text_column_delimiter == "\n"


def test_text_columns_are_joined_skipping_empty_cells():
    examples = {"keyword": ["fire", None, ""], "text": ["a b", "c", "d"], "n": [1, 2, 3], "empty": [float("nan")] * 3}
    assert join_text_columns(examples, ["keyword", "text"], "\n") == ["fire\na b", "c", "d"]
    assert join_text_columns(examples, ["text", "n"], " ") == ["a b 1", "c 2", "d 3"]
    assert join_text_columns(examples, ["empty", "text"], " ") == ["a b", "c", "d"]


def test_text_column_defaults_to_sentence_then_text():
    assert resolve_text_columns(None, ["sentence", "text", "label"], "f.csv") == ["sentence"]
    assert resolve_text_columns(None, ["id", "text", "label"], "f.csv") == ["text"]
    assert resolve_text_columns("title, body", ["title", "body"], "f.csv") == ["title", "body"]
    with pytest.raises(UserInputError, match="f.csv: no 'sentence' or 'text' column"):
        resolve_text_columns(None, ["review", "label"], "f.csv")


def test_head_tail_truncation_keeps_both_ends_and_the_special_tokens(minilm_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    texts = ["one two three four five six seven eight nine ten", "short"]
    encoding = tokenize(tokenizer, texts, max_length=8, tail_tokens=3)
    assert [tokenizer.decode(ids) for ids in encoding["input_ids"]] == [
        "[CLS] one two three eight nine ten [SEP]", "[CLS] short [SEP]"]
    assert [len(mask) for mask in encoding["attention_mask"]] == [8, 3]
    assert "special_tokens_mask" not in encoding
    head_only = tokenize(tokenizer, texts, max_length=8)
    assert tokenizer.decode(head_only["input_ids"][0]) == "[CLS] one two three four five six [SEP]"
    padded = tokenize(tokenizer, texts, max_length=8, tail_tokens=3, padding="max_length")
    assert padded["attention_mask"][1] == [1, 1, 1, 0, 0, 0, 0, 0]


def test_numeric_labels_sort_as_numbers():
    assert sort_labels({"10", "2", "1"}) == ["1", "2", "10"]
    assert sort_labels({"b", "a", "10"}) == ["10", "a", "b"]


def test_task_inference():
    floats = DatasetDict(train=Dataset.from_dict({"label": [0.5, 1.5]}))
    assert infer_problem_type(floats, ["train"], None) == REGRESSION
    assert infer_problem_type(floats, ["train"], False) == SINGLE_LABEL
    # An integer column with an empty cell is read as floats by pandas: still classes.
    gappy = DatasetDict(train=Dataset.from_dict({"label": [0.0, 1.0, None, 1.0]}))
    assert infer_problem_type(gappy, ["train"], None) == SINGLE_LABEL
    lists = DatasetDict(
        train=Dataset.from_dict({"label": [["a"], ["b", "c"]]}, features=Features({"label": List(Value("string"))}))
    )
    assert infer_problem_type(lists, ["train"], None) == MULTI_LABEL


def test_label_list_is_the_union_of_splits_without_missing_labels():
    raw = DatasetDict(
        train=Dataset.from_dict({"label": [1, 0, 1, -1]}),
        validation=Dataset.from_dict({"label": [2.0, None]}),
    )
    raw = normalize_labels(raw, SINGLE_LABEL, ["train", "validation"])
    assert raw["train"]["label"] == ["1", "0", "1", None]
    assert build_label_list(raw, SINGLE_LABEL, ["train", "validation"], {}) == ["0", "1", "2"]


def test_class_names_of_hub_datasets_are_kept():
    features = Features({"label": ClassLabel(names=["World", "Sports", "Business", "Sci/Tech"])})
    raw = DatasetDict(train=Dataset.from_dict({"label": [0, 1, 2, 3, 1]}, features=features))
    names = raw["train"].features["label"].names
    raw = normalize_labels(raw, SINGLE_LABEL, ["train"])
    assert raw["train"]["label"][:2] == ["World", "Sports"]
    assert build_label_list(raw, SINGLE_LABEL, ["train"], {}, names) == names


def test_one_class_is_an_error_naming_the_file():
    raw = normalize_labels(DatasetDict(train=Dataset.from_dict({"label": [1, 1]})), SINGLE_LABEL, ["train"])
    with pytest.raises(UserInputError, match="t.csv: classification needs at least two classes"):
        build_label_list(raw, SINGLE_LABEL, ["train"], {"train": "t.csv"})


def test_f1_averaging_follows_the_task():
    f1 = load_metric("f1", SINGLE_LABEL)
    assert metric_compute_kwargs(f1, SINGLE_LABEL, ["a", "b", "c"]) == {"average": "macro"}
    assert metric_compute_kwargs(f1, SINGLE_LABEL, ["a", "b"]) == {}
    assert metric_compute_kwargs(load_metric("f1", MULTI_LABEL), MULTI_LABEL, ["a", "b"]) == {"average": "micro"}
    assert metric_compute_kwargs(load_metric("accuracy", MULTI_LABEL), MULTI_LABEL, ["a", "b"]) == {}
    mcc = load_metric("matthews_correlation", MULTI_LABEL)
    assert metric_compute_kwargs(mcc, MULTI_LABEL, ["a", "b"]) == {"average": "macro"}


def test_standard_metric_names_resolve_locally():
    for name in ("accuracy", "f1", "precision", "recall", "matthews_correlation", "mse", "mae", "pearsonr", "spearmanr"):
        path, is_local = resolve_metric(name)
        assert is_local and path.endswith(f"local_metrics/{name}/{name}.py")
    assert resolve_metric("someone/custom_metric") == ("someone/custom_metric", False)
    with pytest.raises(UserInputError, match="no such metric script"):
        resolve_metric("metrics/mine.py")


def test_logits_to_predictions():
    logits = np.array([[0.1, 2.0], [3.0, -1.0]])
    assert logits_to_predictions(logits, SINGLE_LABEL).tolist() == [1, 0]
    assert logits_to_predictions(logits, MULTI_LABEL).tolist() == [[1, 1], [1, 0]]
    assert logits_to_predictions(np.array([[0.5], [1.5]]), REGRESSION).tolist() == [0.5, 1.5]


def test_installed_model_is_found_by_any_of_its_names():
    for name in ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", "minilm-l6"):
        model = resolve_model_name_or_path(name)
        assert model.is_local and model.display_name == "sentence-transformers/all-MiniLM-L6-v2"
    assert not resolve_model_name_or_path("bert-base-uncased").is_local


def test_legacy_arguments_are_translated():
    translate = translate_legacy_arguments
    assert translate(["--save_safetensors", "--do_train"]) == ["--do_train"]
    assert translate(["--save_safetensors", "True", "--do_train"]) == ["--do_train"]
    # --overwrite_output_dir means what it meant in transformers 4.x again (textclf/training/resume.py): passed on.
    assert translate(["--overwrite_output_dir", "True", "--do_train"]) == ["--overwrite_output_dir", "True", "--do_train"]
    assert translate(["--evaluation_strategy=epoch"]) == ["--eval_strategy=epoch"]
    assert translate(["--group_by_length"]) == ["--train_sampling_strategy", "group_by_length"]
    assert translate(["--group_by_length", "False", "--x"]) == ["--x"]
    assert translate(["--logging_dir", "logs", "--no_cuda"]) == ["--use_cpu"]


def test_gzipped_csv_is_read(tmp_path):
    with gzip.open(tmp_path / "train.csv.gz", "wt", encoding="utf-8") as file:
        file.write("text,label\nhello,1\nbye,0\n")
    assert load_data_file(str(tmp_path / "train.csv.gz"), "train")["text"] == ["hello", "bye"]


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = sentiment_rows(12, seed=0)
    write_csv(tmp_path / "train.csv", rows)
    write_csv(tmp_path / "one_class.csv", [dict(r, label="1") for r in rows])
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header_only.csv").write_text("text,label\n")
    (tmp_path / "train.txt").write_text("good\n")
    (tmp_path / "broken.json").write_text('{"text": "a", "label": 1}\n{"text": \n')
    return tmp_path


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--train_file", "missing.csv", "--do_train"], "--train_file missing.csv: no such file"),
        (["--train_file", "train.txt", "--do_train"], "train.txt: unsupported file type"),
        (["--train_file", "empty.csv", "--do_train"], "--train_file empty.csv: the file is empty"),
        (["--train_file", "header_only.csv", "--do_train"], "header_only.csv: no rows of data"),
        (["--train_file", "broken.json", "--do_train"], "broken.json: could not be read as JSON"),
        (["--train_file", "train.csv", "--label_column_name", "target", "--do_train"], "train.csv: no label column 'target'"),
        (["--train_file", "one_class.csv", "--do_train"], "one_class.csv: classification needs at least two classes"),
        (["--train_file", "train.csv", "--do_train", "--do_predict"], "--do_predict needs --test_file"),
        (["--do_train"], "pass --dataset_name, or data files"),
        (["--validation_file", "train.csv", "--do_eval"], "labels ['0', '1'] are not among the model's labels"),
        (["--train_file", "train.csv", "--do_train", "--do_eval", "--metric_name", "my/metric.py"],
         "--metric_name my/metric.py: no such metric script"),
    ],
)
def test_bad_input_gives_a_clear_error(data_dir, tiny_model, arguments, message, offline_mode_undone):
    with pytest.raises(UserInputError) as error:
        run_classification.main(["--model_name_or_path", str(tiny_model), "--output_dir", "out", *arguments])
    assert message in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("value, empty, blank, no_label, label_cell", [
    (None, True, True, True, True),
    (float("nan"), True, True, True, True),
    ("", True, True, False, True),
    ("  ", False, True, False, True),
    (-1, False, False, True, True),
    ("-1", False, False, False, True),
    ("0", False, False, False, False),
    (0, False, False, False, False),
])
def test_each_missing_value_rule_says_what_it_counts(value, empty, blank, no_label, label_cell):
    from textclf.missing import (
        is_none_nan_blank_or_no_label,
        is_none_nan_or_blank,
        is_none_nan_or_empty,
        is_none_nan_or_no_label,
    )

    assert is_none_nan_or_empty(value) is empty
    assert is_none_nan_or_blank(value) is blank
    assert is_none_nan_or_no_label(value) is no_label
    assert is_none_nan_blank_or_no_label(value) is label_cell


def test_texts_in_markdown_tables_stay_characters():
    from textclf.markdown import escape_markdown, table_cell

    assert escape_markdown("a **b** | c_d") == r"a \*\*b\*\* \| c\_d"
    assert table_cell("Redlands Blvd **Trfc Collision**\nhttp://t.co", 100) == r"Redlands Blvd \*\*Trfc Collision\*\* http://t.co"
    assert table_cell("abcdef", 4) == "abc…"
    assert table_cell("fire\x89Û_ now", 100, show_invisible=True) == r"fire\\x89Û\_ now"


def test_a_finished_process_leaves_its_process_group(tmp_path):
    # A process exiting with its Gloo group alive can abort after its work is done (SIGABRT).
    import torch.distributed as dist

    dist.init_process_group("gloo", store=dist.FileStore(str(tmp_path / "store"), 1), rank=0, world_size=1)
    try:
        leave_process_group()
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    leave_process_group()  # without a group: nothing to do


def test_a_run_info_written_before_problem_type_was_named_so_still_reads(tmp_path):
    """run_info.json called the problem type "task" until 0.19: runs and published Spaces made then still load."""
    import json

    from textclf.runs.folder import RUN_INFO, RunInfo

    (tmp_path / RUN_INFO).write_text(json.dumps({
        "model": "m", "task": "multi_label_classification", "labels": ["a", "b"], "metric": "f1",
        "text_columns": ["text"], "label_column": "label", "data": {}}))
    info = RunInfo.read(tmp_path)
    assert info.problem_type == "multi_label_classification"
    info.write(tmp_path)
    assert "task" not in json.loads((tmp_path / RUN_INFO).read_text())
