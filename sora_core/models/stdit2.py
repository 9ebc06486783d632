"""STDiT2 (Open-Sora 1.1): each block holds spatial and temporal attention with separate
modulations; sizes, aspect ratio, frame count and fps condition the timestep embedding."""

import torch

from ..errors import ConfigError
from .base import SHARED_DEFAULTS, STDiTBase
from .layers import (
    Attention,
    BlockContext,
    DiTBlock,
    LayerNorm,
    Linear,
    PositionEmbedding2D,
    RotaryEmbedding,
    SizeEmbedder,
    attend_spatial,
    attend_temporal,
    cast_like,
    modulation,
    token_grid,
)

STDIT2_DEFAULTS = {
    **SHARED_DEFAULTS,
    "input_size": (None, None, None),
    "input_sq_size": 32,
    "no_temporal_pos_emb": False,
    "model_max_length": 120,
    "freeze": None,
    "qk_norm": False,
    "qk_norm_legacy": False,
}


class STDiT2Block(DiTBlock):
    """Spatial attention, then temporal attention (own 3-row modulation table), then the tail."""

    def __init__(self, rope, qk_norm: bool, qk_norm_legacy: bool, **kwargs):
        super().__init__(qk_norm=qk_norm, **kwargs)
        hidden = kwargs["hidden_size"]
        self.norm_temp = LayerNorm(fp32=kwargs.get("fp32_norm", False))
        self.attn_temp = Attention(
            hidden, kwargs["num_heads"], qk_norm, rope, qk_norm_legacy, kwargs["backend"]
        )
        self.scale_shift_table_temporal = torch.nn.Parameter(torch.randn(3, hidden) / hidden**0.5)

    def forward(self, x, t_mlp, t_tmp_mlp, t0_mlp, t0_tmp_mlp, ctx: BlockContext):
        # x [B, N, C]; t_mlp [B, 6C]; t_tmp_mlp [B, 3C] (and their timestep-0 versions)
        mods, mods_zero = self.modulations(t_mlp, t0_mlp)
        table = cast_like(self.scale_shift_table_temporal, t_tmp_mlp)
        temporal = modulation(table, t_tmp_mlp, 3)
        temporal_zero = None
        if t0_tmp_mlp is not None:
            temporal_zero = modulation(table, t0_tmp_mlp, 3)

        def spatial_attention(h):
            return attend_spatial(self.attn, h, ctx.frames)

        def temporal_attention(h):
            return attend_temporal(self.attn_temp, h, ctx.frames)

        x = self.residual(
            x, spatial_attention, self.norm1, mods[:3], mods_zero and mods_zero[:3], ctx
        )
        x = self.residual(x, temporal_attention, self.norm_temp, temporal, temporal_zero, ctx)
        return self.cross_attention_and_mlp(x, mods, mods_zero, ctx)


class STDiT2(STDiTBase):
    """Open-Sora 1.1's transformer (`STDiT2-XL/2`); the 1.1 release needs `qk_norm_legacy`."""

    step_cacheable = True  # its block loop goes through `cached_blocks`
    # Every weight reaches the activations through `cast_like` / `CastOnUse` layers, so
    # ComfyUI may leave any of them in CPU memory (partial loading).
    weights_cast_on_use = True

    release = "1.1"
    DEFAULTS = STDIT2_DEFAULTS

    def __init__(self, **config):
        super().__init__(**config)
        c = self.config
        hidden = c["hidden_size"]
        if hidden % 3:
            raise ConfigError(
                f"hidden_size: {hidden} must be divisible by 3 for STDiT2 (size embedders)"
            )
        self.pos_embed = PositionEmbedding2D(hidden)
        self.rope = RotaryEmbedding(hidden // c["num_heads"])
        self.t_block_temp = torch.nn.Sequential(torch.nn.SiLU(), Linear(hidden, 3 * hidden))
        self.csize_embedder = SizeEmbedder(hidden // 3)
        self.ar_embedder = SizeEmbedder(hidden // 3)
        self.fl_embedder = SizeEmbedder(hidden)
        self.fps_embedder = SizeEmbedder(hidden)
        self.blocks = torch.nn.ModuleList(
            STDiT2Block(
                rope=self.rope.rotate,
                qk_norm=c["qk_norm"],
                qk_norm_legacy=c["qk_norm_legacy"],
                drop_rate=rate,
                **self.block_kwargs(),
            )
            for rate in self.drop_rates()
        )
        self.apply_freeze(c["freeze"])

    def forward(
        self,
        x,
        timestep,
        y,
        mask=None,
        x_mask=None,
        fps=None,
        height=None,
        width=None,
        num_frames=None,
        ar=None,
        **kwargs,
    ):
        """`[B, Cout, T, H, W]` for latent `[B, Cin, T, H, W]`; `height`, `width` (pixels),
        `ar` (height/width), `num_frames`, `fps` are `[n]` with n dividing B."""
        x, timestep, y = self.prepare_inputs(x, timestep, y)
        batch, dtype = x.shape[0], x.dtype
        latent_thw = x.shape[2:]
        grid = token_grid(x.shape, self.patch_size)
        frames, spatial = grid[0], grid[1] * grid[2]
        size = {
            name: self.size_arg(value, name, batch, x.device)
            for name, value in (
                ("height", height),
                ("width", width),
                ("ar", ar),
                ("num_frames", num_frames),
                ("fps", fps),
            )
        }

        hw = torch.stack([size["height"], size["width"]], dim=1)  # [n, 2]
        csize = self.csize_embedder(hw, batch, dtype)  # [B, 2C/3]
        aspect = self.ar_embedder(size["ar"][:, None], batch, dtype)  # [B, C/3]
        data_info = torch.cat([csize, aspect], dim=1)  # [B, C]
        length = self.fl_embedder(size["num_frames"][:, None], batch, dtype)
        length = length + self.fps_embedder(size["fps"][:, None], batch, dtype)  # [B, C]

        scale = (size["height"][0].item() * size["width"][0].item()) ** 0.5
        scale = scale / self.config["input_sq_size"]
        pos = self.pos_embed(x, grid[1], grid[2], scale, round(spatial**0.5))  # [1, S, C]
        tokens = self.x_embedder(x)  # [B, N, C]
        tokens = (tokens.view(batch, frames, spatial, -1) + pos).flatten(1, 2)

        t = self.t_embedder(timestep, dtype)  # [B, C]
        t_mlp = self.t_block(t + data_info)  # [B, 6C]
        t_tmp_mlp = self.t_block_temp(t + length)  # [B, 3C]
        x_mask = self.frame_mask(x_mask, batch, frames)
        t0_spc = t0_mlp = t0_tmp_mlp = None
        if x_mask is not None:
            t0 = self.t_embedder(torch.zeros_like(timestep), dtype)
            t0_spc = t0 + data_info
            t0_mlp, t0_tmp_mlp = self.t_block(t0_spc), self.t_block_temp(t0 + length)

        captions, lens = self.embed_captions(y, mask)
        ctx = BlockContext(captions, lens, frames, spatial, x_mask)

        def blocks(tokens):
            for block in self.blocks:
                tokens = self.run_block(block, tokens, t_mlp, t_tmp_mlp, t0_mlp, t0_tmp_mlp, ctx)
            return tokens

        tokens = self.cached_blocks(tokens, t_mlp, x_mask, self.blocks[0], blocks)

        # The reference passes t without data_info but t0 with it.
        tokens = self.final_layer(tokens, t, x_mask, t0_spc, frames)
        return self.to_latent(tokens, grid, latent_thw)
