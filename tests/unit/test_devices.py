"""urur.devices: the one device choice and peak-memory reading of every stage."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from urur import devices
from urur.devices import DeviceError, peak_rss_mb, resolve_device


def test_auto_is_the_cpu_without_a_gpu(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize(
    ("choice", "message"),
    [
        ("gpu", "evaluation.device is 'gpu': not a device; use cpu, cuda, cuda:N or auto"),
        ("cuda:1", "evaluation.device is 'cuda:1' but this machine has no CUDA GPU; use auto or cpu"),
    ],
)
def test_a_device_this_machine_lacks_is_refused_naming_the_setting(monkeypatch, choice, message) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError) as raised:
        resolve_device(choice, "evaluation.device")
    assert str(raised.value) == message


PEAK_PROBE = """
import numpy as np
from urur.devices import peak_memory_mb, peak_rss_mb, reset_peak_rss
import torch
assert reset_peak_rss()
before = peak_rss_mb()
block = np.ones(64 * 2**20, dtype=np.uint8)  # 64 MiB, touched
grown = peak_rss_mb() - before
del block
print(grown, peak_memory_mb(torch.device("cpu")) - peak_rss_mb())
"""


def test_peak_rss_follows_an_allocation_and_resets() -> None:
    """In a process of its own: a test session's freed heap would hide the allocation's pages."""
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("no /proc/self/clear_refs here")
    result = subprocess.run([sys.executable, "-c", PEAK_PROBE], capture_output=True, text=True, check=True)
    grown, cpu_minus_rss = map(float, result.stdout.split())
    assert 60 <= grown <= 80
    assert abs(cpu_minus_rss) <= 1.0


def test_ru_maxrss_is_read_in_its_platform_units(monkeypatch, tmp_path) -> None:
    """Without /proc: KiB on Linux, bytes on macOS; both read as 2 MiB here."""
    monkeypatch.setattr(devices, "Path", lambda _: tmp_path / "no-status")
    for platform, maxrss in (("linux", 2048), ("darwin", 2 * 2**20)):
        monkeypatch.setattr(devices.sys, "platform", platform)
        monkeypatch.setattr(resource, "getrusage", lambda _, m=maxrss: type("U", (), {"ru_maxrss": m}))
        assert peak_rss_mb() == 2.0
