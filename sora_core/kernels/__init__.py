"""Compute kernels behind small dispatch functions (attention backends, normalisations)."""

from .attention_backends import (
    BACKENDS,
    attention,
    check_backend,
    flash_attn_available,
    packed_cross_attention,
    resolve_backend,
)
from .norms import layer_norm, rms_norm

__all__ = [
    "BACKENDS",
    "attention",
    "check_backend",
    "flash_attn_available",
    "layer_norm",
    "packed_cross_attention",
    "resolve_backend",
    "rms_norm",
]
