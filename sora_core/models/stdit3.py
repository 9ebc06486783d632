"""STDiT3 (Open-Sora 1.2): alternating spatial and temporal blocks of the same kind, each
with its own cross-attention and MLP; fps joins the timestep embedding; RoPE over frames."""

import torch

from .base import SHARED_DEFAULTS, STDiTBase
from .layers import (
    BlockContext,
    DiTBlock,
    PositionEmbedding2D,
    RotaryEmbedding,
    SizeEmbedder,
    attend_spatial,
    attend_temporal,
    token_grid,
)

STDIT3_DEFAULTS = {
    **SHARED_DEFAULTS,
    "input_size": (None, None, None),
    "input_sq_size": 512,
    "model_max_length": 300,
    "qk_norm": True,
    "only_train_temporal": False,
    "freeze_y_embedder": False,
    "skip_y_embedder": False,
}


class STDiT3Block(DiTBlock):
    """One spatial (within-frame) or temporal (across-frame, RoPE) block."""

    def __init__(self, temporal: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.temporal = temporal

    def forward(self, x, t_mlp, t0_mlp, ctx: BlockContext):
        # x [B, N, C]; t_mlp, t0_mlp [B, 6C]
        mods, mods_zero = self.modulations(t_mlp, t0_mlp)
        attend = attend_temporal if self.temporal else attend_spatial

        def attention(h):
            return attend(self.attn, h, ctx.frames)

        x = self.residual(x, attention, self.norm1, mods[:3], mods_zero and mods_zero[:3], ctx)
        return self.cross_attention_and_mlp(x, mods, mods_zero, ctx)


class STDiT3(STDiTBase):
    """Open-Sora 1.2's transformer (`STDiT3-XL/2`: hidden 1152, depth 28, 16 heads)."""

    step_cacheable = True  # its block loop goes through `cached_blocks`
    sequence_parallelizable = True  # `acceleration.SequenceParallel` can split its blocks
    # Every weight reaches the activations through `cast_like` / `CastOnUse` layers, so
    # ComfyUI may leave any of them in CPU memory (partial loading).
    weights_cast_on_use = True

    release = "1.2"
    DEFAULTS = STDIT3_DEFAULTS

    def __init__(self, **config):
        super().__init__(**config)
        c = self.config
        hidden = c["hidden_size"]
        self.pos_embed = PositionEmbedding2D(hidden)
        self.rope = RotaryEmbedding(hidden // c["num_heads"])
        self.fps_embedder = SizeEmbedder(hidden)
        rates = self.drop_rates()
        common = {**self.block_kwargs(), "qk_norm": c["qk_norm"]}
        self.spatial_blocks = torch.nn.ModuleList(
            STDiT3Block(drop_rate=rate, **common) for rate in rates
        )
        self.temporal_blocks = torch.nn.ModuleList(
            STDiT3Block(temporal=True, rope=self.rope.rotate, drop_rate=rate, **common)
            for rate in rates
        )
        # Installed by `acceleration.SequenceParallel.install` (torchrun inference).
        self.sequence_parallel = None
        self._apply_freezing()

    def _apply_freezing(self):
        # Training switches of the reference; inference ignores requires_grad.
        if self.config["only_train_temporal"]:
            self.requires_grad_(False)
            self.temporal_blocks.requires_grad_(True)
        if self.config["freeze_y_embedder"]:
            self.y_embedder.requires_grad_(False)

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
        """Velocity (and sigma) `[B, Cout, T, H, W]` for latent `x` `[B, Cin, T, H, W]`.

        `y` `[B, 1, L, Cc]` (or, with `skip_y_embedder`, already projected with `mask` holding
        the lengths); `mask` `[n, L]`; `height`, `width` (pixels), `fps` `[n]`, n dividing B.
        `num_frames` and `ar` are accepted and unused, as in the reference.
        """
        x, timestep, y = self.prepare_inputs(x, timestep, y, self.config["skip_y_embedder"])
        batch, dtype = x.shape[0], x.dtype
        latent_thw = x.shape[2:]
        grid = token_grid(x.shape, self.patch_size)
        frames, spatial = grid[0], grid[1] * grid[2]

        height = self.size_arg(height, "height", batch, x.device)
        width = self.size_arg(width, "width", batch, x.device)
        fps = self.size_arg(fps, "fps", batch, x.device)
        scale = (height[0].item() * width[0].item()) ** 0.5 / self.config["input_sq_size"]
        pos = self.pos_embed(x, grid[1], grid[2], scale, round(spatial**0.5))  # [1, S, C]

        fps_emb = self.fps_embedder(fps[:, None], batch, dtype)  # [B, C]
        t = self.t_embedder(timestep, dtype) + fps_emb  # [B, C]
        t_mlp = self.t_block(t)  # [B, 6C]
        x_mask = self.frame_mask(x_mask, batch, frames)
        t0 = t0_mlp = None
        if x_mask is not None:
            t0 = self.t_embedder(torch.zeros_like(timestep), dtype) + fps_emb
            t0_mlp = self.t_block(t0)

        if self.config["skip_y_embedder"]:
            captions, lens = y, [int(n) for n in torch.as_tensor(mask).reshape(-1).tolist()]
        else:
            captions, lens = self.embed_captions(y, mask)
        ctx = BlockContext(captions, lens, frames, spatial, x_mask)

        tokens = self.x_embedder(x)  # [B, N, C]
        tokens = (tokens.view(batch, frames, spatial, -1) + pos).flatten(1, 2)

        def run_blocks(tokens, ctx):
            for spatial_block, temporal_block in zip(self.spatial_blocks, self.temporal_blocks):
                tokens = self.run_block(spatial_block, tokens, t_mlp, t0_mlp, ctx)
                tokens = self.run_block(temporal_block, tokens, t_mlp, t0_mlp, ctx)
            return tokens

        def blocks(tokens):
            if self.sequence_parallel is None:
                return run_blocks(tokens, ctx)
            return self.sequence_parallel.blocks(run_blocks, tokens, ctx)

        tokens = self.cached_blocks(tokens, t_mlp, x_mask, self.spatial_blocks[0], blocks)

        tokens = self.final_layer(tokens, t, x_mask, t0, frames)  # [B, N, pt*ph*pw*Cout]
        return self.to_latent(tokens, grid, latent_thw)
