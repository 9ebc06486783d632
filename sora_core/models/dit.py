"""DiT and Latte (the v1.2.0 tree's `opensora/models/dit` and `latte`): adaLN-Zero blocks
conditioned on timestep + class label (`condition="label_N"`) or timestep + pooled CLIP
caption (`condition="text"`), fixed square sin-cos tables for one `input_size`.

DiT attends over every token of the clip at once; Latte alternates spatial (within-frame)
and temporal (across-frame) blocks.
"""

import math

import torch
import torch.nn as nn

from ..errors import ConfigError, PromptError, VideoShapeError
from .base import SHARED_DEFAULTS, TransformerBase
from .layers import (
    Attention,
    CaptionEmbedder,
    FinalLayer,
    LabelEmbedder,
    LayerNorm,
    Linear,
    Mlp,
    from_temporal_tokens,
    sincos_1d,
    sincos_2d,
    spatial_tokens,
    temporal_tokens,
    token_grid,
)

DIT_DEFAULTS = {
    **{k: v for k, v in SHARED_DEFAULTS.items() if k not in ("pred_sigma", "drop_path")},
    "input_size": (16, 32, 32),
    "learn_sigma": True,
    "condition": "text",
    "no_temporal_pos_emb": False,
    "caption_channels": 512,
    "model_max_length": 77,
    "dtype": torch.float32,
}


def num_classes(condition: str) -> "int | None":
    """`"label_1000"` -> 1000; `"text"` -> None (caption-conditioned)."""
    if condition == "text":
        return None
    prefix, _, count = condition.partition("_")
    if prefix != "label" or not count.isdigit() or int(count) < 1:
        raise ConfigError(
            f"condition: {condition!r}; expected 'text' or 'label_N' with N classes (e.g. "
            "'label_1000' for ImageNet, 'label_101' for UCF101)"
        )
    return int(count)


class AdaLNZeroBlock(nn.Module):
    """DiT's block: self-attention and MLP, each modulated and gated by `adaLN_modulation(c)`."""

    def __init__(self, hidden_size: int, num_heads: int, mlp_ratio: float, backend: str):
        super().__init__()
        # The reference normalises in fp32 whatever the compute dtype.
        self.norm1 = LayerNorm(fp32=True)
        self.attn = Attention(hidden_size, num_heads, backend=backend)
        self.norm2 = LayerNorm(fp32=True)
        self.mlp = Mlp(hidden_size, int(hidden_size * mlp_ratio))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), Linear(hidden_size, 6 * hidden_size))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        # x [B', N', C]; c [B', C]
        chunks = self.adaLN_modulation(c)[:, None].chunk(6, dim=-1)  # each [B', 1, C]
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = chunks
        x = x + gate_msa * self.attn(self.norm1.modulated(x, shift_msa, scale_msa))
        return x + gate_mlp * self.mlp(self.norm2.modulated(x, shift_mlp, scale_mlp))


class DiT(TransformerBase):
    """DiT (`DiT-XL/2`, `DiT-XL/2x2`) for one fixed latent `input_size`."""

    release = "1.2"  # samplers as in the v1.2.0 tree these models come from
    DEFAULTS = DIT_DEFAULTS
    SIGMA_KEY = "learn_sigma"
    takes_frame_mask = False  # no conditioning frames (x_mask)

    def __init__(self, **config):
        super().__init__(**config)
        c = self.config
        if c["enable_sequence_parallelism"]:
            raise ConfigError("enable_sequence_parallelism: not supported by DiT / Latte")
        hidden = c["hidden_size"]
        self.num_classes = num_classes(c["condition"])
        self.grid = tuple(size // patch for size, patch in zip(c["input_size"], self.patch_size))
        self._check_square()
        self.register_buffer("pos_embed_spatial", sincos_2d(hidden, self.grid[1:]))
        self.register_buffer("pos_embed_temporal", sincos_1d(hidden, self.grid[0]))
        if self.num_classes is None:
            # One pooled CLIP token per prompt.
            self.y_embedder = CaptionEmbedder(
                c["caption_channels"], hidden, c["class_dropout_prob"], 1
            )
        else:
            self.y_embedder = LabelEmbedder(self.num_classes, hidden, c["class_dropout_prob"])
        self.blocks = nn.ModuleList(
            AdaLNZeroBlock(hidden, c["num_heads"], c["mlp_ratio"], self.default_backend)
            for _ in range(c["depth"])
        )
        self.final_layer = FinalLayer(hidden, math.prod(self.patch_size), self.out_channels)

    def _check_square(self) -> None:
        if self.grid[1] != self.grid[2]:
            raise ConfigError(
                f"input_size: {self.config['input_size']} — DiT and Latte take square latents "
                "only (their sin-cos table is built for input_size[1] in both directions)"
            )

    def reset_position_tables(self) -> None:
        """Recompute the sin-cos buffers (checkpoint loaders drop the stored ones)."""
        self._check_square()
        device, dtype = self.x_embedder.proj.weight.device, self.compute_dtype
        self.pos_embed_spatial = sincos_2d(self.hidden_size, self.grid[1:]).to(device, dtype)
        self.pos_embed_temporal = sincos_1d(self.hidden_size, self.grid[0]).to(device, dtype)

    def condition_embedding(self, y: torch.Tensor, batch: int) -> torch.Tensor:
        """Class ids `[B]` or pooled captions `[B, 1, 1, Cc]` -> `[B, C]`."""
        name = type(self).__name__
        if self.num_classes is not None:
            y = torch.as_tensor(y, device=self.pos_embed_spatial.device).reshape(-1)
            if y.shape[0] != batch or y.is_floating_point():
                raise VideoShapeError(
                    f"{name}: y must hold {batch} integer class ids, got {tuple(y.shape)} {y.dtype}"
                )
            if int(y.min()) < 0 or int(y.max()) >= self.y_embedder.embedding_table.num_embeddings:
                raise PromptError(
                    f"{name}: class ids {y.tolist()} out of range: labels are 0..."
                    f"{self.num_classes - 1}, the null class is {self.num_classes}"
                )
            return self.y_embedder(y, self.training)
        channels = self.config["caption_channels"]
        if y.shape[0] != batch or y[0].numel() != channels:
            raise VideoShapeError(
                f"{name}: y has shape {tuple(y.shape)}; expected [{batch}, 1, 1, {channels}] "
                "(one pooled CLIP embedding per sample)"
            )
        y = y.reshape(batch, 1, 1, channels).to(self.compute_dtype)
        return self.y_embedder(y, self.training).reshape(batch, -1)

    def embed(self, x, timestep, y) -> tuple:
        """Tokens with position tables `[B, T, S, C]`, the condition `[B, C]` and the grid."""
        x, timestep = self.prepare_latent(x, timestep)
        grid = token_grid(x.shape, self.patch_size)
        self.check_grid(grid, self.grid, x.shape)
        batch, (frames, rows, cols) = x.shape[0], grid
        tokens = self.x_embedder(x).view(batch, frames, rows * cols, -1) + self.pos_embed_spatial
        condition = self.t_embedder(timestep, x.dtype) + self.condition_embedding(y, batch)
        return tokens, condition, grid

    def forward(self, x, timestep, y, **unused):
        """`[B, Cout, T, H, W]` for latent `x` `[B, Cin, T, H, W]` of exactly `input_size`.

        `y`: int64 class ids `[B]` (null class = `num_classes`) or pooled captions
        `[B, 1, 1, Cc]`. Keyword arguments samplers pass for other models (mask, ...) are unused.
        """
        tokens, condition, grid = self.embed(x, timestep, y)
        if not self.config["no_temporal_pos_emb"]:
            tokens = tokens + self.pos_embed_temporal[:, :, None]
        tokens = tokens.flatten(1, 2)
        for block in self.blocks:
            tokens = self.run_block(block, tokens, condition)
        tokens = self.final_layer(tokens, condition)
        return self.to_latent(tokens, grid, x.shape[2:])


class Latte(DiT):
    """Latte (`Latte-XL/2`): even blocks attend within frames, odd blocks across frames; the
    temporal table is added once, before the first temporal block."""

    def forward(self, x, timestep, y, **unused):
        """Same inputs as `DiT.forward`; `no_temporal_pos_emb` is ignored, as in the reference."""
        tokens, condition, grid = self.embed(x, timestep, y)
        frames, spatial = grid[0], grid[1] * grid[2]
        batch = tokens.shape[0]
        tokens = tokens.flatten(1, 2)
        per_frame = condition.repeat_interleave(frames, dim=0)  # [(B T), C]
        per_position = condition.repeat_interleave(spatial, dim=0)  # [(B S), C]
        for index, block in enumerate(self.blocks):
            if index % 2 == 0:
                within = spatial_tokens(tokens, frames)
                tokens = self.run_block(block, within, per_frame).reshape(tokens.shape)
            else:
                across = temporal_tokens(tokens, frames)
                if index == 1:
                    across = across + self.pos_embed_temporal
                tokens = from_temporal_tokens(self.run_block(block, across, per_position), batch)
        tokens = self.final_layer(tokens, condition)
        return self.to_latent(tokens, grid, x.shape[2:])
