"""The batch prediction on Ray Data (predict.py --ray), for more rows than one machine serves.

Ray Data reads the input in blocks on the cluster, one Predictor per actor (one core each, so a node
runs as many side by side as it has cores) classifies them with the same function as the
single-machine command (textclf.serving.batch.prediction_table), and the cluster writes the output: a
folder of CSV files, one or more per block, each with a header. Every node needs the toolkit and its
packages (the same environment) and must see the run folder and the input at the same paths (a shared
file system), or pass `runtime_env` in your own script.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pandas as pd

from textclf import UserInputError
from textclf.serving.batch import BATCH_SIZE, BatchJob, prediction_table, texts_of
from textclf.tables import file_format, one_line

logger = logging.getLogger(__name__)

LOCAL = "local"  # --ray local: start a Ray instance on this machine for this command, stop it after


class RunPredictor:
    """A Ray Data actor: the run's Predictor loaded once, then one block of rows at a time."""

    def __init__(self, run_dir: str, variant: str, text_columns: list[str], batch_size: int):
        from textclf.serving.predictor import Predictor

        self.predictor = Predictor.from_run(run_dir, variant)
        self.text_columns = text_columns
        self.batch_size = batch_size

    def __call__(self, block: pd.DataFrame) -> pd.DataFrame:
        return prediction_table(self.predictor, block, texts_of(block, self.text_columns), workers=1,
                                batch_size=self.batch_size)


def read_dataset(path: Path):
    """The input as a Ray Dataset, CSV cells as strings (as the single-machine command reads them)."""
    import pyarrow as pa
    import pyarrow.csv
    import ray.data

    builder, options = file_format(path)
    if builder != "csv":
        return ray.data.read_json(str(path), lines=True)
    delimiter = options.get("delimiter", ",")
    header = pd.read_csv(path, sep=delimiter, nrows=0, encoding="utf-8-sig")
    return ray.data.read_csv(
        str(path),
        parse_options=pyarrow.csv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        convert_options=pyarrow.csv.ConvertOptions(column_types={name: pa.string() for name in header.columns},
                                                   strings_can_be_null=False),
    )


def predict_on_ray(job: BatchJob, served_variant: str, address: str, actors: int, batch_size: int = BATCH_SIZE) -> int:
    """Predict the job's input on the Ray cluster at `address` (LOCAL: one started here) into the
    folder `job.output_path`, written under a temporary name and renamed when complete; returns the rows."""
    import ray

    output = Path(job.output_path)
    temporary = output.with_name(f".{output.name}.tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    try:
        if address == LOCAL:  # one CPU slot more than actors: Ray Data's read and write tasks need one too,
            # and actors holding every slot wait forever for the rows those tasks would read (mostly I/O)
            ray.init(num_cpus=actors + 1, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    except (ConnectionError, ValueError, RuntimeError) as error:
        raise UserInputError(f"cannot reach the Ray cluster at {address} ({one_line(error)})") from None
    try:
        dataset = read_dataset(Path(job.input_path)).map_batches(
            RunPredictor,
            fn_constructor_kwargs={"run_dir": os.path.abspath(job.run_dir), "variant": served_variant,
                                   "text_columns": job.text_columns, "batch_size": batch_size},
            batch_size=job.chunk_rows, batch_format="pandas", compute=ray.data.ActorPoolStrategy(min_size=1, max_size=actors),
            num_cpus=1,
        )
        dataset.write_csv(str(temporary.resolve()))
        rows = sum(len(pd.read_csv(part, usecols=[0])) for part in temporary.glob("*.csv"))
    finally:
        ray.shutdown()
    if output.is_dir():  # --overwrite: the complete new folder replaces the old one
        shutil.rmtree(output)
    elif output.exists():
        output.unlink()
    os.replace(temporary, output)
    logger.info("Wrote %d rows to %s (%d files)", rows, output, len(list(output.glob("*.csv"))))
    return rows
