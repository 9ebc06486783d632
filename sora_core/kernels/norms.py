"""Normalisations with the reference's rounding points.

`layer_norm` is the blocks' affine-free LayerNorm; with `fp32=True` it upcasts like apex's
fused kernel (`enable_layernorm_kernel`), which only matters below fp32. `rms_norm` is the
q/k norm: statistics in fp32, rounded to the input dtype before the weight is applied.
"""

import torch
import torch.nn.functional as F


def layer_norm(x: torch.Tensor, eps: float = 1e-6, fp32: bool = False) -> torch.Tensor:
    """LayerNorm over the last axis without affine parameters."""
    if fp32 and x.dtype != torch.float32:
        return F.layer_norm(x.float(), x.shape[-1:], eps=eps).to(x.dtype)
    return F.layer_norm(x, x.shape[-1:], eps=eps)


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """LlamaRMSNorm: `weight * (x * rsqrt(mean(x²) + eps))`, normalised in fp32."""
    x32 = x.float()
    normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)
    return weight.to(device=x.device, dtype=x.dtype) * normed.to(x.dtype)
