"""What the benchmarks in bench/ share: the machine's description and their sections of bench/RESULTS.md."""

from __future__ import annotations

import os
import platform
import re
from datetime import datetime, timezone
from pathlib import Path

from textclf.offline import REPO_ROOT

RESULTS_FILE = REPO_ROOT / "bench" / "RESULTS.md"
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
