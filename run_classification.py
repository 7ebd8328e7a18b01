#!/usr/bin/env python
"""Fine-tune a pretrained transformer encoder for text classification.

The command line of transformers' `examples/pytorch/text-classification/run_classification.py`:
every argument with the same meaning and default, the same output files, so commands copied from
the Hugging Face docs work verbatim. Differences, all deliberate:
- padding is dynamic by default (`--pad_to_max_length False`): padding every example to
  `--max_seq_length` made the handout command about 25x slower on a 2-core CPU;
- it runs without network: installed offline models and our own metrics are found locally, and a
  hub model that cannot be reached fails at once with what to do;
- upstream bugs users hit are fixed (phantom `None` class from an unlabelled test file, list labels
  on datasets 5.x, f1 on more than two classes, `"\\n"` delimiters, ...), and bad input gets a
  one-line error instead of a traceback;
- an interrupted run continues where it stopped when the same command is run again: training from its
  last checkpoint (as transformers 4.x examples did; `--overwrite_output_dir` starts again), evaluation
  and prediction from their last saved chunk, without training again once training has finished.

Run `python run_classification.py --help` for every argument.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shlex
import sys
import time
from dataclasses import dataclass, field

import datasets
import transformers
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    HfArgumentParser,
    Trainer,
    TrainingArguments,
    default_data_collator,
    set_seed,
)
from transformers.trainer_utils import PredictionOutput

from textclf import UserInputError, exit_code_of
from textclf.data.labels import (
    LABEL,
    apply_class_names,
    build_label_list,
    encode_label,
    evaluation_split,
    every_row_labelled,
    infer_problem_type,
    labels_of_trained_model,
    problem_type_from_config,
    read_class_names,
    read_labels,
    rename_label_column,
)
from textclf.data.loading import (
    SPLIT_OPTIONS,
    join_text_columns,
    load_data_files,
    resolve_text_columns,
    source_of,
    unescape_delimiter,
)
from textclf.faults import kill_point
from textclf.models.offline import (
    ResolvedModel,
    enable_offline_mode,
    hub_is_reachable,
    hub_model_needs_network,
    resolve_model_name_or_path,
)
from textclf.problem_types import (
    MULTI_LABEL,
    REGRESSION,
    SINGLE_LABEL,
    prediction_names,
)
from textclf.reports.report import write_run_report
from textclf.runs.calibration import Calibration, measure_calibration, read_calibration, write_calibration
from textclf.runs.folder import (
    CALIBRATION,
    EVAL_PREDICTIONS,
    PREDICT_RESULTS,
    RUN_INFO,
    TEST_PREDICTIONS,
    RunInfo,
    begin_writing,
    keep_config_readable,
    script_settings_from_environment,
)
from textclf.runs.predictions import ID_COLUMN, write_logits, write_predict_results
from textclf.runs.progress import ResumePoint, clean_up_finished, mark_trained, plan_training
from textclf.tokenization import tokenize
from textclf.training.arguments import (
    bf16_needs_use_cpu,
    check_reporting_integrations,
    command_line_flags,
    distribute_over_cpu_processes_without_accelerator,
    translate_legacy_arguments,
)
from textclf.training.metrics import load_metric, make_compute_metrics, resolve_metric
from textclf.training.resume import ResumableTrainer, ResumableTrainingArguments, predict_in_chunks, resume_callbacks
from textclf.training.trainer import first_rows, freeze_lower_layers, leave_process_group, length_order, logits_only

logger = logging.getLogger(__name__)


@dataclass
class DataTrainingArguments:
    """Arguments pertaining to what data we are going to input our model for training and eval."""

    dataset_name: str | None = field(
        default=None, metadata={"help": "The name of the dataset to use (via the datasets library)."}
    )
    dataset_config_name: str | None = field(
        default=None, metadata={"help": "The configuration name of the dataset to use (via the datasets library)."}
    )
    do_regression: bool = field(
        default=None,
        metadata={
            "help": "Whether to do regression instead of classification. If None, will be inferred from the dataset."
        },
    )
    text_column_names: str | None = field(
        default=None,
        metadata={
            "help": (
                "The name of the text column in the input dataset or a CSV/JSON file; several names separated by "
                'commas are joined with --text_column_delimiter. If not specified, the "sentence" column is used '
                '(or "text" when there is no "sentence" column).'
            )
        },
    )
    text_column_delimiter: str | None = field(
        default=" ",
        metadata={
            "help": 'The delimiter to use to join text columns into a single sentence. Escapes such as "\\n" and '
            '"\\t" typed in a shell mean a newline and a tab.'
        },
    )
    train_split_name: str | None = field(
        default=None,
        metadata={
            "help": 'The name of the train split in the input dataset. If not specified, will use the "train" split when do_train is enabled'
        },
    )
    validation_split_name: str | None = field(
        default=None,
        metadata={
            "help": 'The name of the validation split in the input dataset. If not specified, will use the "validation" split when do_eval is enabled'
        },
    )
    test_split_name: str | None = field(
        default=None,
        metadata={
            "help": 'The name of the test split in the input dataset. If not specified, will use the "test" split when do_predict is enabled'
        },
    )
    remove_splits: str | None = field(
        default=None,
        metadata={"help": "The splits to remove from the dataset. Multiple splits should be separated by commas."},
    )
    remove_columns: str | None = field(
        default=None,
        metadata={"help": "The columns to remove from the dataset. Multiple columns should be separated by commas."},
    )
    label_column_name: str | None = field(
        default=None,
        metadata={
            "help": (
                "The name of the label column in the input dataset or a CSV/JSON file. "
                'If not specified, will use the "label" column for single/multi-label classification task'
            )
        },
    )
    max_seq_length: int = field(
        default=128,
        metadata={
            "help": (
                "The maximum total input sequence length after tokenization. Sequences longer "
                "than this will be truncated, sequences shorter will be padded."
            )
        },
    )
    truncation_tail_tokens: int | None = field(
        default=None,
        metadata={
            "help": (
                "Not upstream. Head+tail truncation: a text longer than max_seq_length keeps its last N tokens as "
                "well as its first ones (Sun et al., 2019: the best cut for long reviews such as IMDb's). "
                "0 cuts the end off, as upstream does. Default: the value the model was trained with when "
                "--model_name_or_path is a run of this script, else 0."
            )
        },
    )
    class_names: str | None = field(
        default=None,
        metadata={
            "help": (
                'Not upstream. Readable class names for the label values: a JSON object such as {"0": "not disaster", '
                '"1": "disaster"}, or the path of a JSON file holding one. Applied after the labels are read: '
                "config.json, the prediction files, the report and the demo show the names; submission.csv keeps the "
                "values. The class order stays that of the values. Default: the names of the run given as "
                "--model_name_or_path, else none. (Not --label_names: that is a Trainer argument.)"
            )
        },
    )
    calibrate_temperature: bool = field(
        default=False,
        metadata={
            "help": (
                "Not upstream. Temperature scaling: divide the logits by a temperature fitted on the validation "
                "predictions, so the probabilities of predictions.csv, submission.csv and the demo mean what they say. "
                "Measured (cross-fitted on validation folds, in calibration.json and report.md) on every evaluated "
                "run; this applies it. Needs --do_eval."
            )
        },
    )
    tune_threshold: bool = field(
        default=False,
        metadata={
            "help": (
                "Not upstream. Two classes: predict the second class (id 1) from the probability threshold that "
                "maximises --metric_name on the validation predictions (f1, accuracy or matthews_correlation; "
                "otherwise f1) instead of 0.5. Cross-fitted like --calibrate_temperature. Needs --do_eval."
            )
        },
    )
    preprocessing_num_workers: int | None = field(
        default=None,
        metadata={"help": "The number of processes to use for the preprocessing."},
    )
    overwrite_cache: bool = field(
        default=False, metadata={"help": "Overwrite the cached preprocessed datasets or not."}
    )
    pad_to_max_length: bool = field(
        default=False,
        metadata={
            "help": (
                "Whether to pad all samples to `max_seq_length`. If False (the default here; upstream defaults to "
                "True), will pad the samples dynamically when batching to the maximum length in the batch, which is "
                "many times faster on a CPU."
            )
        },
    )
    shuffle_train_dataset: bool = field(
        default=False, metadata={"help": "Whether to shuffle the train dataset or not."}
    )
    shuffle_seed: int = field(
        default=42, metadata={"help": "Random seed that will be used to shuffle the train dataset."}
    )
    max_train_samples: int | None = field(
        default=None,
        metadata={
            "help": (
                "For debugging purposes or quicker training, truncate the number of training examples to this "
                "value if set."
            )
        },
    )
    max_eval_samples: int | None = field(
        default=None,
        metadata={
            "help": (
                "For debugging purposes or quicker training, truncate the number of evaluation examples to this "
                "value if set."
            )
        },
    )
    max_predict_samples: int | None = field(
        default=None,
        metadata={
            "help": (
                "For debugging purposes or quicker training, truncate the number of prediction examples to this "
                "value if set."
            )
        },
    )
    metric_name: str | None = field(
        default=None,
        metadata={
            "help": "The metric to use for evaluation: a standard name (accuracy, f1, precision, recall, "
            "matthews_correlation, mse, mae, pearsonr, spearmanr: our offline modules in local_metrics/), or a "
            "path to an evaluate metric script or folder."
        },
    )
    train_file: str | None = field(
        default=None, metadata={"help": "A csv or a json file containing the training data."}
    )
    validation_file: str | None = field(
        default=None, metadata={"help": "A csv or a json file containing the validation data."}
    )
    test_file: str | None = field(default=None, metadata={"help": "A csv or a json file containing the test data."})

    def __post_init__(self):
        if self.dataset_name is None and not (self.train_file or self.validation_file or self.test_file):
            raise UserInputError("pass --dataset_name, or data files: --train_file, --validation_file, --test_file")
        if self.text_column_delimiter is not None:
            self.text_column_delimiter = unescape_delimiter(self.text_column_delimiter)

    def data_files(self) -> dict[str, str]:
        files = {"train": self.train_file, "validation": self.validation_file, "test": self.test_file}
        return {split: path for split, path in files.items() if path is not None}


@dataclass
class ModelArguments:
    """Arguments pertaining to which model/config/tokenizer we are going to fine-tune from."""

    model_name_or_path: str = field(
        metadata={
            "help": "Path to pretrained model, model identifier from huggingface.co/models, or the name of an "
            "installed offline model (all-MiniLM-L6-v2)"
        }
    )
    config_name: str | None = field(
        default=None, metadata={"help": "Pretrained config name or path if not the same as model_name"}
    )
    tokenizer_name: str | None = field(
        default=None, metadata={"help": "Pretrained tokenizer name or path if not the same as model_name"}
    )
    cache_dir: str | None = field(
        default=None,
        metadata={"help": "Where do you want to store the pretrained models downloaded from huggingface.co"},
    )
    use_fast_tokenizer: bool = field(
        default=True,
        metadata={"help": "Whether to use one of the fast tokenizer (backed by the tokenizers library) or not."},
    )
    model_revision: str = field(
        default="main",
        metadata={"help": "The specific model version to use (can be a branch name, tag name or commit id)."},
    )
    token: str = field(
        default=None,
        metadata={
            "help": (
                "The token to use as HTTP bearer authorization for remote files. If not specified, will use the token "
                "generated when running `hf auth login` (stored in `~/.huggingface`)."
            )
        },
    )
    trust_remote_code: bool = field(
        default=False,
        metadata={
            "help": (
                "Whether to trust the execution of code from datasets/models defined on the Hub."
                " This option should only be set to `True` for repositories you trust and in which you have read the"
                " code, as it will execute code present on the Hub on your local machine."
            )
        },
    )
    ignore_mismatched_sizes: bool = field(
        default=False,
        metadata={"help": "Will enable to load a pretrained model whose head dimensions are different."},
    )
    freeze_lower_layers: int | None = field(
        default=None,
        metadata={
            "help": (
                "Not upstream. Train without changing the embeddings and the lowest N transformer layers (0: only "
                "the embeddings). Backpropagation stops above them, so a training step costs less (bench/RESULTS.md); "
                "default: train every parameter."
            )
        },
    )


# The metric when --metric_name is not given, as upstream.
DEFAULT_METRICS = {REGRESSION: "mse", MULTI_LABEL: "f1", SINGLE_LABEL: "accuracy"}


def parse_arguments(argv: list[str]) -> tuple[ModelArguments, DataTrainingArguments, ResumableTrainingArguments]:
    distribute_over_cpu_processes_without_accelerator()
    parser = HfArgumentParser((ModelArguments, DataTrainingArguments, ResumableTrainingArguments))
    if len(argv) == 1 and argv[0].endswith(".json"):
        # A single .json argument holds all the arguments.
        if not os.path.isfile(argv[0]):
            raise UserInputError(f"{argv[0]}: no such arguments file")
        try:
            with open(argv[0], encoding="utf-8") as arguments_file:
                arguments = json.load(arguments_file)
        except json.JSONDecodeError as error:
            raise UserInputError(f"{argv[0]}: not valid JSON ({error})") from None
        if bf16_needs_use_cpu(arguments):
            arguments["use_cpu"] = True
        return parser.parse_dict(arguments)
    argv = translate_legacy_arguments(argv)
    if bf16_needs_use_cpu(command_line_flags(argv)):
        argv = [*argv, "--use_cpu", "True"]
    return parser.parse_args_into_dataclasses(args=argv)


def setup_logging(training_args: TrainingArguments) -> None:
    logging.basicConfig(
        format="%(asctime)s - %(levelname)s - %(name)s - %(message)s",
        datefmt="%m/%d/%Y %H:%M:%S",
        handlers=[logging.StreamHandler(sys.stdout)],
    )
    if training_args.should_log:
        # The default of training_args.log_level is passive, so we set log level at info here to have that default.
        transformers.utils.logging.set_verbosity_info()
    log_level = training_args.get_process_log_level()
    for name in ("__main__", "textclf"):
        logging.getLogger(name).setLevel(log_level)
    datasets.utils.logging.set_verbosity(log_level)
    transformers.utils.logging.set_verbosity(log_level)
    transformers.utils.logging.enable_default_handler()
    transformers.utils.logging.enable_explicit_format()
    # transformers lets its records reach the root logger too where CI=true is set (GitHub Actions, our CI):
    # with the root handler above, every line of the Trainer's was printed twice there.
    transformers.utils.logging.disable_propagation()


def resolve_models(model_args: ModelArguments) -> tuple[ResolvedModel, ResolvedModel, ResolvedModel]:
    """Model, config and tokenizer sources: local directories where they exist, else hub ids."""
    model = resolve_model_name_or_path(model_args.model_name_or_path)
    config = resolve_model_name_or_path(model_args.config_name) if model_args.config_name else model
    tokenizer = resolve_model_name_or_path(model_args.tokenizer_name) if model_args.tokenizer_name else model
    return model, config, tokenizer


def stay_offline_unless_needed(model_args: ModelArguments, data_args: DataTrainingArguments,
                               sources: tuple[ResolvedModel, ...]) -> None:
    """Switch the hub libraries offline when the models, the data and the metric are all local."""
    needs_network = False
    for option, source in zip(("--model_name_or_path", "--config_name", "--tokenizer_name"), sources):
        if not source.is_local:
            needs_network |= hub_model_needs_network(source, model_args.cache_dir, model_args.model_revision, option)
    if data_args.dataset_name is not None and not os.path.exists(data_args.dataset_name):
        needs_network |= hub_is_reachable()
    if data_args.metric_name is not None:
        needs_network |= not resolve_metric(data_args.metric_name)[1]
    if not needs_network:
        enable_offline_mode()


def load_raw_datasets(model_args: ModelArguments, data_args: DataTrainingArguments) -> datasets.DatasetDict:
    """The data files given, or a dataset from the hub (upstream's two ways)."""
    if data_args.dataset_name is None:
        return load_data_files(data_args.data_files(), cache_dir=model_args.cache_dir)
    try:
        raw_datasets = datasets.load_dataset(
            data_args.dataset_name,
            data_args.dataset_config_name,
            cache_dir=model_args.cache_dir,
            token=model_args.token,
        )
    except (ConnectionError, FileNotFoundError, ValueError) as error:
        raise UserInputError(f"--dataset_name {data_args.dataset_name}: could not be loaded ({error})") from error
    logger.info("Dataset loaded: %s", raw_datasets)
    return raw_datasets


def arrange_splits(raw_datasets: datasets.DatasetDict, data_args: DataTrainingArguments) -> datasets.DatasetDict:
    """Upstream's split and column options: remove, rename to train/validation/test, drop columns."""
    if data_args.remove_splits is not None:
        for split in data_args.remove_splits.split(","):
            logger.info("removing split %s", split)
            raw_datasets.pop(split)
    for role, name in (
        ("train", data_args.train_split_name),
        ("validation", data_args.validation_split_name),
        ("test", data_args.test_split_name),
    ):
        if name is not None:
            if name not in raw_datasets:
                raise UserInputError(f"no split {name!r}; splits are: {', '.join(raw_datasets)}")
            logger.info("using %s as %s set", name, role)
            raw_datasets[role] = raw_datasets.pop(name)
    if data_args.remove_columns is not None:
        for split in raw_datasets:
            columns = [c for c in data_args.remove_columns.split(",") if c in raw_datasets[split].column_names]
            raw_datasets[split] = raw_datasets[split].remove_columns(columns)
    return raw_datasets


def check_splits_and_text_columns(raw_datasets: datasets.DatasetDict, data_args: DataTrainingArguments,
                                  training_args: TrainingArguments, sources: dict[str, str]) -> list[str]:
    """The splits the run needs exist, and every split has the text columns; returns the columns.

    Checked before anything heavy is loaded."""
    for option, split, needed in (
        ("--do_train", "train", training_args.do_train),
        ("--do_predict", "test", training_args.do_predict),
    ):
        if needed and split not in raw_datasets:
            raise UserInputError(f"{option} needs {SPLIT_OPTIONS[split]} (or a dataset with a {split!r} split)")
    first_split = next(iter(raw_datasets))
    text_columns = resolve_text_columns(
        data_args.text_column_names, raw_datasets[first_split].column_names, sources[first_split]
    )
    for split in raw_datasets:
        resolve_text_columns(",".join(text_columns), raw_datasets[split].column_names, sources[split])
    return text_columns


def decide_labels(raw_datasets: datasets.DatasetDict, data_args: DataTrainingArguments, do_train: bool, config,
                  sources: dict[str, str], names_of_values: dict[str, str] | None = None,
                  ) -> tuple[datasets.DatasetDict, str, list[str] | None, list[str]]:
    """The problem_type, the class list (None for regression) and the splits that have labels.

    Training takes the classes from the data; a trained model predicting or evaluating keeps its own.
    `names_of_values` (--class_names) renames label values of the data.
    """
    labelled_splits = rename_label_column(raw_datasets, data_args.label_column_name, sources)
    if labelled_splits:
        problem_type = infer_problem_type(raw_datasets, labelled_splits, data_args.do_regression)
        raw_datasets, class_names = read_labels(raw_datasets, problem_type, labelled_splits, sources)
        raw_datasets, class_names = apply_class_names(raw_datasets, problem_type, labelled_splits, names_of_values or {},
                                                      class_names)
    else:
        problem_type, class_names = problem_type_from_config(config), None
    if problem_type == REGRESSION:
        label_list = None
    elif do_train:
        label_list = build_label_list(raw_datasets, problem_type, labelled_splits, sources, class_names)
    else:
        label_list = labels_of_trained_model(config, raw_datasets, problem_type, labelled_splits, sources)
    config.num_labels = 1 if label_list is None else len(label_list)
    config.problem_type = problem_type
    logger.info("setting problem type to %s", problem_type.replace("_", " "))
    if label_list is not None:
        config.label2id = {label: i for i, label in enumerate(label_list)}
        config.id2label = {i: label for i, label in enumerate(label_list)}
        logger.info("Labels: %s", config.id2label)
    return raw_datasets, problem_type, label_list, labelled_splits


def is_run(model_source: ResolvedModel) -> bool:
    """Whether --model_name_or_path is a run of this script (or of another trainer of this toolkit)."""
    return os.path.isfile(os.path.join(model_source.path, RUN_INFO))


def truncation_tail_tokens(data_args: DataTrainingArguments, model_source: ResolvedModel) -> int:
    """--truncation_tail_tokens, else as the run given as --model_name_or_path was trained, else 0."""
    if data_args.truncation_tail_tokens is not None:
        return data_args.truncation_tail_tokens
    from_run = is_run(model_source)
    tail_tokens = RunInfo.read(model_source.path).truncation_tail_tokens if from_run else 0
    logger.info("--truncation_tail_tokens %d (%s)", tail_tokens, "as the run was trained" if from_run else "default")
    return tail_tokens


def class_names_of(data_args: DataTrainingArguments, model_source: ResolvedModel, do_train: bool) -> dict[str, str]:
    """--class_names, else (predicting or evaluating only) the names of the run given as --model_name_or_path."""
    if data_args.class_names is not None:
        return read_class_names(data_args.class_names)
    return RunInfo.read(model_source.path).class_names if is_run(model_source) and not do_train else {}


def decide_calibration(data_args: DataTrainingArguments, training_args: TrainingArguments, model_source: ResolvedModel,
                       problem_type: str, label_list: list[str] | None, metric_name: str,
                       evaluation: PredictionOutput | None) -> tuple[Calibration, dict | None]:
    """What the test predictions apply, and the calibration.json to write (None: none).

    Without training, the run given as --model_name_or_path keeps the calibration it has. Otherwise it
    is measured on the validation predictions of a single-label run, and applied if asked.
    """
    inherited = os.path.join(model_source.path, CALIBRATION)
    if not training_args.do_train and os.path.isfile(inherited):
        logger.info("Using the calibration of %s (%s)", model_source.path, CALIBRATION)
        return Calibration.applied_in(model_source.path), read_calibration(model_source.path)
    asked = data_args.calibrate_temperature or data_args.tune_threshold
    if evaluation is None or problem_type != SINGLE_LABEL:
        if asked:
            logger.warning("--calibrate_temperature and --tune_threshold need --do_eval on single-label classification: "
                           "nothing is applied")
        return Calibration(), None
    content = measure_calibration(evaluation.predictions, evaluation.label_ids, label_list, metric_name,
                                  training_args.seed, data_args.calibrate_temperature, data_args.tune_threshold)
    return (Calibration.applied_by(content), content) if content else (Calibration(), None)


def write_predictions(trainer: Trainer, path: str, prediction: PredictionOutput, dataset: datasets.Dataset,
                      problem_type: str, scored: bool, calibration: Calibration = Calibration()) -> list:
    """The table of one split's predictions (id, label when scored, prediction, probabilities), with
    the run's calibration applied (none for the validation rows it was measured on); returns the
    predicted names."""
    id2label = trainer.model.config.id2label
    if not trainer.is_world_process_zero():  # results are written once, by rank 0
        return prediction_names(calibration.predictions(prediction.predictions, problem_type), problem_type, id2label)
    ids = dataset[ID_COLUMN] if ID_COLUMN in dataset.column_names else None
    return write_logits(path, prediction.predictions, problem_type, id2label, ids, prediction.label_ids if scored else None,
                        calibration)


def hub_options(model_args: ModelArguments) -> dict:
    """The options every from_pretrained call of the run takes, as upstream passes them."""
    return {
        "cache_dir": model_args.cache_dir,
        "revision": model_args.model_revision,
        "token": model_args.token,
        "trust_remote_code": model_args.trust_remote_code,
    }


def capped_max_seq_length(data_args: DataTrainingArguments, tokenizer) -> int:
    """--max_seq_length, at most what the model takes."""
    if data_args.max_seq_length > tokenizer.model_max_length:
        logger.warning(
            f"The max_seq_length passed ({data_args.max_seq_length}) is larger than the maximum length for the "
            f"model ({tokenizer.model_max_length}). Using max_seq_length={tokenizer.model_max_length}."
        )
    return min(data_args.max_seq_length, tokenizer.model_max_length)


def tokenize_splits(raw_datasets: datasets.DatasetDict, tokenizer, data_args: DataTrainingArguments,
                    training_args: TrainingArguments, text_columns: list[str], problem_type: str, label_to_id: dict | None,
                    max_seq_length: int, tail_tokens: int) -> datasets.DatasetDict:
    """Every split tokenized (padded to max_seq_length only with --pad_to_max_length), labels as ids."""
    padding = "max_length" if data_args.pad_to_max_length else False

    def preprocess_function(examples):
        texts = join_text_columns(examples, text_columns, data_args.text_column_delimiter)
        result = tokenize(tokenizer, texts, max_seq_length, tail_tokens, padding)
        if label_to_id is not None and LABEL in examples:
            result[LABEL] = [encode_label(label, label_to_id, problem_type) for label in examples[LABEL]]
        return result

    with training_args.main_process_first(desc="dataset map pre-processing"):
        return raw_datasets.map(
            preprocess_function,
            batched=True,
            num_proc=data_args.preprocessing_num_workers,
            load_from_cache_file=not data_args.overwrite_cache,
            desc="Running tokenizer on dataset",
        )


@dataclass
class RunDatasets:
    """The rows the run trains on, evaluates and predicts (None: not asked for)."""

    train: datasets.Dataset | None = None
    evaluation: datasets.Dataset | None = None
    test: datasets.Dataset | None = None


def select_datasets(tokenized: datasets.DatasetDict, data_args: DataTrainingArguments,
                    training_args: TrainingArguments, labelled_splits: list[str]) -> RunDatasets:
    """The splits the --do_* flags ask for, shuffled and cut as the --max_*_samples options say."""
    selected = RunDatasets()
    if training_args.do_train:
        train_dataset = tokenized["train"]
        if data_args.shuffle_train_dataset:
            logger.info("Shuffling the training dataset")
            train_dataset = train_dataset.shuffle(seed=data_args.shuffle_seed)
        selected.train = first_rows(train_dataset, data_args.max_train_samples)
        for index in random.sample(range(len(selected.train)), min(3, len(selected.train))):
            logger.info(f"Sample {index} of the training set: {selected.train[index]}.")
    if training_args.do_eval:
        selected.evaluation = first_rows(evaluation_split(tokenized, labelled_splits), data_args.max_eval_samples)
    if training_args.do_predict:
        selected.test = first_rows(tokenized["test"], data_args.max_predict_samples)
    return selected


def make_data_collator(data_args: DataTrainingArguments, training_args: TrainingArguments, tokenizer):
    """Dynamic padding unless everything is already padded to max_seq_length."""
    if data_args.pad_to_max_length:
        return default_data_collator
    pad_to_multiple_of = 8 if training_args.fp16 or training_args.bf16 else None
    return DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_to_multiple_of)


def train_and_save(trainer: Trainer, train_dataset: datasets.Dataset, resume: ResumePoint, settings: dict) -> None:
    """Train (from `resume.checkpoint` if any), save the model, its metrics and state, and mark it trained."""
    output_dir = trainer.args.output_dir
    train_result = trainer.train(resume_from_checkpoint=resume.checkpoint)
    metrics = train_result.metrics
    metrics["train_samples"] = len(train_dataset)
    trainer.save_model()  # Saves the tokenizer too for easy upload
    if trainer.is_world_process_zero():
        keep_config_readable(output_dir)
    trainer.log_metrics("train", metrics)
    trainer.save_metrics("train", metrics)
    trainer.save_state()
    kill_point("train:saved")
    if trainer.is_world_process_zero():
        mark_trained(output_dir, settings)  # a rerun now goes straight to evaluation and prediction
    kill_point("train:trained")


def evaluate_and_write(trainer: Trainer, eval_dataset: datasets.Dataset, problem_type: str, model_dir: str) -> PredictionOutput:
    """Validation metrics and predictions (eval_predictions.csv), in resumable chunks."""
    logger.info("*** Evaluate ***")
    output_dir = trainer.args.output_dir
    # predict() rather than evaluate(): the same metrics, and the predictions for the report.
    evaluation = predict_in_chunks(trainer, eval_dataset, "eval", output_dir, trainer.args.prediction_chunk_rows, model_dir)
    metrics = evaluation.metrics
    metrics["eval_samples"] = len(eval_dataset)
    trainer.log(metrics)
    trainer.log_metrics("eval", metrics)
    trainer.save_metrics("eval", metrics)
    write_predictions(trainer, os.path.join(output_dir, EVAL_PREDICTIONS), evaluation, eval_dataset, problem_type, scored=True)
    return evaluation


def predict_and_write(trainer: Trainer, predict_dataset: datasets.Dataset, problem_type: str, model_dir: str,
            calibration: Calibration) -> int:
    """Test predictions (predictions.csv, predict_results.txt), scored when every row has a label;
    returns the number of rows predicted."""
    logger.info("*** Predict ***")
    output_dir = trainer.args.output_dir
    # A test file with a label on every row (IMDB's official test split) is scored too.
    test_is_scored = LABEL in predict_dataset.features and every_row_labelled(predict_dataset, problem_type)
    if LABEL in predict_dataset.features and not test_is_scored:
        predict_dataset = predict_dataset.remove_columns(LABEL)
    prediction = predict_in_chunks(trainer, predict_dataset, "test", output_dir, trainer.args.prediction_chunk_rows,
                                   model_dir)
    if test_is_scored:
        metrics = prediction.metrics
        metrics["test_samples"] = len(predict_dataset)
        trainer.log_metrics("test", metrics)
        trainer.save_metrics("test", metrics)
    names = write_predictions(trainer, os.path.join(output_dir, TEST_PREDICTIONS), prediction, predict_dataset, problem_type,
                              scored=test_is_scored, calibration=calibration)
    if trainer.is_world_process_zero():
        output_predict_file = os.path.join(output_dir, PREDICT_RESULTS)
        write_predict_results(output_predict_file, names, problem_type)
        logger.info(f"Predict results saved at {output_predict_file} ({len(names)} rows)")
    return len(names)


def write_model_card(trainer: Trainer, model_source: ResolvedModel) -> None:
    """README.md of the run (pushed with the model under --push_to_hub), as upstream writes it."""
    kwargs = {"finetuned_from": model_source.display_name, "tasks": "text-classification"}
    if model_source.license:
        kwargs["license"] = model_source.license
    if trainer.args.push_to_hub:
        trainer.push_to_hub(**kwargs)
    else:
        trainer.create_model_card(**kwargs)


def main(argv: list[str] | None = None) -> None:
    started = time.monotonic()
    arguments = sys.argv[1:] if argv is None else argv
    model_args, data_args, training_args = parse_arguments(arguments)
    check_reporting_integrations(training_args.report_to)
    setup_logging(training_args)
    logger.warning(
        f"Process rank: {training_args.local_process_index}, device: {training_args.device}, n_gpu: {training_args.n_gpu}, "
        f"distributed training: {training_args.parallel_mode.value == 'distributed'}, 16-bits training: {training_args.fp16}"
    )
    logger.info(f"Training/evaluation parameters {training_args}")
    set_seed(training_args.seed)

    # Find the model and metric locally where possible; without anything to download, stay offline.
    model_source, config_source, tokenizer_source = resolve_models(model_args)
    stay_offline_unless_needed(model_args, data_args, (model_source, config_source, tokenizer_source))

    # Load the data: each file on its own, so a test file without labels adds no phantom class.
    with training_args.main_process_first(desc="loading the data"):
        raw_datasets = arrange_splits(load_raw_datasets(model_args, data_args), data_args)
    sources = {split: source_of(split, data_args.data_files()) for split in raw_datasets}
    text_columns = check_splits_and_text_columns(raw_datasets, data_args, training_args, sources)

    # Labels: which problem type, which classes.
    config = AutoConfig.from_pretrained(config_source.path, **hub_options(model_args))
    class_names = class_names_of(data_args, model_source, training_args.do_train)
    raw_datasets, problem_type, label_list, labelled_splits = decide_labels(
        raw_datasets, data_args, training_args.do_train, config, sources, class_names
    )
    metric_name = data_args.metric_name or DEFAULT_METRICS[problem_type]
    metric = load_metric(metric_name, problem_type, cache_dir=model_args.cache_dir)

    tokenizer = AutoTokenizer.from_pretrained(
        tokenizer_source.path, use_fast=model_args.use_fast_tokenizer, **hub_options(model_args)
    )

    # Where training starts: from scratch, from the last checkpoint, or not at all (textclf/runs/progress.py).
    output_dir = training_args.output_dir
    settings = training_settings(model_args, data_args, training_args, text_columns)
    resume = ResumePoint()
    with training_args.main_process_first(desc="finding where to resume"):
        if training_args.do_train:
            resume = plan_training(output_dir, settings, training_args.overwrite_output_dir,
                                   training_args.resume_from_checkpoint, training_args.should_save)
        if training_args.should_save:
            begin_writing(output_dir)
    # The model that evaluates and predicts: trained here, or trained by the interrupted run.
    trained_model_dir = output_dir if training_args.do_train else model_source.path
    model = AutoModelForSequenceClassification.from_pretrained(
        output_dir if resume.trained else model_source.path,
        config=config,
        ignore_mismatched_sizes=model_args.ignore_mismatched_sizes,
        **hub_options(model_args),
    )
    if training_args.do_train and model_args.freeze_lower_layers is not None:
        frozen = freeze_lower_layers(model, model_args.freeze_lower_layers)
        logger.info("Froze %d of %d parameters: the embeddings and the lowest %d layers", frozen,
                    model.num_parameters(), model_args.freeze_lower_layers)

    # Tokenize, and take the rows each stage asks for.
    max_seq_length = capped_max_seq_length(data_args, tokenizer)
    tail_tokens = truncation_tail_tokens(data_args, model_source)
    label_to_id = None if label_list is None else config.label2id
    tokenized = tokenize_splits(raw_datasets, tokenizer, data_args, training_args, text_columns, problem_type, label_to_id,
                                max_seq_length, tail_tokens)
    run_data = select_datasets(tokenized, data_args, training_args, labelled_splits)

    trainer = ResumableTrainer(
        model=model,
        args=training_args,
        train_dataset=run_data.train,
        # Evaluation during training reports metrics only: longest rows first, which barely pad.
        eval_dataset=None if run_data.evaluation is None else run_data.evaluation.select(length_order(run_data.evaluation)),
        compute_metrics=make_compute_metrics(metric, problem_type, label_list),
        preprocess_logits_for_metrics=logits_only,
        processing_class=tokenizer,
        data_collator=make_data_collator(data_args, training_args, tokenizer),
        callbacks=resume_callbacks(training_args, resume.checkpoint),
    )

    if training_args.do_train and not resume.trained:
        train_and_save(trainer, run_data.train, resume, settings)

    evaluation = None
    if training_args.do_eval:
        evaluation = evaluate_and_write(trainer, run_data.evaluation, problem_type, trained_model_dir)
    calibration, calibration_record = decide_calibration(data_args, training_args, model_source, problem_type, label_list,
                                                         metric_name, evaluation)
    if calibration_record is not None and trainer.is_world_process_zero():
        write_calibration(output_dir, calibration_record)

    if training_args.do_predict:
        predict_and_write(trainer, run_data.test, problem_type, trained_model_dir, calibration)

    write_model_card(trainer, model_source)
    leave_process_group()  # the last collective is behind us; what follows is the main process writing files

    # The run's record and report, then the mark that it is finished: its very last write.
    if trainer.is_world_process_zero():
        info = RunInfo(
            model=model_source.display_name,
            model_path=model_source.path,
            parameters=model.num_parameters(),
            problem_type=problem_type,
            labels=label_list,
            metric=metric_name,
            text_columns=text_columns,
            label_column=data_args.label_column_name or LABEL,
            data={
                role: {"file": sources.get(role, sources.get("test")), "rows": dataset.num_rows}
                for role, dataset in (("train", run_data.train), ("validation", run_data.evaluation),
                                      ("test", run_data.test))
                if dataset is not None
            },
            hyperparameters=run_hyperparameters(data_args, training_args, max_seq_length, tail_tokens,
                                                model_args.freeze_lower_layers),
            device=str(training_args.device) + (f" x {training_args.world_size}" if training_args.world_size > 1 else ""),
            wall_time_seconds=round(time.monotonic() - started, 1),
            command=shlex.join(["python", "run_classification.py", *arguments]),
            class_names=class_names,
            finished=False,  # the report reads it; marked finished once everything else is written
            resumed_from=resume.description,
            script_settings=script_settings_from_environment(),
        )
        info.write(output_dir)
        write_run_report(output_dir)
        kill_point("report:written")
        clean_up_finished(output_dir, keep_checkpoints=training_args.keep_checkpoints or not training_args.do_train)
        info.write_finished(output_dir)


def training_settings(model_args: ModelArguments, data_args: DataTrainingArguments, training_args: TrainingArguments,
                      text_columns: list[str]) -> dict:
    """What an interrupted training may only be continued with: the same model, data and hyperparameters (as given)."""
    return {
        "model_name_or_path": model_args.model_name_or_path,
        "train_file": data_args.train_file,
        "dataset_name": data_args.dataset_name,
        "dataset_config_name": data_args.dataset_config_name,
        "text_columns": text_columns,
        "label_column_name": data_args.label_column_name,
        "shuffle_train_dataset": data_args.shuffle_train_dataset,
        "shuffle_seed": data_args.shuffle_seed,
        "max_steps": training_args.max_steps,
        **run_hyperparameters(data_args, training_args, data_args.max_seq_length, data_args.truncation_tail_tokens,
                              model_args.freeze_lower_layers),
    }


def run_hyperparameters(data_args: DataTrainingArguments, training_args: TrainingArguments, max_seq_length: int,
                        tail_tokens: int, frozen_layers: int | None) -> dict:
    """The settings a reader of the report needs to reproduce or compare the run."""
    return {
        "num_train_epochs": training_args.num_train_epochs,
        "learning_rate": training_args.learning_rate,
        "per_device_train_batch_size": training_args.per_device_train_batch_size,
        "gradient_accumulation_steps": training_args.gradient_accumulation_steps,
        "max_seq_length": max_seq_length,
        "truncation_tail_tokens": tail_tokens,
        "freeze_lower_layers": frozen_layers,
        "padding": "max_length" if data_args.pad_to_max_length else "dynamic",
        "weight_decay": training_args.weight_decay,
        "warmup_steps": training_args.warmup_steps,
        "lr_scheduler_type": getattr(training_args.lr_scheduler_type, "value", training_args.lr_scheduler_type),
        "train_sampling_strategy": training_args.train_sampling_strategy,
        "bf16": training_args.bf16,
        "fp16": training_args.fp16,
        "optim": getattr(training_args.optim, "value", training_args.optim),
        "max_train_samples": data_args.max_train_samples,
        "seed": training_args.seed,
    }


def cli() -> int:
    """Entry point: problems with the user's input become one `error:` line and exit code 2."""
    return exit_code_of(main, interrupted_hint="; run the same command again to continue where it stopped")


def _mp_fn(index):
    # For xla_spawn (TPUs)
    main()


if __name__ == "__main__":
    sys.exit(cli())
