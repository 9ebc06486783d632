"""Import the reference's own STDiT3 (hpcaitech Open-Sora v1.2.0) on a CPU, for benchmarks.

The reference tree is fetched by the user (never committed): `git archive v1.2.0 opensora`
of hpcaitech/Open-Sora, extracted to a folder. Its model file imports packages that need a
GPU or are not dependencies here (xformers, timm, rotary-embedding-torch, mmengine,
colossalai); small stand-ins with the same arithmetic are installed in `sys.modules` first:

- xformers' `memory_efficient_attention` with a `BlockDiagonalMask`: one fused SDPA call per
  block (the fastest CPU equivalent of xformers' fused kernel, so the reference is not slowed);
- timm's `Mlp` (fc1, act, fc2) and `DropPath` (identity at inference);
- rotary-embedding-torch's `RotaryEmbedding.rotate_queries_or_keys` (interleaved pairs);
- the registry and checkpoint loader, which a forward never calls.
The reference's own packages' `__init__` files are not run (they import every model).
"""

import importlib
import sys
import types
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F


def _module(name: str, **attributes) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    sys.modules[name] = module
    return module


class _BlockDiagonalMask:
    def __init__(self, q_lens: list[int], kv_lens: list[int]):
        self.q_lens, self.kv_lens = list(q_lens), list(kv_lens)

    @classmethod
    def from_seqlens(cls, q_seqlen, kv_seqlen=None):
        return cls(q_seqlen, kv_seqlen if kv_seqlen is not None else q_seqlen)


def _memory_efficient_attention(q, k, v, p=0.0, attn_bias=None):
    """xformers layout `[1, M, h, d]`; block-diagonal over the mask's sequence lengths."""
    heads_first = [t.transpose(1, 2) for t in (q, k, v)]  # [1, h, M, d]
    if attn_bias is None:
        return F.scaled_dot_product_attention(*heads_first).transpose(1, 2).contiguous()
    q_parts = heads_first[0].split(attn_bias.q_lens, dim=2)
    k_parts = heads_first[1].split(attn_bias.kv_lens, dim=2)
    v_parts = heads_first[2].split(attn_bias.kv_lens, dim=2)
    outs = [F.scaled_dot_product_attention(*parts) for parts in zip(q_parts, k_parts, v_parts)]
    return torch.cat(outs, dim=2).transpose(1, 2).contiguous()  # xformers' output layout


class _Mlp(nn.Module):
    def __init__(self, in_features, hidden_features=None, out_features=None, act_layer=None,
                 drop=0.0, **_):  # fmt: skip
        super().__init__()
        hidden_features = hidden_features or in_features
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = act_layer()  # the reference passes `approx_gelu`, a factory
        self.fc2 = nn.Linear(hidden_features, out_features or in_features)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class _RotaryEmbedding(nn.Module):
    """rotary-embedding-torch 0.5's default (lang) frequencies, interleaved rotation."""

    def __init__(self, dim, theta=10000):
        super().__init__()
        freqs = 1.0 / (theta ** (torch.arange(0, dim, 2)[: dim // 2].float() / dim))
        self.freqs = nn.Parameter(freqs, requires_grad=False)

    def rotate_queries_or_keys(self, t, seq_dim=-2):
        seq_len = t.shape[seq_dim]
        positions = torch.arange(seq_len, device=t.device, dtype=self.freqs.dtype)
        freqs = torch.einsum("i,j->ij", positions, self.freqs).repeat_interleave(2, dim=-1)
        pairs = t.unflatten(-1, (-1, 2))
        rotated = torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)
        return (t * freqs.cos() + rotated * freqs.sin()).to(t.dtype)


def _install_stand_ins(root: Path) -> None:
    xformers = _module("xformers")
    ops = _module("xformers.ops", memory_efficient_attention=_memory_efficient_attention)
    ops.fmha = _module("xformers.ops.fmha", BlockDiagonalMask=_BlockDiagonalMask)
    xformers.ops = ops
    _module("timm")
    _module("timm.models")
    _module("timm.models.vision_transformer", Mlp=_Mlp)
    _module("timm.models.layers", DropPath=lambda rate: nn.Identity())
    _module("rotary_embedding_torch", RotaryEmbedding=_RotaryEmbedding)

    class _Registry:
        def register_module(self, *args, **kwargs):
            return lambda fn: fn

    _module("opensora.registry", MODELS=_Registry())
    _module("opensora.utils")
    _module("opensora.utils.ckpt_utils", load_checkpoint=None)
    # Packages whose __init__ would import every model: namespace shells over the tree.
    for package in ("opensora", "opensora.models", "opensora.models.layers",
                    "opensora.models.stdit", "opensora.acceleration"):  # fmt: skip
        shell = _module(package)
        shell.__path__ = [str(root.joinpath(*package.split(".")))]


def reference_stdit3(root: "str | Path", **config) -> nn.Module:
    """The reference's `STDiT3` built from `STDiT3Config(**config)`, in eval mode."""
    root = Path(root)
    if not (root / "opensora" / "models" / "stdit" / "stdit3.py").is_file():
        raise FileNotFoundError(
            f"--reference {root}: expected an Open-Sora v1.2.0 tree with "
            "opensora/models/stdit/stdit3.py"
        )
    _install_stand_ins(root)
    stdit3 = importlib.import_module("opensora.models.stdit.stdit3")
    return stdit3.STDiT3(stdit3.STDiT3Config(**config)).eval()
