"""What this machine computes fast: decides whether training uses bfloat16 mixed precision.

bf16 autocast helps only where the hardware has bf16 matrix units: GPUs since Ampere and CPUs
with AVX512-BF16 or AMX (measured here, on a 2-core AMD EPYC with AVX512-BF16: 4x the fp32
matmul rate). On CPUs without them PyTorch emulates bf16 and training gets slower, so on a CPU
the answer comes from timing one matmul in each precision rather than from a list of models.

    python -m textclf.hardware bf16    # prints true or false
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from textclf import exit_code_of

# bf16 must beat fp32 by this much to be worth its small loss of precision.
BF16_MIN_SPEEDUP = 1.5
PROBE_SIZE = 1024
# Each precision is timed in this many short windows, taking turns; the best window of each counts.
# Another process taking a core slows whichever precision is being timed then: beside a process
# computing in bursts (as a second test worker does), one 0.3 s window each answered "not fast" in
# 11 of 40 tries on an AMD EPYC where bf16 runs 2.0-2.7x fp32 (so two runs of one command could train in
# different precisions); five windows each, 0 of 40.
PROBE_WINDOWS = 5
PROBE_WINDOW_SECONDS = 0.1
# A CPU that emulates bf16 (AVX2 only) computes it several times slower than fp32, one matmul taking
# seconds: below this fraction of the fp32 rate after one window, no other window can make bf16 fast
# (a neighbour taking one of two cores at most halves a rate), so the probe answers at once.
EMULATED_BELOW = 0.5


def matmul_flops_per_second(dtype: torch.dtype, size: int = PROBE_SIZE, seconds: float = 0.3) -> float:
    """The rate of one square matmul in `dtype` on the CPU, after a warm-up."""
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b
    runs, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds or runs < 1:
        a @ b
        runs += 1
    return 2 * size**3 * runs / elapsed


def bf16_is_emulated(bf16_rate: float, fp32_rate: float) -> bool:
    """Whether matmul rates measured side by side show a CPU without bf16 units."""
    return bf16_rate < EMULATED_BELOW * fp32_rate


def bf16_is_fast() -> bool:
    """True when bf16 mixed precision makes training markedly faster here."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if torch.accelerator.is_available():
        return False  # other accelerators (MPS, XPU): keep fp32 rather than guess
    best = {torch.bfloat16: 0.0, torch.float32: 0.0}
    for _ in range(PROBE_WINDOWS):
        for dtype in best:
            best[dtype] = max(best[dtype], matmul_flops_per_second(dtype, seconds=PROBE_WINDOW_SECONDS))
        if bf16_is_emulated(best[torch.bfloat16], best[torch.float32]):
            return False
    return best[torch.bfloat16] / best[torch.float32] >= BF16_MIN_SPEEDUP


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("question", choices=["bf16"], help="bf16: is bfloat16 mixed precision fast here?")
    parser.parse_args()
    print("true" if bf16_is_fast() else "false")


if __name__ == "__main__":
    sys.exit(exit_code_of(main))
