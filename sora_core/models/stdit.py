"""STDiT (Open-Sora 1.0): fixed latent size with sin-cos position tables as buffers; the
temporal attention has no norm or modulation of its own and reuses the spatial gate."""

import torch

from .base import SHARED_DEFAULTS, STDiTBase
from .layers import (
    Attention,
    BlockContext,
    DiTBlock,
    attend_spatial,
    cast_like,
    drop_path,
    from_temporal_tokens,
    sincos_1d,
    sincos_2d,
    temporal_tokens,
    token_grid,
)

STDIT_DEFAULTS = {
    **SHARED_DEFAULTS,
    "input_size": (1, 32, 32),
    "no_temporal_pos_emb": False,
    "model_max_length": 120,
    "dtype": torch.float32,
    "space_scale": 1.0,
    "time_scale": 1.0,
    "freeze": None,
}


class STDiTBlock(DiTBlock):
    """Spatial attention, un-normalised temporal attention (spatial gate), then the tail."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.attn_temp = Attention(
            kwargs["hidden_size"], kwargs["num_heads"], backend=kwargs["backend"]
        )

    def forward(self, x, t_mlp, t0_mlp, ctx: BlockContext, temporal_pos=None):
        # x [B, N, C]; t_mlp [B, 6C]; temporal_pos [1, T, C] in the first block only
        mods, mods_zero = self.modulations(t_mlp, t0_mlp)

        def spatial_attention(h):
            return attend_spatial(self.attn, h, ctx.frames)

        x = self.residual(
            x, spatial_attention, self.norm1, mods[:3], mods_zero and mods_zero[:3], ctx
        )
        # The reference feeds the raw residual stream, adds the temporal table to the
        # attention input only, and gates with the spatial gate even on conditioning frames.
        across = temporal_tokens(x, ctx.frames)  # [B*S, T, C]
        if temporal_pos is not None:
            across = across + temporal_pos
        across = from_temporal_tokens(self.attn_temp(across), x.shape[0])
        x = x + drop_path(mods[2] * across, self.drop_rate, self.training)
        return self.cross_attention_and_mlp(x, mods, mods_zero, ctx)


class STDiT(STDiTBase):
    """Open-Sora 1.0's transformer (`STDiT-XL/2`) for one fixed latent `input_size`."""

    step_cacheable = True  # its block loop goes through `cached_blocks`
    # Every weight reaches the activations through `cast_like` / `CastOnUse` layers, so
    # ComfyUI may leave any of them in CPU memory (partial loading).
    weights_cast_on_use = True

    release = "1.0"
    DEFAULTS = STDIT_DEFAULTS

    def __init__(self, **config):
        super().__init__(**config)
        c = self.config
        self.grid = tuple(size // patch for size, patch in zip(c["input_size"], self.patch_size))
        self.register_buffer("pos_embed", self.spatial_table())
        self.register_buffer("pos_embed_temporal", self.temporal_table())
        self.blocks = torch.nn.ModuleList(
            STDiTBlock(drop_rate=rate, **self.block_kwargs()) for rate in self.drop_rates()
        )
        self.apply_freeze(c["freeze"])

    def spatial_table(self) -> torch.Tensor:
        """`pos_embed` `[1, S, C]` for the configured size and `space_scale`."""
        return sincos_2d(self.hidden_size, self.grid[1:], self.config["space_scale"])

    def temporal_table(self) -> torch.Tensor:
        """`pos_embed_temporal` `[1, T, C]` for the configured size and `time_scale`."""
        return sincos_1d(self.hidden_size, self.grid[0], self.config["time_scale"])

    def reset_position_tables(self) -> None:
        """Recompute the position buffers (checkpoint loaders drop the stored ones)."""
        device = self.x_embedder.proj.weight.device
        dtype = self.compute_dtype
        self.pos_embed = self.spatial_table().to(device, dtype)
        self.pos_embed_temporal = self.temporal_table().to(device, dtype)

    def forward(self, x, timestep, y, mask=None, x_mask=None, **kwargs):
        """`[B, Cout, T, H, W]` for latent `[B, Cin, T, H, W]` of exactly `input_size`.

        Size arguments of later versions (`fps`, `height`, ...) are accepted and unused.
        """
        x, timestep, y = self.prepare_inputs(x, timestep, y)
        batch, dtype = x.shape[0], x.dtype
        grid = token_grid(x.shape, self.patch_size)
        self.check_grid(grid, self.grid, x.shape)
        frames, spatial = grid[0], grid[1] * grid[2]
        tokens = self.x_embedder(x)  # [B, N, C]
        pos = cast_like(self.pos_embed, tokens)
        tokens = (tokens.view(batch, frames, spatial, -1) + pos).flatten(1, 2)

        t = self.t_embedder(timestep, dtype)  # [B, C]
        t_mlp = self.t_block(t)  # [B, 6C]
        x_mask = self.frame_mask(x_mask, batch, frames)
        t0 = t0_mlp = None
        if x_mask is not None:
            t0 = self.t_embedder(torch.zeros_like(timestep), dtype)
            t0_mlp = self.t_block(t0)

        captions, lens = self.embed_captions(y, mask)
        ctx = BlockContext(captions, lens, frames, spatial, x_mask)

        def blocks(tokens):
            for index, block in enumerate(self.blocks):
                temporal_pos = cast_like(self.pos_embed_temporal, tokens) if index == 0 else None
                tokens = self.run_block(block, tokens, t_mlp, t0_mlp, ctx, temporal_pos)
            return tokens

        tokens = self.cached_blocks(tokens, t_mlp, x_mask, self.blocks[0], blocks)

        tokens = self.final_layer(tokens, t, x_mask, t0, frames)
        return self.to_latent(tokens, grid, x.shape[2:])
