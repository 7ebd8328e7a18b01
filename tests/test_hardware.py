"""textclf.hardware: whether training uses bf16 on this machine, decided the same way each time."""

from __future__ import annotations

import pytest
import torch

from textclf import hardware


@pytest.fixture
def cpu_rates(monkeypatch):
    """Make the probe time a CPU whose matmul rates, window after window, are the ones given."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.accelerator, "is_available", lambda: False)

    def use(bf16: list[float], fp32: list[float]) -> None:
        windows = {torch.bfloat16: iter(bf16), torch.float32: iter(fp32)}
        monkeypatch.setattr(hardware, "matmul_flops_per_second", lambda dtype, **_: next(windows[dtype]))

    return use


def test_a_neighbour_taking_a_core_in_one_window_does_not_change_the_answer(cpu_rates):
    windows = hardware.PROBE_WINDOWS - 1
    cpu_rates(bf16=[100.0] + [400.0] * windows, fp32=[180.0] * (windows + 1))  # bf16 units, slowed once
    assert hardware.cpu_bf16_is_fast()
    cpu_rates(bf16=[90.0] * (windows + 1), fp32=[50.0] + [180.0] * windows)  # emulated bf16, fp32 slowed once
    assert not hardware.cpu_bf16_is_fast()


def test_bf16_must_be_markedly_faster(cpu_rates):
    windows = hardware.PROBE_WINDOWS
    cpu_rates(bf16=[hardware.BF16_MIN_SPEEDUP * 100.0 - 1] * windows, fp32=[100.0] * windows)
    assert not hardware.cpu_bf16_is_fast()
    cpu_rates(bf16=[hardware.BF16_MIN_SPEEDUP * 100.0] * windows, fp32=[100.0] * windows)
    assert hardware.cpu_bf16_is_fast()


def test_a_cpu_emulating_bf16_is_answered_after_one_window(cpu_rates):
    # Without bf16 units (AVX2 only) one bf16 matmul takes seconds: five windows took ~50 s a probe.
    cpu_rates(bf16=[15.0], fp32=[150.0])  # a second window would exhaust the rates and fail
    assert not hardware.cpu_bf16_is_fast()


@pytest.mark.parametrize("cuda, cuda_bf16, other_accelerator, cpu_bf16_fast, expected", [
    (True, True, True, False, "bf16"),  # an A100 or H100
    (True, False, True, True, "fp16"),  # a T4 or V100: fp16 with loss scaling, not fp32
    (False, False, True, True, "fp32"),  # MPS, XPU: fp32 until measured
    (False, False, False, True, "bf16"),  # a CPU with bf16 units (the probe)
    (False, False, False, False, "fp32"),  # a CPU that emulates bf16
])
def test_the_precision_of_each_device(monkeypatch, cuda, cuda_bf16, other_accelerator, cpu_bf16_fast, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: cuda_bf16)
    monkeypatch.setattr(torch.accelerator, "is_available", lambda: other_accelerator)
    monkeypatch.setattr(hardware, "cpu_bf16_is_fast", lambda: cpu_bf16_fast)
    assert hardware.fast_precision() == expected
    assert hardware.precision_flags(expected) == {"bf16": expected == "bf16", "fp16": expected == "fp16"}


def test_the_scripts_precision_setting_and_the_former_bf16_one():
    from textclf import UserInputError

    assert hardware.requested_precision("auto") == "auto"
    assert hardware.requested_precision("fp16") == "fp16"
    assert hardware.requested_precision("auto", "true") == "bf16"  # BF16=true, as scripts set it before PRECISION
    assert hardware.requested_precision("auto", "false") == "fp32"
    assert hardware.requested_precision("auto", "auto") == "auto"
    assert hardware.requested_precision("bf16", "true") == "bf16"
    for precision, bf16 in (("fp8", ""), ("auto", "maybe"), ("fp16", "true")):
        with pytest.raises(UserInputError):
            hardware.requested_precision(precision, bf16)


@pytest.mark.parametrize("cuda, cuda_bf16, onnxruntime_cuda, cpu_bf16_units, expected", [
    (True, True, False, False, ("cuda", torch.bfloat16, ("CPUExecutionProvider",), "half")),  # an A100/H100, onnxruntime (CPU)
    (True, False, False, True, ("cuda", torch.float16, ("CPUExecutionProvider",), "half")),  # a T4: no bf16 units
    (True, True, True, False, ("cuda", torch.bfloat16, ("CUDAExecutionProvider", "CPUExecutionProvider"), "onnx")),  # onnxruntime-gpu
    (False, False, True, False, ("cpu", None, ("CPUExecutionProvider",), "onnx-int8")),  # a CPU that emulates bf16
    (False, False, True, True, ("cpu", torch.bfloat16, ("CPUExecutionProvider",), "onnx-int8")),  # AMX: "half" when asked
])
def test_where_and_how_a_run_serves_on_each_device(monkeypatch, cuda, cuda_bf16, onnxruntime_cuda, cpu_bf16_units, expected):
    import onnxruntime

    monkeypatch.setattr(hardware, "cpu_has_bf16_units", lambda: cpu_bf16_units)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: cuda_bf16)
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if onnxruntime_cuda else ["CPUExecutionProvider"]
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: providers)
    plan = hardware.serving_plan()
    assert (plan.device, plan.half_dtype, plan.onnx_providers, plan.auto_variant) == expected
    assert hardware.compute_device() == expected[0]


def test_the_serving_plan_probes_the_cpu_once_per_process(monkeypatch):
    """Every model load asks the plan; the CPU's bf16 probe (about a second of matmuls) runs once."""
    probes = []
    monkeypatch.setattr(hardware, "cpu_bf16_is_fast", lambda: probes.append(1) or True)
    hardware.cpu_has_bf16_units.cache_clear()
    try:
        assert hardware.cpu_has_bf16_units() and hardware.cpu_has_bf16_units()
        assert len(probes) == 1
    finally:
        hardware.cpu_has_bf16_units.cache_clear()
