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
    assert hardware.bf16_is_fast()
    cpu_rates(bf16=[90.0] * (windows + 1), fp32=[50.0] + [180.0] * windows)  # emulated bf16, fp32 slowed once
    assert not hardware.bf16_is_fast()


def test_bf16_must_be_markedly_faster(cpu_rates):
    windows = hardware.PROBE_WINDOWS
    cpu_rates(bf16=[hardware.BF16_MIN_SPEEDUP * 100.0 - 1] * windows, fp32=[100.0] * windows)
    assert not hardware.bf16_is_fast()
    cpu_rates(bf16=[hardware.BF16_MIN_SPEEDUP * 100.0] * windows, fp32=[100.0] * windows)
    assert hardware.bf16_is_fast()


def test_a_cpu_emulating_bf16_is_answered_after_one_window(cpu_rates):
    # Without bf16 units (AVX2 only) one bf16 matmul takes seconds: five windows took ~50 s a probe.
    cpu_rates(bf16=[15.0], fp32=[150.0])  # a second window would exhaust the rates and fail
    assert not hardware.bf16_is_fast()
