"""Which device a stage runs on, and how much memory it peaked at: one home for both, used by
training, evaluation, prediction and the benchmarks.

Peak memory is ``torch.cuda.max_memory_allocated`` on a GPU and the process's peak resident set on
the CPU: VmHWM from ``/proc/self/status``, which :func:`reset_peak_rss` can reset, so a measurement
counts what it needs rather than what the process held before; ``ru_maxrss`` (KiB on Linux, bytes on
macOS) only where there is no ``/proc``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import platform
import resource
import sys
from pathlib import Path

import torch

from urur.config import ConfigError


class DeviceError(ConfigError):
    """A device setting names no device of this machine."""


def resolve_device(choice: str | torch.device, setting: str = "device") -> torch.device:
    """``"auto"``: the GPU where one is available, else the CPU; anything else as torch reads it,
    refused (naming ``setting``) where it is not a device or names a GPU this machine lacks."""
    if isinstance(choice, torch.device):
        return choice
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(choice)
    except RuntimeError as error:
        raise DeviceError(f"{setting} is {choice!r}: not a device; use cpu, cuda, cuda:N or auto") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"{setting} is {choice!r} but this machine has no CUDA GPU; use auto or cpu")
    return device


def describe_device(device: torch.device) -> str:
    """The device as a report names it: the GPU's model, or the CPU threads torch uses."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"{device} ({torch.get_num_threads()} threads)"


def describe_machine() -> str:
    """The machine in a few words: OS, CPU count, Python, torch and the GPU where there is one."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"torch {torch.__version__}, {gpu}"
    )


def release_freed_heap() -> bool:
    """Hand the heap that earlier work freed back to the OS (glibc keeps it mapped, so it stays in
    the resident set): a peak RSS measured next then counts what that measurement needs, not what
    the process held before, e.g. the models of earlier runs in a comparison. False where the C
    library is not glibc (no ``malloc_trim``)."""
    gc.collect()
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return False
    trim(0)
    return True


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0); False if impossible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float:
    """This process's peak RSS in MiB: VmHWM where /proc has it (``ru_maxrss`` is carried over from
    the parent through fork and exec on Linux, so a child would report the parent's peak), else
    ``ru_maxrss`` over the process's lifetime."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 2**20 if sys.platform == "darwin" else maxrss / 1024  # bytes on macOS, KiB elsewhere


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory of the work on ``device`` so far: allocated GPU memory, or the process's peak RSS."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return peak_rss_mb()
