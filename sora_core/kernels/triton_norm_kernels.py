"""The Triton kernels behind `triton_norms` (imported by it on first use only).

Helpers called from kernels must be module globals: that is where Triton looks them up.
"""

import triton
import triton.language as tl

# Rows of the head-dim RMSNorm handled by one program (head dims are small: 64-128).
RMS_ROWS = 16


@triton.jit
def load_row(ptr, row, cols, BLOCK: tl.constexpr):
    """Row `row` of a contiguous `[rows, cols]` tensor in fp32, zero past `cols`."""
    offsets = tl.arange(0, BLOCK)
    valid = offsets < cols
    values = tl.load(ptr + row * cols + offsets, mask=valid, other=0.0).to(tl.float32)
    return offsets, valid, values


@triton.jit
def load_rows(ptr, rows, cols, ROWS: tl.constexpr, BLOCK: tl.constexpr):
    """This program's `ROWS` rows of a contiguous `[rows, cols]` tensor in fp32."""
    row_ids = tl.program_id(0) * ROWS + tl.arange(0, ROWS)
    row, col = row_ids[:, None], tl.arange(0, BLOCK)[None, :]
    valid = (row < rows) & (col < cols)
    values = tl.load(ptr + row * cols + col, mask=valid, other=0.0).to(tl.float32)
    return row_ids, row, col, valid, values


@triton.jit
def modulated_layer_norm_forward(
    x_ptr, shift_ptr, scale_ptr, out_ptr, mean_ptr, rstd_ptr,
    cols, rows_per_sample, shift_stride, scale_stride, eps,
    BLOCK: tl.constexpr,
):  # fmt: skip
    row = tl.program_id(0)
    sample = row // rows_per_sample
    offsets, valid, x = load_row(x_ptr, row, cols, BLOCK)
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
    offsets, valid, x = load_row(x_ptr, row, cols, BLOCK)
    _, _, grad_out = load_row(grad_out_ptr, row, cols, BLOCK)
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
    row_ids, row, col, valid, x = load_rows(x_ptr, rows, cols, ROWS, BLOCK)
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
    row_ids, row, col, valid, x = load_rows(x_ptr, rows, cols, ROWS, BLOCK)
    _, _, _, _, grad_out = load_rows(grad_out_ptr, rows, cols, ROWS, BLOCK)
    weight = tl.load(weight_ptr + col, mask=col < cols, other=0.0).to(tl.float32)
    rstd = tl.load(rstd_ptr + row_ids, mask=row_ids < rows, other=0.0)[:, None]
    normed = x * rstd
    grad_normed = grad_out * weight
    grad_x = rstd * (grad_normed - normed * (tl.sum(grad_normed * normed, axis=1) / cols)[:, None])
    tl.store(grad_x_ptr + row * cols + col, grad_x, mask=valid)
    rounded = normed.to(x_ptr.dtype.element_ty).to(tl.float32)
    tl.store(grad_weight_rows_ptr + row * cols + col, grad_out * rounded, mask=valid)
