"""Names of floating-point types as users write them (`bf16`, `"float16"`, `torch.float32`)."""

import torch

from .errors import ConfigError

_DTYPES = {
    "fp32": torch.float32,
    "float32": torch.float32,
    "float": torch.float32,
    "fp16": torch.float16,
    "float16": torch.float16,
    "half": torch.float16,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp8": torch.float8_e4m3fn,
    "fp8_e4m3fn": torch.float8_e4m3fn,
    "float8_e4m3fn": torch.float8_e4m3fn,
    "fp8_e5m2": torch.float8_e5m2,
    "float8_e5m2": torch.float8_e5m2,
}


def resolve_dtype(
    dtype: "str | torch.dtype | None", default: torch.dtype = torch.float32
) -> torch.dtype:
    """Turn a dtype name (`bf16`, `torch.float16`, ...) into a `torch.dtype`."""
    if dtype is None:
        return default
    if isinstance(dtype, torch.dtype):
        return dtype
    key = str(dtype).lower().removeprefix("torch.")
    if key not in _DTYPES:
        raise ConfigError(f"dtype: unknown value {dtype!r}; expected one of {sorted(_DTYPES)}")
    return _DTYPES[key]


def is_fp8(dtype: torch.dtype) -> bool:
    """True for the 8-bit float storage types (weights only; computation happens in bf16/fp32)."""
    return dtype in (torch.float8_e4m3fn, torch.float8_e5m2)
