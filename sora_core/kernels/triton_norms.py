"""Triton kernels for the blocks' normalisations, forward and backward.

- `modulated_layer_norm`: adaLN's `LayerNorm(x) * (1 + scale) + shift` in one pass over x
  (PixArt's `t2i_modulate(norm(x), shift, scale)`), shift/scale `[B or 1, 1, C]`.
- `rms_norm`: the q/k LlamaRMSNorm, rounding the normalised values to x's dtype before the
  weight as the reference does.
Statistics are in fp32 whatever x's dtype; the output is rounded once.

The kernels (`triton_norm_kernels`, which imports `triton`) are imported on first use only,
so that importing this module costs nothing and needs no triton.
Gradients of x come from a kernel; those of shift, scale and the weight are row sums of a
kernel-written product, taken by torch.
"""

import torch


def _kernels():
    from . import triton_norm_kernels

    return triton_norm_kernels


def _sample_stride(mod: torch.Tensor) -> int:
    """Elements between samples of a `[B or 1, 1, C]` shift/scale (0: shared by the batch)."""
    return mod.stride(0) if mod.shape[0] > 1 else 0


def _per_sample_sum(rows: torch.Tensor, like: torch.Tensor, batch: int) -> torch.Tensor:
    """Row-wise values `[B*N, C]` summed to `like`'s `[B or 1, 1, C]` shape and dtype."""
    summed = rows.view(batch, -1, rows.shape[-1]).sum(dim=1, keepdim=True)
    if like.shape[0] == 1:
        summed = summed.sum(dim=0, keepdim=True)
    return summed.to(like.dtype)


class _ModulatedLayerNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, shift, scale, eps):
        k = _kernels()
        batch, tokens, cols = x.shape
        x = x.contiguous()
        out = torch.empty_like(x)
        stats = torch.empty(2, batch * tokens, device=x.device, dtype=torch.float32)
        k.modulated_layer_norm_forward[(batch * tokens,)](
            x, shift, scale, out, stats[0], stats[1],
            cols, tokens, _sample_stride(shift), _sample_stride(scale), eps,
            BLOCK=k.triton.next_power_of_2(cols),
        )  # fmt: skip
        ctx.save_for_backward(x, shift, scale, stats)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        k = _kernels()
        x, shift, scale, stats = ctx.saved_tensors
        batch, tokens, cols = x.shape
        grad_out = grad_out.contiguous()
        grad_x = torch.empty(x.shape, device=x.device, dtype=torch.float32)
        grad_scale_rows = torch.empty_like(grad_x)
        k.modulated_layer_norm_backward[(batch * tokens,)](
            x, scale, grad_out, stats[0], stats[1], grad_x, grad_scale_rows,
            cols, tokens, _sample_stride(scale),
            BLOCK=k.triton.next_power_of_2(cols),
        )  # fmt: skip
        grad_shift = _per_sample_sum(grad_out.float().view(-1, cols), shift, batch)
        grad_scale = _per_sample_sum(grad_scale_rows.view(-1, cols), scale, batch)
        return grad_x.to(x.dtype), grad_shift, grad_scale, None


class _RMSNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, eps):
        k = _kernels()
        cols = x.shape[-1]
        flat = x.reshape(-1, cols).contiguous()
        rows = flat.shape[0]
        out = torch.empty_like(flat)
        rstd = torch.empty(rows, device=x.device, dtype=torch.float32)
        k.rms_norm_forward[(k.triton.cdiv(rows, k.RMS_ROWS),)](
            flat, weight, out, rstd, rows, cols, eps,
            ROWS=k.RMS_ROWS, BLOCK=k.triton.next_power_of_2(cols),
        )  # fmt: skip
        ctx.save_for_backward(flat, weight, rstd)
        ctx.shape = x.shape
        return out.view(x.shape)

    @staticmethod
    def backward(ctx, grad_out):
        k = _kernels()
        flat, weight, rstd = ctx.saved_tensors
        rows, cols = flat.shape
        grad_out = grad_out.reshape(rows, cols).contiguous()
        grad_x = torch.empty(flat.shape, device=flat.device, dtype=torch.float32)
        grad_weight_rows = torch.empty_like(grad_x)
        k.rms_norm_backward[(k.triton.cdiv(rows, k.RMS_ROWS),)](
            flat, weight, grad_out, rstd, grad_x, grad_weight_rows, rows, cols,
            ROWS=k.RMS_ROWS, BLOCK=k.triton.next_power_of_2(cols),
        )  # fmt: skip
        grad_weight = grad_weight_rows.sum(dim=0).to(weight.dtype)
        return grad_x.to(flat.dtype).view(ctx.shape), grad_weight, None


def modulated_layer_norm(
    x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor, eps: float
) -> torch.Tensor:
    """`layer_norm(x) * (1 + scale) + shift` for x `[B, N, C]`, shift/scale `[B or 1, 1, C]`
    (last axis contiguous)."""
    return _ModulatedLayerNorm.apply(x, shift, scale, eps)


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """`weight * round(x * rsqrt(mean(x²) + eps))` over the last axis; weight in x's dtype."""
    return _RMSNorm.apply(x, weight, eps)
