"""What this machine computes fast: decides the precision training runs in, and where and how a trained
model serves, in this one place.

    python -m textclf.hardware precision    # prints bf16, fp16 or fp32
    python -m textclf.hardware serving      # where a run's model serves here: device, dtype, ONNX Runtime providers

- A CUDA GPU with bf16 units (Ampere and later: A100, H100, RTX 30xx/40xx): bf16 mixed precision.
- A CUDA GPU without them (a Colab T4, a V100): fp16 mixed precision with loss scaling (the Trainer's
  --fp16; a torch.amp.GradScaler in the decoupled edition), which such GPUs are built for; fp32 there
  runs several times slower.
- Other accelerators (Apple's MPS, Intel's XPU): fp32, until measured.
- A CPU: bf16 autocast helps only where the hardware has bf16 matrix units (AVX512-BF16 or AMX;
  measured on a 2-core AMD EPYC with AVX512-BF16: 2-4x the fp32 matmul rate). On CPUs without them
  PyTorch emulates bf16 and training gets slower, so on a CPU the answer comes from timing one matmul
  in each precision rather than from a list of models.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from dataclasses import dataclass

import torch

from textclf import UserInputError, exit_code_of

# The precisions training runs in: bfloat16 or float16 mixed precision, or none.
BF16, FP16, FP32 = "bf16", "fp16", "fp32"
PRECISIONS = (BF16, FP16, FP32)
AUTO = "auto"  # the scripts' default: fast_precision() decides
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


def fast_precision() -> str:
    """The precision training runs in here (PRECISION=auto): BF16, FP16 or FP32, as the module says."""
    if torch.cuda.is_available():
        return BF16 if torch.cuda.is_bf16_supported(including_emulation=False) else FP16
    if torch.accelerator.is_available():
        return FP32  # other accelerators (MPS, XPU): keep fp32 rather than guess
    return BF16 if cpu_bf16_is_fast() else FP32


def cpu_bf16_is_fast() -> bool:
    """True when bf16 matmuls on this CPU run markedly faster than fp32 ones."""
    best = {torch.bfloat16: 0.0, torch.float32: 0.0}
    for _ in range(PROBE_WINDOWS):
        for dtype in best:
            best[dtype] = max(best[dtype], matmul_flops_per_second(dtype, seconds=PROBE_WINDOW_SECONDS))
        if bf16_is_emulated(best[torch.bfloat16], best[torch.float32]):
            return False
    return best[torch.bfloat16] / best[torch.float32] >= BF16_MIN_SPEEDUP


@functools.cache
def cpu_has_bf16_units() -> bool:
    """cpu_bf16_is_fast(), probed once per process: the serving plan asks on every model load."""
    return cpu_bf16_is_fast()


def compute_device() -> str:
    """Where this machine trains and serves: "cuda" on a CUDA GPU, else "cpu". Other accelerators (MPS, XPU)
    serve on the CPU until measured; the Trainer still trains on them, as transformers decides."""
    return "cuda" if torch.cuda.is_available() else "cpu"


CUDA_PROVIDER, CPU_PROVIDER = "CUDAExecutionProvider", "CPUExecutionProvider"


@dataclass(frozen=True)
class ServingPlan:
    """Where and how a trained run's model answers (the Predictor: the demo, explanations, predict.py)."""

    device: str  # "cuda" or "cpu"
    # PyTorch's half precision ("half"): on a GPU bfloat16 where it has bf16 units, else float16; on a CPU
    # bfloat16 where it has bf16 units (cpu_has_bf16_units), else None (emulated bf16 is slower than fp32).
    half_dtype: torch.dtype | None
    onnx_providers: tuple[str, ...]  # ONNX Runtime's, best first: CUDA only where onnxruntime-gpu is installed

    @property
    def auto_variant(self) -> str:
        """What the Predictor's "auto" serves: on a GPU, the ONNX export on ONNX Runtime's CUDA provider where
        its package is installed, else PyTorch in half precision ("half"); on a CPU, the int8 export where it
        keeps the run's accuracy (the Predictor's gate), "onnx-int8". On a CPU with bf16 units "half" (PyTorch
        bf16) predicts files about as fast and keeps the fp32 model's labels (99.97% against int8's 98.2% on
        tweets), but answers one text 2.5x slower (bench/RESULTS.md, "Batch prediction: what was tried"): chosen with
        `--variant half`, not by "auto"."""
        if self.device == "cuda":
            return "onnx" if CUDA_PROVIDER in self.onnx_providers else "half"
        return "onnx-int8"


def serving_plan(cpu_half: bool = True) -> ServingPlan:
    """The ServingPlan of this machine. On a CPU, whether "half" serves there takes the bf16 probe (about a
    second, more where bf16 is emulated; once per process): `cpu_half=False` skips it where "half" is not
    asked for, and the plan's half_dtype on a CPU is then None."""
    import onnxruntime

    device = compute_device()
    if device == "cpu":
        return ServingPlan("cpu", torch.bfloat16 if cpu_half and cpu_has_bf16_units() else None, (CPU_PROVIDER,))
    half = torch.bfloat16 if torch.cuda.is_bf16_supported(including_emulation=False) else torch.float16
    providers = (CUDA_PROVIDER, CPU_PROVIDER) if CUDA_PROVIDER in onnxruntime.get_available_providers() else (CPU_PROVIDER,)
    return ServingPlan(device, half, providers)


def precision_flags(precision: str) -> dict[str, bool]:
    """The Trainer's flags (upstream's --bf16 and --fp16) for a precision."""
    return {"bf16": precision == BF16, "fp16": precision == FP16}


def requested_precision(precision: str, bf16: str = "") -> str:
    """The task scripts' PRECISION (auto, bf16, fp16, fp32), with the former BF16 (true, false, auto) still
    understood where PRECISION is left at auto; a value neither knows is one error line."""
    if precision not in (AUTO, *PRECISIONS):
        raise UserInputError(f"PRECISION={precision!r}: choose one of {AUTO}, {', '.join(PRECISIONS)}")
    former = {"": precision, AUTO: AUTO, "true": BF16, "false": FP32}
    if bf16.lower() not in former:
        raise UserInputError(f"BF16={bf16!r}: choose true, false or auto (or set PRECISION instead)")
    if precision != AUTO and bf16 and former[bf16.lower()] != precision:
        raise UserInputError(f"PRECISION={precision} and BF16={bf16} disagree: set PRECISION only")
    return former[bf16.lower()] if precision == AUTO else precision


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    subcommands = parser.add_subparsers(dest="question", required=True)
    subcommands.add_parser("precision", help="the precision training runs in here: bf16, fp16 or fp32")
    subcommands.add_parser("serving", help="where and how a run's model serves here")
    resolve = subcommands.add_parser("resolve", help="the task scripts' PRECISION and former BF16 as one value")
    resolve.add_argument("precision"), resolve.add_argument("bf16", nargs="?", default="")
    arguments = parser.parse_args(argv)
    if arguments.question == "serving":
        plan = serving_plan()
        print(f"device {plan.device}, half precision {plan.half_dtype}, ONNX Runtime providers {', '.join(plan.onnx_providers)}; "
              f"the Predictor's auto variant: {plan.auto_variant}")
        return
    print(fast_precision() if arguments.question == "precision" else requested_precision(arguments.precision, arguments.bf16))


if __name__ == "__main__":
    sys.exit(exit_code_of(lambda: main(sys.argv[1:])))
