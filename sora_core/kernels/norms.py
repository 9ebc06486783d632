"""Normalisations with the reference's rounding points, behind one kernel switch.

`layer_norm` is the blocks' affine-free LayerNorm; with `fp32=True` it upcasts like apex's
fused kernel (`enable_layernorm_kernel`), which only matters below fp32. `rms_norm` is the
q/k norm: statistics in fp32, rounded to the input dtype before the weight is applied.
`modulated_layer_norm` is adaLN's `modulate(layer_norm(x), shift, scale)`.

Kernels (`NORM_KERNELS`), chosen by `SORA_NORM_KERNELS` or `set_norm_kernels`:
- ``"auto"`` (default): the Triton kernels (`triton_norms`) for CUDA tensors when `triton`
  imports, PyTorch otherwise and while `torch.compile` traces;
- ``"torch"``: always PyTorch;
- ``"triton"``: always Triton; CPU tensors need `TRITON_INTERPRET=1` (how the tests check
  the kernels against PyTorch without a GPU).
The Triton kernels keep statistics in fp32 and round the output once, so below fp32 they may
differ from the PyTorch path by one unit in the last place.
"""

import os

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from .optional import importable

NORM_KERNELS = ("auto", "torch", "triton")
NORM_KERNELS_ENV = "SORA_NORM_KERNELS"
_TRITON_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
_override: "str | None" = None


def triton_available() -> bool:
    """True when the optional `triton` package imports."""
    return importable("triton")


def _check_kernels(name: str, field: str) -> str:
    if name not in NORM_KERNELS:
        raise ConfigError(f"{field}: unknown value {name!r}; expected one of {NORM_KERNELS}")
    return name


def set_norm_kernels(name: "str | None") -> "str | None":
    """Force the normalisation kernels (`NORM_KERNELS`), or `None` to follow the environment
    variable again; returns the previous setting."""
    global _override
    previous = _override
    _override = None if name is None else _check_kernels(name, "norm kernels")
    return previous


def norm_kernels(device: torch.device) -> str:
    """`"triton"` or `"torch"`: the kernels the norms use for tensors on `device`."""
    requested = _override or _check_kernels(
        os.environ.get(NORM_KERNELS_ENV, "auto"), NORM_KERNELS_ENV
    )
    if requested == "torch":
        return "torch"
    if requested == "triton":
        if not triton_available():
            raise ConfigError(
                f"{NORM_KERNELS_ENV}: 'triton' was requested but the triton package is not "
                "installed (pip install 'comfyui-opensora[triton]'); use 'auto' or 'torch'"
            )
        if device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
            raise ConfigError(
                f"{NORM_KERNELS_ENV}: 'triton' on {device.type} tensors needs TRITON_INTERPRET=1 "
                "(Triton's CPU interpreter); use 'auto' or 'torch'"
            )
        return "triton"
    # Under torch.compile inductor fuses the PyTorch path itself; no opaque kernels in its graph.
    if torch.compiler.is_compiling():
        return "torch"
    return "triton" if device.type == "cuda" and triton_available() else "torch"


def layer_norm(x: torch.Tensor, eps: float = 1e-6, fp32: bool = False) -> torch.Tensor:
    """LayerNorm over the last axis without affine parameters."""
    if fp32 and x.dtype != torch.float32:
        return F.layer_norm(x.float(), x.shape[-1:], eps=eps).to(x.dtype)
    return F.layer_norm(x, x.shape[-1:], eps=eps)


def _fits_modulation_kernel(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> bool:
    """x `[B, N, C]` with shift and scale `[B or 1, 1, C]`, last axes contiguous."""
    if x.ndim != 3 or x.dtype not in _TRITON_DTYPES:
        return False
    batch, _, channels = x.shape
    return all(
        mod.ndim == 3
        and mod.shape[0] in (1, batch)
        and mod.shape[1:] == (1, channels)
        and mod.stride(-1) == 1
        and mod.device == x.device
        for mod in (shift, scale)
    )


def modulated_layer_norm(
    x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor, eps: float = 1e-6, fp32=False
) -> torch.Tensor:
    """PixArt's `t2i_modulate(layer_norm(x), shift, scale)`: `norm(x) * (1 + scale) + shift`.

    x `[B, N, C]`; shift, scale broadcastable to it (`[B, 1, C]` in the blocks)."""
    if norm_kernels(x.device) == "triton" and _fits_modulation_kernel(x, shift, scale):
        from .triton_norms import modulated_layer_norm as fused

        return fused(x, shift, scale, eps)
    return layer_norm(x, eps, fp32) * (1 + scale) + shift


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """LlamaRMSNorm: `weight * (x * rsqrt(mean(x²) + eps))`, normalised in fp32."""
    weight = weight.to(device=x.device, dtype=x.dtype)
    if norm_kernels(x.device) == "triton" and x.dtype in _TRITON_DTYPES:
        from .triton_norms import rms_norm as fused

        return fused(x, weight, eps)
    x32 = x.float()
    normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)
    return weight * normed.to(x.dtype)
