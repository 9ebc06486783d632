"""Where models live while a video is generated: on the accelerator only while they work.

A `Placement` names the working device, the computation dtype and where idle weights rest.
`working(module, placement)` moves a model in for one phase and back out afterwards, so a
24 GB card holds the transformer while sampling and the VAE while decoding, never both.
"""

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from ..acceleration.block_swap import place_module
from ..dtypes import resolve_dtype
from ..errors import ConfigError


def default_device() -> torch.device:
    """cuda when present, then mps, else cpu."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@dataclass(frozen=True)
class Placement:
    """Working `device`, computation `dtype`, and `offload_device` for idle weights."""

    device: torch.device = field(default_factory=default_device)
    dtype: torch.dtype = torch.float32
    offload_device: torch.device = torch.device("cpu")

    @classmethod
    def create(
        cls,
        device: "str | torch.device | None" = None,
        dtype: "str | torch.dtype | None" = None,
        offload_device: "str | torch.device" = "cpu",
    ) -> "Placement":
        """From user values: a device name (None: the best one present) and fp32/bf16/fp16."""
        try:
            working = default_device() if device is None else torch.device(device)
        except RuntimeError as error:
            raise ConfigError(
                f"device {device!r} is not a device name: {error}; use cpu, cuda, cuda:1 or mps"
            ) from None
        if working.type == "cuda" and not torch.cuda.is_available():
            raise ConfigError(f"device {device!r}: CUDA is not available here; use --device cpu")
        computation = resolve_dtype(dtype, torch.float32)
        if computation not in (torch.float32, torch.bfloat16, torch.float16):
            raise ConfigError(f"dtype {dtype!r}: generation computes in fp32, bf16 or fp16")
        return cls(working, computation, torch.device(offload_device))

    @property
    def offloads(self) -> bool:
        """Whether idle models leave the working device."""
        return self.offload_device != self.device


@contextlib.contextmanager
def working(module: "torch.nn.Module | None", placement: Placement) -> Iterator[None]:
    """Keep `module` on the working device for the `with` block, then offload it."""
    if module is None or not placement.offloads:
        yield
        return
    place_module(module, placement.device)
    try:
        yield
    finally:
        place_module(module, placement.offload_device)
        if placement.device.type == "cuda":
            torch.cuda.empty_cache()


def reset_peak_memory(placement: Placement) -> None:
    """Start a fresh peak-memory count on the working device."""
    if placement.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(placement.device)


def peak_memory(placement: Placement) -> str:
    """Peak memory in words: accelerator memory on CUDA, the process's peak RSS otherwise."""
    if placement.device.type == "cuda":
        allocated = torch.cuda.max_memory_allocated(placement.device)
        return f"peak GPU memory {allocated / 2**30:.2f} GiB"
    try:
        import resource
    except ImportError:  # Windows
        return "peak RAM not measured on this platform"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    peak_bytes = peak if sys.platform == "darwin" else peak * 1024
    return f"peak RAM {peak_bytes / 2**30:.2f} GiB"
