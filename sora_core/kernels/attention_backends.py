"""Attention behind one dispatch: torch SDPA by default, flash-attn where it can run, and the
reference's explicit softmax ("math") for checking the others.

Backends
- ``"sdpa"``: `torch.nn.functional.scaled_dot_product_attention` (any device, any dtype).
- ``"flash"``: flash-attn's `flash_attn_func` / `flash_attn_varlen_func`; only on CUDA in
  fp16/bf16 with the package installed, otherwise the call falls back to SDPA.
- ``"auto"``: flash where it can run, SDPA elsewhere.
- ``"math"``: `softmax((q * d**-0.5) @ kᵀ)` in fp32, as the reference's non-flash path.
"""

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from .optional import importable

BACKENDS = ("auto", "sdpa", "flash", "math")
_FLASH_DTYPES = (torch.float16, torch.bfloat16)


def flash_attn_available() -> bool:
    """True when the optional `flash_attn` package can be imported."""
    return importable("flash_attn")


def check_backend(name: str) -> str:
    """Validate an attention backend name."""
    if name not in BACKENDS:
        raise ConfigError(f"attention backend: unknown value {name!r}; expected one of {BACKENDS}")
    return name


def resolve_backend(requested: str, device: torch.device, dtype: torch.dtype) -> str:
    """The backend that will actually run for tensors on `device` in `dtype`."""
    check_backend(requested)
    if requested in ("flash", "auto"):
        runnable = device.type == "cuda" and dtype in _FLASH_DTYPES and flash_attn_available()
        return "flash" if runnable else "sdpa"
    return requested


def _math_attention(q, k, v, scale, bias=None):
    # The reference's path: scale q first, scores and softmax in fp32, cast back before @ v.
    scores = (q * scale) @ k.transpose(-2, -1)
    scores = scores.float()
    if bias is not None:
        scores = scores + bias
    weights = scores.softmax(dim=-1).to(q.dtype)
    return weights @ v


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, backend: str = "sdpa"):
    """Multi-head self-attention: q, k, v `[B, h, N, d]` -> `[B, h, N, d]`, scale `d**-0.5`."""
    scale = q.shape[-1] ** -0.5
    chosen = resolve_backend(backend, q.device, q.dtype)
    if chosen == "flash":
        from flash_attn import flash_attn_func

        out = flash_attn_func(
            q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), softmax_scale=scale
        )
        return out.transpose(1, 2)
    if chosen == "math":
        return _math_attention(q, k, v, scale)
    return F.scaled_dot_product_attention(q, k, v, scale=scale)


def _padded_keys(kv: torch.Tensor, kv_lens: list[int]) -> torch.Tensor:
    """Packed `[sum(L), h, d]` -> zero-padded `[B, h, max(L), d]`."""
    longest = max(kv_lens)
    rows = [
        F.pad(part, (0, 0, 0, 0, 0, longest - part.shape[0])) for part in kv.split(kv_lens, dim=0)
    ]
    return torch.stack(rows).transpose(1, 2)


def packed_cross_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    kv_lens: list[int],
    backend: str = "sdpa",
) -> torch.Tensor:
    """Each sample's queries attend only to its own caption tokens (block-diagonal attention).

    q `[B, N, h, d]`; k, v packed `[sum(kv_lens), h, d]` with `kv_lens[b]` valid tokens of
    sample b, in batch order. Returns `[B, N, h, d]`.
    """
    batch, tokens, heads, head_dim = q.shape
    scale = head_dim**-0.5
    chosen = resolve_backend(backend, q.device, q.dtype)
    if chosen == "flash":
        from flash_attn import flash_attn_varlen_func

        lens = torch.tensor(kv_lens, device=q.device, dtype=torch.int32)
        cu_k = F.pad(lens.cumsum(0, dtype=torch.int32), (1, 0))
        cu_q = torch.arange(0, (batch + 1) * tokens, tokens, device=q.device, dtype=torch.int32)
        out = flash_attn_varlen_func(
            q.reshape(batch * tokens, heads, head_dim),
            k,
            v,
            cu_seqlens_q=cu_q,
            cu_seqlens_k=cu_k,
            max_seqlen_q=tokens,
            max_seqlen_k=max(kv_lens),
            softmax_scale=scale,
        )
        return out.view(batch, tokens, heads, head_dim)

    # Padded form: keys beyond a sample's length get -inf, which equals the packed kernel.
    keys, values = _padded_keys(k, kv_lens), _padded_keys(v, kv_lens)
    valid = (
        torch.arange(keys.shape[2], device=q.device)[None]
        < torch.tensor(kv_lens, device=q.device)[:, None]
    )  # [B, Lmax]
    queries = q.transpose(1, 2)
    if chosen == "math":
        bias = torch.zeros(valid.shape, device=q.device).masked_fill(~valid, float("-inf"))
        out = _math_attention(queries, keys, values, scale, bias[:, None, None, :])
    else:
        out = F.scaled_dot_product_attention(
            queries, keys, values, attn_mask=valid[:, None, None, :], scale=scale
        )
    return out.transpose(1, 2)
