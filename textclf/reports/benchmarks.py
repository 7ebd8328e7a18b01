"""What the benchmarks in bench/ share: the machine's description and their sections of bench/RESULTS.md."""

from __future__ import annotations

import logging
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from textclf import REPO_ROOT
from textclf.runs.folder import ALL_RESULTS, RunInfo, read_json

logger = logging.getLogger(__name__)

RESULTS_FILE = REPO_ROOT / "bench" / "RESULTS.md"
# The matmul sizes whose best rate is the machine's peak: square, and the shapes of MiniLM's layers.
PEAK_SHAPES = (2048, 1024)
HEADER = (
    "# Benchmark results\n\n"
    "Written by the benchmark scripts in `bench/`; each rewrites its own section. Rerun the command "
    "quoted in a section to reproduce it (figures move by a few percent from run to run, more when "
    "something else is using the CPU).\n"
)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_description() -> str:
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU only"
    return (
        f"{cpu_model()}, {os.cpu_count()} cores, {device}; torch {torch.__version__} "
        f"({torch.get_num_threads()} threads, CPU capability {torch.backends.cpu.get_cpu_capability()}); "
        f"Python {platform.python_version()}"
    )


def update_section(title: str, body: str, path: Path = RESULTS_FILE) -> Path:
    """Replace the `## title` section of the results file (or append it), keeping the others."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    section = f"## {title}\n\n{stamp}. {machine_description()}.\n\n{body.strip()}\n"
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
    return path


def peak_matmul_flops() -> dict[str, float]:
    """The machine's best measured matmul rate (FLOP/s) in fp32 and in bf16."""
    import torch

    from textclf.hardware import bf16_is_emulated, matmul_flops_per_second

    logger.info("Measuring this machine's matmul peak...")
    fp32 = max(matmul_flops_per_second(torch.float32, size, seconds=1.0) for size in PEAK_SHAPES)
    # Where bf16 is emulated (AVX2 only) one 2048 matmul takes a minute: the smallest shape tells it.
    smallest, *larger = sorted(PEAK_SHAPES)
    bf16 = matmul_flops_per_second(torch.bfloat16, smallest, seconds=1.0)
    if not bf16_is_emulated(bf16, fp32):
        bf16 = max(bf16, *(matmul_flops_per_second(torch.bfloat16, size, seconds=1.0) for size in larger))
    return {"fp32": fp32, "bf16": bf16}


def run_and_time(command: list[str], log_file: Path, env: dict | None = None) -> float:
    """Run a command from the repository root, its output into `log_file`; the wall seconds it took."""
    logger.info("$ %s", shlex.join(command))
    started = time.monotonic()
    with open(log_file, "w") as log:
        completed = subprocess.run(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    if completed.returncode != 0:
        sys.exit(f"error: the run failed (exit {completed.returncode}); see {log_file}")
    return time.monotonic() - started


def read_run(output_dir: Path) -> tuple[float, float, float | None, dict]:
    """(training samples/s, training seconds, validation F1, hyperparameters) of a finished run."""
    results = read_json(output_dir / ALL_RESULTS)
    return results["train_samples_per_second"], results["train_runtime"], results.get("eval_f1"), RunInfo.read(output_dir).hyperparameters


def shown(path: Path) -> str:
    """A path as a reader of RESULTS.md would type it: relative to the repository when inside it."""
    path = path.resolve()
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def commands_section(commands: dict[str, str], reproduce: str) -> list[str]:
    """The end of a results section: each run's command, then the command that reruns the benchmark."""
    return ["", "Commands:", "", *[f"- ({name}) `{command}`" for name, command in commands.items()], "",
            f"Reproduce: `{reproduce}`"]
