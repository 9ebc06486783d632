"""Layers shared by STDiT (1.0), STDiT2 (1.1), STDiT3 (1.2), DiT, Latte and PixArt, written once.

Module and parameter names follow Open-Sora's, so released state dicts load unchanged.
Shapes: `B` batch, `T` frames, `S` spatial tokens per frame, `N = T*S`, `C` hidden size,
`L` caption tokens, `h` heads, `d = C/h` head dim.
"""

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ConfigError
from ..kernels import (
    attention,
    check_backend,
    layer_norm,
    modulated_layer_norm,
    packed_cross_attention,
    rms_norm,
)


# --- weight-storage aware primitives --------------------------------------------------------
def cast_like(tensor: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """`tensor` on `x`'s device in `x`'s dtype (a no-op when it is already there).

    Weights may rest elsewhere than the activations: stored in fp8, left in CPU memory by
    ComfyUI's partial (low-VRAM) loading, or streamed by block swap."""
    return tensor.to(device=x.device, dtype=x.dtype)


class CastOnUse:
    """ComfyUI's cast-on-use layer contract (`comfy.ops.CastWeightBiasOp`).

    `ModelPatcher` treats a module with `comfy_cast_weights` as one it may leave in CPU
    memory under `--lowvram`/`--novram` (setting the flag) and give `weight_function` /
    `bias_function` patches (LoRA on unloaded weights). The layer always brings its weight
    and bias to the input's device and dtype, then applies the patches.
    """

    comfy_cast_weights = False
    weight_function: list = []
    bias_function: list = []

    def cast_weights(self, x: torch.Tensor) -> "tuple[torch.Tensor, torch.Tensor | None]":
        """Weight and bias on `x`'s device in `x`'s dtype, patched."""
        weight = cast_like(self.weight, x)
        for patch in self.weight_function:
            weight = patch(weight)
        bias = None
        if self.bias is not None:
            bias = cast_like(self.bias, x)
            for patch in self.bias_function:
                bias = patch(bias)
        return weight, bias


class Linear(CastOnUse, nn.Linear):
    """`nn.Linear` computing in the input's dtype and device (weights in fp8 or elsewhere)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, *self.cast_weights(x))


class Conv2d(CastOnUse, nn.Conv2d):
    """`nn.Conv2d` computing in the input's dtype and device (weights in fp8 or elsewhere)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, *self.cast_weights(x))


class Conv3d(CastOnUse, nn.Conv3d):
    """`nn.Conv3d` computing in the input's dtype and device (weights in fp8 or elsewhere)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, *self.cast_weights(x))


class GroupNorm(CastOnUse, nn.GroupNorm):
    """`nn.GroupNorm` whose affine weights are cast to the input's dtype and device."""

    def cast_weights(self, x: torch.Tensor) -> "tuple[torch.Tensor | None, torch.Tensor | None]":
        return super().cast_weights(x) if self.affine else (None, None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.group_norm(x, self.num_groups, *self.cast_weights(x), self.eps)


# torch layers and their cast-on-use twins (same parameters, same arithmetic).
CAST_ON_USE_TWINS = {
    nn.Linear: Linear,
    nn.Conv2d: Conv2d,
    nn.Conv3d: Conv3d,
    nn.GroupNorm: GroupNorm,
}


def make_cast_on_use(module: nn.Module) -> nn.Module:
    """Turn every plain Linear, Conv2d, Conv3d and GroupNorm inside `module` (built by other
    code, e.g. diffusers) into its cast-on-use twin in place; returns `module`."""
    for layer in module.modules():
        twin = CAST_ON_USE_TWINS.get(type(layer))
        if twin is not None:
            layer.__class__ = twin
    return module


# Layers whose weight fp8 storage keeps in 8 bits (cast per call); the rest stays in bf16.
FP8_WEIGHT_LAYERS = (Linear, Conv2d, Conv3d)


class LayerNorm(nn.Module):
    """Affine-free LayerNorm (eps 1e-6); `fp32=True` upcasts like the fused kernel."""

    def __init__(self, eps: float = 1e-6, fp32: bool = False):
        super().__init__()
        self.eps, self.fp32 = eps, fp32

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return layer_norm(x, self.eps, self.fp32)

    def modulated(self, x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor):
        """`modulate(self(x), shift, scale)`, one fused kernel where one runs."""
        return modulated_layer_norm(x, shift, scale, self.eps, self.fp32)


class RMSNorm(nn.Module):
    """LlamaRMSNorm over the head dim (q/k norm)."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rms_norm(x, self.weight, self.eps)


def drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth: drop whole samples' residual branches while training."""
    if rate == 0.0 or not training:
        return x
    keep = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(1.0 - rate)
    return x * keep / (1.0 - rate)


# --- modulation -----------------------------------------------------------------------------
def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """PixArt's `x * (1 + scale) + shift`; shift, scale `[B, 1, C]`."""
    return x * (1 + scale) + shift


def modulation(table: torch.Tensor, t_mlp: torch.Tensor, chunks: int) -> tuple:
    """`(table[None] + t_mlp.view(B, chunks, C)).chunk(chunks)`: each `[B, 1, C]`."""
    return (table[None] + t_mlp.reshape(t_mlp.shape[0], chunks, -1)).chunk(chunks, dim=1)


def select_frames(
    x_mask: torch.Tensor, real: torch.Tensor, zero: torch.Tensor, frames: int
) -> torch.Tensor:
    """Per frame, `real` where `x_mask` is True (generated) else `zero` (conditioning frame)."""
    batch, tokens, channels = real.shape
    shape = (batch, frames, tokens // frames, channels)
    chosen = torch.where(x_mask[:, :, None, None], real.view(shape), zero.view(shape))
    return chosen.view(batch, tokens, channels)


@dataclass
class BlockContext:
    """What every block of one forward shares: captions, token grid and conditioning frames."""

    captions: torch.Tensor  # [1, sum(caption_lens), C]
    caption_lens: list[int]
    frames: int  # T
    spatial: int  # S
    x_mask: "torch.Tensor | None" = None  # [B, T] bool, False = conditioning frame


def gated_residual(
    x: torch.Tensor,
    branch,
    norm: nn.Module,
    mod: tuple,
    mod_zero: "tuple | None",
    ctx: BlockContext,
    drop_rate: float = 0.0,
    training: bool = False,
) -> torch.Tensor:
    """`x + gate * branch(modulate(norm(x), shift, scale))` with timestep-0 modulation on
    conditioning frames; the branch runs once on the per-frame mixed input."""
    shift, scale, gate = mod
    if ctx.x_mask is None:
        h = norm.modulated(x, shift, scale)
    else:
        shift0, scale0, gate0 = mod_zero
        normed = norm(x)
        h = modulate(normed, shift, scale)
        h = select_frames(ctx.x_mask, h, modulate(normed, shift0, scale0), ctx.frames)
    h = branch(h)
    out = gate * h
    if ctx.x_mask is not None:
        out = select_frames(ctx.x_mask, out, gate0 * h, ctx.frames)
    return x + drop_path(out, drop_rate, training)


def spatial_tokens(x: torch.Tensor, frames: int) -> torch.Tensor:
    """`[B, T*S, C]` -> `[B*T, S, C]` (attention within each frame)."""
    batch, tokens, channels = x.shape
    return x.reshape(batch * frames, tokens // frames, channels)


def temporal_tokens(x: torch.Tensor, frames: int) -> torch.Tensor:
    """`[B, T*S, C]` -> `[B*S, T, C]` (attention across frames at each position)."""
    batch, tokens, channels = x.shape
    grid = x.view(batch, frames, tokens // frames, channels).transpose(1, 2)
    return grid.reshape(-1, frames, channels)


def from_temporal_tokens(x: torch.Tensor, batch: int) -> torch.Tensor:
    """`[B*S, T, C]` -> `[B, T*S, C]`."""
    _, frames, channels = x.shape
    return x.view(batch, -1, frames, channels).transpose(1, 2).reshape(batch, -1, channels)


# --- attention ------------------------------------------------------------------------------
class RotaryEmbedding(nn.Module):
    """Interleaved RoPE over the sequence axis (rotary-embedding-torch's layout).

    `freqs` is a frozen parameter because the released checkpoints store it (`rope.freqs`).
    """

    def __init__(self, dim: int, theta: float = 10000.0):
        super().__init__()
        freqs = 1.0 / theta ** (torch.arange(0, dim, 2)[: dim // 2].float() / dim)
        self.freqs = nn.Parameter(freqs, requires_grad=False)

    def rotate(self, x: torch.Tensor) -> torch.Tensor:
        """Rotate `[..., T, d]` by position along T (positions start at 0)."""
        positions = torch.arange(x.shape[-2], device=x.device, dtype=x.dtype)
        freqs = self.freqs.to(x.device)
        angles = positions.to(freqs.dtype)[:, None] * freqs[None]  # [T, d/2]
        angles = angles.repeat_interleave(2, dim=-1)  # [a0, a0, a1, a1, ...]
        pairs = x.unflatten(-1, (-1, 2))
        rotated = torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)
        return (x * angles.cos() + rotated * angles.sin()).to(x.dtype)


class Attention(nn.Module):
    """Multi-head self-attention with optional q/k RMSNorm and RoPE.

    `qk_norm_legacy=True` applies RoPE before the norm (the order Open-Sora 1.1 was trained with).
    `kv_compress > 1` (PixArt-Σ's KV compression) pools keys and values over the token grid with
    a depthwise strided convolution and an affine LayerNorm before attending.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        qk_norm: bool = False,
        rope=None,
        qk_norm_legacy: bool = False,
        backend: str = "sdpa",
        kv_compress: int = 1,
    ):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.qkv = Linear(dim, dim * 3, bias=True)
        self.kv_compress = kv_compress
        if kv_compress > 1:
            self.sr = nn.Conv2d(dim, dim, kv_compress, stride=kv_compress, groups=dim)
            self.norm = nn.LayerNorm(dim)
        self.q_norm = RMSNorm(self.head_dim) if qk_norm else nn.Identity()
        self.k_norm = RMSNorm(self.head_dim) if qk_norm else nn.Identity()
        self.proj = Linear(dim, dim)
        # A bound method, not a submodule: the RoPE parameter lives once, at `rope.freqs`.
        self.rope = rope
        self.qk_norm_legacy = qk_norm_legacy
        self.backend = check_backend(backend)
        # Set by `acceleration.SequenceParallel.install`: this process holds 1/N of the
        # tokens; attention exchanges them for 1/N of the heads and back.
        self.sequence_parallel = None

    def _compress(self, x: torch.Tensor, grid_hw: tuple[int, int]) -> torch.Tensor:
        """`[B, H*W, C]` -> `[B, (H/s)*(W/s), C]` through the strided depthwise conv."""
        batch, _, channels = x.shape
        grid = x.reshape(batch, *grid_hw, channels).permute(0, 3, 1, 2)
        return self.norm(self.sr(grid).reshape(batch, channels, -1).transpose(1, 2))

    def _position(self, q, k):
        if self.rope is None:
            return q, k
        return self.rope(q), self.rope(k)

    def forward(self, x: torch.Tensor, grid_hw: "tuple[int, int] | None" = None) -> torch.Tensor:
        """`x` `[B, N, C]`; `grid_hw`: the token grid, needed only with `kv_compress`."""
        batch, tokens, channels = x.shape
        q, k, v = self.qkv(x).view(batch, tokens, 3, channels).unbind(2)  # each [B, N, C]
        if self.kv_compress > 1:
            k, v = self._compress(k, grid_hw), self._compress(v, grid_hw)
        q, k, v = (
            part.view(batch, -1, self.num_heads, self.head_dim).transpose(1, 2)
            for part in (q, k, v)
        )  # each [B, h, N, d]
        if self.qk_norm_legacy:
            q, k = self._position(q, k)
            q, k = self.q_norm(q), self.k_norm(k)
        else:
            q, k = self.q_norm(q), self.k_norm(k)
            q, k = self._position(q, k)
        parallel = self.sequence_parallel
        if parallel is not None:
            q, k, v = (parallel.heads_to_tokens(part) for part in (q, k, v))
        out = attention(q, k, v, self.backend)  # [B, h, N, d]
        if parallel is not None:
            out = parallel.tokens_to_heads(out)
        return self.proj(out.transpose(1, 2).reshape(batch, tokens, channels))


class MultiHeadCrossAttention(nn.Module):
    """Cross-attention from video tokens to each sample's own (packed) caption tokens."""

    def __init__(self, dim: int, num_heads: int, backend: str = "sdpa"):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.q_linear = Linear(dim, dim)
        self.kv_linear = Linear(dim, dim * 2)
        self.proj = Linear(dim, dim)
        self.backend = check_backend(backend)

    def forward(self, x: torch.Tensor, captions: torch.Tensor, caption_lens: list[int]):
        batch, tokens, channels = x.shape  # x [B, N, C]; captions [1, sum(L), C]
        q = self.q_linear(x).view(batch, tokens, self.num_heads, self.head_dim)
        kv = self.kv_linear(captions).view(-1, 2, self.num_heads, self.head_dim)
        k, v = kv.unbind(1)  # each [sum(L), h, d]
        out = packed_cross_attention(q, k, v, caption_lens, self.backend)
        return self.proj(out.reshape(batch, tokens, channels))


class Mlp(nn.Module):
    """fc1 -> GELU(tanh) -> fc2 (timm's `Mlp` key layout)."""

    def __init__(self, in_features: int, hidden_features: int, out_features: "int | None" = None):
        super().__init__()
        self.fc1 = Linear(in_features, hidden_features)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = Linear(hidden_features, out_features or in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


# --- embedders ------------------------------------------------------------------------------
def timestep_sinusoid(t: torch.Tensor, dim: int = 256, max_period: float = 10000.0):
    """`[cos | sin]` embedding of scalar values `[n]` -> `[n, dim]` in fp32 (cos first)."""
    half = dim // 2
    exponents = -math.log(max_period) * torch.arange(half, dtype=torch.float32) / half
    # exp in float64, rounded once: vectorised float32 exp differs by an ulp between CPUs,
    # which large timesteps (t * freq ~ 1000 rad) amplify to ~1e-5 in the embedding.
    freqs = torch.exp(exponents.double()).float().to(t.device)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class TimestepEmbedder(nn.Module):
    """Diffusion timestep -> `[B, C]` through the sinusoid and a 2-layer SiLU MLP."""

    def __init__(self, hidden_size: int, frequency_size: int = 256):
        super().__init__()
        self.frequency_size = frequency_size
        self.mlp = nn.Sequential(
            Linear(frequency_size, hidden_size), nn.SiLU(), Linear(hidden_size, hidden_size)
        )

    def forward(self, t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        return self.mlp(timestep_sinusoid(t, self.frequency_size).to(dtype))  # [B, C]


class SizeEmbedder(TimestepEmbedder):
    """Physical sizes (pixels, frames, fps, aspect ratio) `[n, k]` -> `[B, k*C']`.

    Rows are tiled up to the batch (`a, b, a, b`) as the CFG batch `cat([z, z])` expects.
    """

    def __init__(self, hidden_size: int, frequency_size: int = 256):
        super().__init__(hidden_size, frequency_size)
        self.out_dim = hidden_size

    def forward(self, s: torch.Tensor, batch: int, dtype: torch.dtype) -> torch.Tensor:
        s = s[:, None] if s.ndim == 1 else s
        if s.shape[0] != batch:
            s = s.repeat(batch // s.shape[0], 1)
        rows, per_row = s.shape
        emb = super().forward(s.reshape(rows * per_row), dtype)  # [rows*k, C']
        return emb.reshape(rows, per_row * self.out_dim)


class CaptionEmbedder(nn.Module):
    """T5 caption `[B, 1, L, Cc]` -> `[B, 1, L, C]`; holds the learned null caption.

    `y_embedding` `[L, Cc]` is the null caption used for classifier-free guidance; during
    training whole captions are replaced by it with probability `uncond_prob`.
    """

    def __init__(self, caption_channels: int, hidden_size: int, uncond_prob: float, tokens: int):
        super().__init__()
        self.y_proj = Mlp(caption_channels, hidden_size, hidden_size)
        self.register_buffer(
            "y_embedding", torch.randn(tokens, caption_channels) / caption_channels**0.5
        )
        self.uncond_prob = uncond_prob

    def drop(self, caption: torch.Tensor, train: bool) -> torch.Tensor:
        """Training's caption dropout: whole `[B, 1, L, Cc]` captions become the null one."""
        if train and self.uncond_prob > 0:
            drop = torch.rand(caption.shape[0], device=caption.device) < self.uncond_prob
            null = cast_like(self.y_embedding, caption)
            caption = torch.where(drop[:, None, None, None], null, caption)
        return caption

    def forward(self, caption: torch.Tensor, train: bool) -> torch.Tensor:
        return self.y_proj(self.drop(caption, train))


class LabelEmbedder(nn.Module):
    """Class ids `[B]` -> `[B, C]` (DiT / Latte); row `num_classes` is the null class used for
    classifier-free guidance, present when labels were dropped in training."""

    def __init__(self, num_classes: int, hidden_size: int, dropout_prob: float):
        super().__init__()
        self.embedding_table = nn.Embedding(num_classes + int(dropout_prob > 0), hidden_size)
        self.num_classes = num_classes
        self.dropout_prob = dropout_prob

    def forward(self, labels: torch.Tensor, train: bool) -> torch.Tensor:
        if train and self.dropout_prob > 0:
            drop = torch.rand(labels.shape[0], device=labels.device) < self.dropout_prob
            labels = torch.where(drop, self.num_classes, labels)
        return self.embedding_table(labels)


def pack_captions(y: torch.Tensor, mask: "torch.Tensor | None") -> tuple:
    """Keep each sample's valid caption tokens, concatenated: `[B, 1, L, C]` -> `[1, ΣL_b, C]`.

    A mask with fewer rows than the batch (the prompt batch under CFG) is tiled, so the null
    caption is cut at its prompt's length, as in the reference.
    """
    batch, _, tokens, channels = y.shape
    if mask is None:
        return y.reshape(1, batch * tokens, channels), [tokens] * batch
    mask = mask.reshape(-1, tokens)
    if mask.shape[0] != batch:
        mask = mask.repeat(batch // mask.shape[0], 1)
    keep = mask != 0
    packed = y.squeeze(1)[keep].reshape(1, -1, channels)
    return packed, keep.sum(dim=1).tolist()


class PatchEmbed3D(nn.Module):
    """Latent `[B, Cin, T, H, W]` -> tokens `[B, N, C]` in (t, h, w) order, end-padding odd sizes."""

    def __init__(self, patch_size: tuple, in_channels: int, hidden_size: int):
        super().__init__()
        self.patch_size = tuple(patch_size)
        self.proj = Conv3d(in_channels, hidden_size, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pt, ph, pw = self.patch_size
        _, _, frames, height, width = x.shape
        x = F.pad(x, (0, -width % pw, 0, -height % ph, 0, -frames % pt))
        return self.proj(x).flatten(2).transpose(1, 2)


def token_grid(latent_shape, patch_size) -> tuple[int, int, int]:
    """Token counts `(T, H, W)` of a latent `[B, C, Tx, Hx, Wx]` after end-padding."""
    return tuple(-(-size // patch) for size, patch in zip(latent_shape[2:], patch_size))


def unpatchify(x: torch.Tensor, grid, patch_size, out_channels: int, latent_thw) -> torch.Tensor:
    """`[B, N, pt*ph*pw*Cout]` -> `[B, Cout, Tx, Hx, Wx]` (channel fastest), cropping padding."""
    frames, rows, cols = grid
    pt, ph, pw = patch_size
    batch = x.shape[0]
    x = x.view(batch, frames, rows, cols, pt, ph, pw, out_channels)
    x = x.permute(0, 7, 1, 4, 2, 5, 3, 6)
    x = x.reshape(batch, out_channels, frames * pt, rows * ph, cols * pw)
    tx, hx, wx = latent_thw
    return x[:, :, :tx, :hx, :wx]


class FinalLayer(nn.Module):
    """DiT's final layer: LayerNorm (in fp32) modulated by `adaLN_modulation(c)`, then a linear."""

    def __init__(self, hidden_size: int, num_patch: int, out_channels: int):
        super().__init__()
        self.norm_final = LayerNorm(fp32=True)
        self.linear = Linear(hidden_size, num_patch * out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), Linear(hidden_size, 2 * hidden_size))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        # x [B, N, C]; c [B, C] (timestep + class/caption embedding)
        shift, scale = self.adaLN_modulation(c)[:, None].chunk(2, dim=-1)
        return self.linear(self.norm_final.modulated(x, shift, scale))


class T2IFinalLayer(nn.Module):
    """PixArt's final layer: modulated LayerNorm then a linear to patch pixels."""

    def __init__(self, hidden_size: int, num_patch: int, out_channels: int, fp32_norm=False):
        super().__init__()
        self.norm_final = LayerNorm(fp32=fp32_norm)
        self.linear = Linear(hidden_size, num_patch * out_channels)
        self.scale_shift_table = nn.Parameter(torch.randn(2, hidden_size) / hidden_size**0.5)

    def forward(self, x, t, x_mask=None, t0=None, frames: "int | None" = None):
        # x [B, N, C]; t, t0 [B, C] (raw embeddings, no t_block)
        table = cast_like(self.scale_shift_table, t)
        shift, scale = (table[None] + t[:, None]).chunk(2, dim=1)
        x = self.norm_final.modulated(x, shift, scale)
        if x_mask is not None:
            shift0, scale0 = (table[None] + t0[:, None]).chunk(2, dim=1)
            # The reference normalises the already-modulated x here; kept for parity.
            x = select_frames(x_mask, x, modulate(self.norm_final(x), shift0, scale0), frames)
        return self.linear(x)  # [B, N, pt*ph*pw*Cout]


# --- position embeddings --------------------------------------------------------------------
def _sincos(dim: int, positions: torch.Tensor) -> torch.Tensor:
    """`[sin | cos]` of float64 positions `[M]` -> `[M, dim]` (MAE's numpy formula).

    The tables are built on the CPU even while a model is constructed on the meta device."""
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64, device="cpu") / (dim / 2.0))
    angles = positions[:, None] * omega[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def sincos_2d(
    dim: int, grid_hw: tuple[int, int], scale: float = 1.0, base_size: "int | None" = None
) -> torch.Tensor:
    """Fixed spatial table `[1, H*W, dim]` (STDiT 1.0, DiT, PixArt): first half encodes the
    column, second the row. `base_size` (PixArt) stretches each axis to span that many tokens."""
    rows, cols = grid_hw
    # float32 grid then float64 math, as numpy does in the reference.
    row_pos = torch.arange(rows, dtype=torch.float32, device="cpu") / scale
    col_pos = torch.arange(cols, dtype=torch.float32, device="cpu") / scale
    if base_size is not None:
        row_pos, col_pos = row_pos * (base_size / rows), col_pos * (base_size / cols)
    row_pos, col_pos = row_pos.double(), col_pos.double()
    col_grid = col_pos[None].expand(rows, cols).reshape(-1)
    row_grid = row_pos[:, None].expand(rows, cols).reshape(-1)
    table = torch.cat([_sincos(dim // 2, col_grid), _sincos(dim // 2, row_grid)], dim=1)
    return table.float()[None]


def sincos_1d(dim: int, length: int, scale: float = 1.0) -> torch.Tensor:
    """STDiT 1.0 temporal table `[1, length, dim]`."""
    positions = torch.from_numpy(np.arange(0, length) / scale)
    return _sincos(dim, positions).float()[None]


class PositionEmbedding2D(nn.Module):
    """STDiT2/3 spatial sin-cos table for any grid, scaled to the trained resolution.

    No buffer: the frequencies are rebuilt per call (cheap) and rounded to the compute dtype
    where the reference's cast buffer would be.
    """

    def __init__(self, dim: int):
        super().__init__()
        if dim % 4:
            raise ConfigError(
                f"hidden_size: {dim} must be divisible by 4 for 2D position embeddings"
            )
        self.dim = dim

    def forward(self, x: torch.Tensor, rows: int, cols: int, scale: float, base_size: int):
        half = self.dim // 2
        inv_freq = 1.0 / (10000 ** (torch.arange(0, half, 2, device=x.device).float() / half))
        inv_freq = inv_freq.to(x.dtype).float()
        row_pos = torch.arange(rows, device=x.device) / scale * (base_size / rows)
        col_pos = torch.arange(cols, device=x.device) / scale * (base_size / cols)
        col_grid = col_pos[None].expand(rows, cols).reshape(-1)
        row_grid = row_pos[:, None].expand(rows, cols).reshape(-1)

        def sin_cos(pos):
            angles = pos[:, None] * inv_freq[None]
            return torch.cat([angles.sin(), angles.cos()], dim=-1)

        return torch.cat([sin_cos(col_grid), sin_cos(row_grid)], dim=-1)[None].to(x.dtype)


# --- the block every version builds on ------------------------------------------------------
def attend_spatial(attn: nn.Module, h: torch.Tensor, frames: int) -> torch.Tensor:
    """Self-attention within each frame: `[B, T*S, C]` -> same."""
    return attn(spatial_tokens(h, frames)).reshape(h.shape)


def attend_temporal(attn: nn.Module, h: torch.Tensor, frames: int) -> torch.Tensor:
    """Self-attention across frames at each spatial position: `[B, T*S, C]` -> same."""
    return from_temporal_tokens(attn(temporal_tokens(h, frames)), h.shape[0])


class DiTBlock(nn.Module):
    """Self-attention, caption cross-attention and MLP, modulated by a shared timestep
    embedding through a 6-row `scale_shift_table` (PixArt's adaLN-single)."""

    def __init__(
        self,
        hidden_size: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        backend: str = "sdpa",
        fp32_norm: bool = False,
        drop_rate: float = 0.0,
        qk_norm: bool = False,
        rope=None,
        qk_norm_legacy: bool = False,
        kv_compress: int = 1,
    ):
        super().__init__()
        self.norm1 = LayerNorm(fp32=fp32_norm)
        self.attn = Attention(
            hidden_size, num_heads, qk_norm, rope, qk_norm_legacy, backend, kv_compress
        )
        self.cross_attn = MultiHeadCrossAttention(hidden_size, num_heads, backend)
        self.norm2 = LayerNorm(fp32=fp32_norm)
        self.mlp = Mlp(hidden_size, int(hidden_size * mlp_ratio))
        self.scale_shift_table = nn.Parameter(torch.randn(6, hidden_size) / hidden_size**0.5)
        self.drop_rate = drop_rate

    def modulations(self, t_mlp: torch.Tensor, t0_mlp: "torch.Tensor | None") -> tuple:
        """Six `[B, 1, C]` chunks for the real timestep and, with x_mask, for timestep 0."""
        table = cast_like(self.scale_shift_table, t_mlp)
        real = modulation(table, t_mlp, 6)
        zero = None if t0_mlp is None else modulation(table, t0_mlp, 6)
        return real, zero

    def residual(self, x, branch, norm, mod, mod_zero, ctx: BlockContext) -> torch.Tensor:
        """`gated_residual` with this block's stochastic depth."""
        return gated_residual(x, branch, norm, mod, mod_zero, ctx, self.drop_rate, self.training)

    def cross_attention_and_mlp(self, x, mods, mods_zero, ctx: BlockContext) -> torch.Tensor:
        """The tail all versions share: caption cross-attention, then the modulated MLP."""
        x = x + self.cross_attn(x, ctx.captions, ctx.caption_lens)
        return self.residual(x, self.mlp, self.norm2, mods[3:], mods_zero and mods_zero[3:], ctx)
