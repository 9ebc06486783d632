"""Triton kernels for the blocks' normalisations, forward and backward.

- `modulated_layer_norm`: adaLN's `LayerNorm(x) * (1 + scale) + shift` in one pass over x
  (PixArt's `t2i_modulate(norm(x), shift, scale)`), shift/scale `[B or 1, 1, C]`.
- `rms_norm`: the q/k LlamaRMSNorm, rounding the normalised values to x's dtype before the
  weight as the reference does.
Statistics are in fp32 whatever x's dtype; the output is rounded once.

`triton` is imported, and the kernels compiled, only on first use, so that importing this
module costs nothing and `TRITON_INTERPRET=1` (Triton's CPU interpreter) may be set by then.
Gradients of x come from a kernel; those of shift, scale and the weight are row sums of a
kernel-written product, taken by torch.
"""

from functools import lru_cache
from types import SimpleNamespace

import torch

# Rows of the head-dim RMSNorm handled by one program (head dims are small: 64-128).
_RMS_ROWS = 16


@lru_cache(maxsize=1)
def _kernels() -> SimpleNamespace:
    import triton
    import triton.language as tl

    @triton.jit
    def modulated_layer_norm_forward(
        x_ptr, shift_ptr, scale_ptr, out_ptr, mean_ptr, rstd_ptr,
        cols, rows_per_sample, shift_stride, scale_stride, eps,
        BLOCK: tl.constexpr,
    ):  # fmt: skip
        row = tl.program_id(0)
        sample = row // rows_per_sample
        offsets = tl.arange(0, BLOCK)
        valid = offsets < cols
        x = tl.load(x_ptr + row * cols + offsets, mask=valid, other=0.0).to(tl.float32)
        mean = tl.sum(x, axis=0) / cols
        centered = tl.where(valid, x - mean, 0.0)
        rstd = 1.0 / tl.sqrt(tl.sum(centered * centered, axis=0) / cols + eps)
        shift = tl.load(shift_ptr + sample * shift_stride + offsets, mask=valid, other=0.0)
        scale = tl.load(scale_ptr + sample * scale_stride + offsets, mask=valid, other=0.0)
        out = centered * rstd * (1.0 + scale.to(tl.float32)) + shift.to(tl.float32)
        tl.store(out_ptr + row * cols + offsets, out.to(out_ptr.dtype.element_ty), mask=valid)
        tl.store(mean_ptr + row, mean)
        tl.store(rstd_ptr + row, rstd)

    @triton.jit
    def modulated_layer_norm_backward(
        x_ptr, scale_ptr, grad_out_ptr, mean_ptr, rstd_ptr, grad_x_ptr, grad_scale_rows_ptr,
        cols, rows_per_sample, scale_stride,
        BLOCK: tl.constexpr,
    ):  # fmt: skip
        row = tl.program_id(0)
        sample = row // rows_per_sample
        offsets = tl.arange(0, BLOCK)
        valid = offsets < cols
        x = tl.load(x_ptr + row * cols + offsets, mask=valid, other=0.0).to(tl.float32)
        grad_out = tl.load(grad_out_ptr + row * cols + offsets, mask=valid, other=0.0)
        grad_out = grad_out.to(tl.float32)
        scale = tl.load(scale_ptr + sample * scale_stride + offsets, mask=valid, other=0.0)
        mean = tl.load(mean_ptr + row)
        rstd = tl.load(rstd_ptr + row)
        normed = tl.where(valid, (x - mean) * rstd, 0.0)
        grad_normed = grad_out * (1.0 + scale.to(tl.float32))
        grad_x = rstd * (
            grad_normed
            - tl.sum(grad_normed, axis=0) / cols
            - normed * (tl.sum(grad_normed * normed, axis=0) / cols)
        )
        tl.store(grad_x_ptr + row * cols + offsets, grad_x, mask=valid)
        tl.store(grad_scale_rows_ptr + row * cols + offsets, grad_out * normed, mask=valid)

    @triton.jit
    def rms_norm_forward(
        x_ptr, weight_ptr, out_ptr, rstd_ptr, rows, cols, eps,
        ROWS: tl.constexpr, BLOCK: tl.constexpr,
    ):  # fmt: skip
        row_ids = tl.program_id(0) * ROWS + tl.arange(0, ROWS)
        row = row_ids[:, None]
        col = tl.arange(0, BLOCK)[None, :]
        valid = (row < rows) & (col < cols)
        x = tl.load(x_ptr + row * cols + col, mask=valid, other=0.0).to(tl.float32)
        rstd = 1.0 / tl.sqrt(tl.sum(x * x, axis=1) / cols + eps)  # [ROWS]
        # Rounded to x's dtype before the weight, as the reference's `.to(input_dtype)`.
        normed = (x * rstd[:, None]).to(x_ptr.dtype.element_ty).to(tl.float32)
        weight = tl.load(weight_ptr + col, mask=col < cols, other=0.0).to(tl.float32)
        tl.store(out_ptr + row * cols + col, (normed * weight).to(out_ptr.dtype.element_ty),
                 mask=valid)  # fmt: skip
        tl.store(rstd_ptr + row_ids, rstd, mask=row_ids < rows)

    @triton.jit
    def rms_norm_backward(
        x_ptr, weight_ptr, grad_out_ptr, rstd_ptr, grad_x_ptr, grad_weight_rows_ptr, rows, cols,
        ROWS: tl.constexpr, BLOCK: tl.constexpr,
    ):  # fmt: skip
        row_ids = tl.program_id(0) * ROWS + tl.arange(0, ROWS)
        row = row_ids[:, None]
        col = tl.arange(0, BLOCK)[None, :]
        valid = (row < rows) & (col < cols)
        x = tl.load(x_ptr + row * cols + col, mask=valid, other=0.0).to(tl.float32)
        grad_out = tl.load(grad_out_ptr + row * cols + col, mask=valid, other=0.0)
        grad_out = grad_out.to(tl.float32)
        weight = tl.load(weight_ptr + col, mask=col < cols, other=0.0).to(tl.float32)
        rstd = tl.load(rstd_ptr + row_ids, mask=row_ids < rows, other=0.0)[:, None]
        normed = x * rstd
        grad_normed = grad_out * weight
        grad_x = rstd * (
            grad_normed - normed * (tl.sum(grad_normed * normed, axis=1) / cols)[:, None]
        )
        tl.store(grad_x_ptr + row * cols + col, grad_x, mask=valid)
        rounded = normed.to(x_ptr.dtype.element_ty).to(tl.float32)
        tl.store(grad_weight_rows_ptr + row * cols + col, grad_out * rounded, mask=valid)

    return SimpleNamespace(
        next_power_of_2=triton.next_power_of_2,
        cdiv=triton.cdiv,
        modulated_layer_norm_forward=modulated_layer_norm_forward,
        modulated_layer_norm_backward=modulated_layer_norm_backward,
        rms_norm_forward=rms_norm_forward,
        rms_norm_backward=rms_norm_backward,
    )


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
            BLOCK=k.next_power_of_2(cols),
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
            BLOCK=k.next_power_of_2(cols),
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
        k.rms_norm_forward[(k.cdiv(rows, _RMS_ROWS),)](
            flat, weight, out, rstd, rows, cols, eps,
            ROWS=_RMS_ROWS, BLOCK=k.next_power_of_2(cols),
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
        k.rms_norm_backward[(k.cdiv(rows, _RMS_ROWS),)](
            flat, weight, grad_out, rstd, grad_x, grad_weight_rows, rows, cols,
            ROWS=_RMS_ROWS, BLOCK=k.next_power_of_2(cols),
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
