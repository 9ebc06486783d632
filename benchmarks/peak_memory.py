"""Peak memory of one piece of work, for the benchmarks that measure several in one process.

On CUDA: the allocator's `max_memory_allocated` over the work (reset at the start), all
tensors on the device included. On a Linux CPU: the rise of the process's resident-set
high-water mark (`VmHWM`) over the resident set at the start, after resetting the mark by
writing 5 to `/proc/self/clear_refs`; memory the process already held (weights, inputs) is
not counted. Freed memory that the C allocator kept would hide a later peak, so glibc is
asked to return it first (`malloc_trim`).
"""

import contextlib
import ctypes
import gc
from pathlib import Path

import torch

STATUS = Path("/proc/self/status")


def rss_kib(field: str) -> int:
    """`VmRSS` / `VmHWM` of this process in KiB (0 where /proc is missing)."""
    try:
        lines = STATUS.read_text().splitlines()
    except OSError:
        return 0
    for line in lines:
        if line.startswith(field):
            return int(line.split()[1])
    return 0


def method(device: torch.device) -> str:
    """How `PeakMemory` measures on `device`, in words for the table's notes."""
    if device.type == "cuda":
        return "CUDA max_memory_allocated over the work (weights on the GPU included)"
    return (
        "rise of the process's peak RSS (VmHWM, reset via /proc/self/clear_refs) over its "
        "RSS before the work (weights already loaded are not counted)"
    )


def release_freed_memory() -> None:
    """Return freed heap memory to the system (glibc), so that RSS rises with new work."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class PeakMemory:
    """`with PeakMemory(device) as peak: work()`, then `peak.bytes` / `peak.mib`."""

    def __init__(self, device: torch.device):
        self.device = device
        self.bytes = 0
        self._before_kib = 0

    def __enter__(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            release_freed_memory()
            with contextlib.suppress(OSError):
                Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
            self._before_kib = rss_kib("VmRSS")
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.bytes = torch.cuda.max_memory_allocated(self.device)
        else:
            self.bytes = max(0, rss_kib("VmHWM") - self._before_kib) * 1024

    @property
    def mib(self) -> float:
        return self.bytes / 2**20
