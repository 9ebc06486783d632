"""Compute kernels behind small dispatch functions (attention backends, normalisations)."""

from .attention_backends import (
    BACKENDS,
    attention,
    check_backend,
    flash_attn_available,
    packed_cross_attention,
    resolve_backend,
)
from .norms import (
    NORM_KERNELS,
    NORM_KERNELS_ENV,
    layer_norm,
    modulated_layer_norm,
    norm_kernels,
    rms_norm,
    set_norm_kernels,
    triton_available,
)

__all__ = [
    "BACKENDS",
    "NORM_KERNELS",
    "NORM_KERNELS_ENV",
    "attention",
    "check_backend",
    "flash_attn_available",
    "layer_norm",
    "modulated_layer_norm",
    "norm_kernels",
    "packed_cross_attention",
    "resolve_backend",
    "rms_norm",
    "set_norm_kernels",
    "triton_available",
]
