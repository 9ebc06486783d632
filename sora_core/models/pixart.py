"""PixArt-α (`PixArt`, `PixArtMS`) and PixArt-Σ (`PixArt_Sigma`) from the v1.2.0 tree:
caption-conditioned adaLN-single blocks attending over every token of the clip, sin-cos
tables stretched to `base_size`.

PixArtMS adds the image size and aspect ratio to the timestep embedding; PixArt-Σ may
norm q/k and pool keys and values (KV compression) in chosen blocks. Both rebuild the
spatial table from the latent they are given, so one model serves several resolutions.
"""

import math

import torch

from ..errors import ConfigError, VideoShapeError
from .base import STDiTBase
from .layers import BlockContext, DiTBlock, SizeEmbedder, sincos_1d, sincos_2d, token_grid
from .stdit import STDIT_DEFAULTS

PIXART_DEFAULTS = {**STDIT_DEFAULTS, "input_size": (1, 32, 32), "base_size": None}
PIXART_SIGMA_DEFAULTS = {
    **STDIT_DEFAULTS,
    "input_size": (1, 32, 32),
    "qk_norm": False,
    "kv_compress_config": None,
}


class PixArtBlock(DiTBlock):
    """Self-attention over all `T*S` tokens, caption cross-attention and MLP."""

    def forward(self, x, t_mlp, ctx: BlockContext, grid_hw=None):
        # x [B, N, C]; t_mlp [B, 6C]; grid_hw (H, W) tokens, for KV compression
        mods, _ = self.modulations(t_mlp, None)

        def attention(h):
            return self.attn(h, grid_hw)

        x = self.residual(x, attention, self.norm1, mods[:3], None, ctx)
        return self.cross_attention_and_mlp(x, mods, None, ctx)


class PixArt(STDiTBase):
    """PixArt-α (`PixArt-XL/2`, `PixArt-1B/2`) for one fixed latent `input_size`."""

    release = "1.2"  # samplers as in the v1.2.0 tree these models come from
    DEFAULTS = PIXART_DEFAULTS
    takes_frame_mask = False  # no conditioning frames (x_mask)

    def __init__(self, **config):
        super().__init__(**config)
        c = self.config
        if c["enable_sequence_parallelism"]:
            raise ConfigError(
                f"enable_sequence_parallelism: not supported by {type(self).__name__}"
            )
        self.grid = tuple(size // patch for size, patch in zip(c["input_size"], self.patch_size))
        self.register_buffer("pos_embed", self.spatial_table(self.grid[1:]))
        self.register_buffer("pos_embed_temporal", self.temporal_table())
        self.blocks = torch.nn.ModuleList(
            PixArtBlock(drop_rate=rate, **self.block_kwargs(), **self.block_options(index))
            for index, rate in enumerate(self.drop_rates())
        )
        if c["freeze"] not in (None, "text"):
            raise ConfigError(f"freeze: {c['freeze']!r}; expected None or 'text'")
        self.apply_freeze(c["freeze"])

    def block_options(self, index: int) -> dict:
        """Per-block options beside `block_kwargs` (PixArt-Σ: q/k norm, KV compression)."""
        return {}

    @property
    def base_size(self) -> int:
        """Tokens the spatial table spans: the config's (in latent pixels) or `sqrt(H*W)` of
        `input_size`."""
        if self.config.get("base_size") is not None:
            return self.config["base_size"] // self.patch_size[1]
        return int(math.sqrt(self.grid[1] * self.grid[2]))

    def spatial_table(self, grid_hw) -> torch.Tensor:
        """`[1, H*W, C]` sin-cos table for a token grid, at `space_scale` and `base_size`."""
        scale = self.config["space_scale"]
        return sincos_2d(self.hidden_size, tuple(grid_hw), scale, self.base_size)

    def temporal_table(self) -> torch.Tensor:
        """`pos_embed_temporal` `[1, T, C]` at `time_scale`."""
        return sincos_1d(self.hidden_size, self.grid[0], self.config["time_scale"])

    def reset_position_tables(self) -> None:
        """Recompute the sin-cos buffers (checkpoint loaders drop the stored ones)."""
        device, dtype = self.x_embedder.proj.weight.device, self.compute_dtype
        self.pos_embed = self.spatial_table(self.grid[1:]).to(device, dtype)
        self.pos_embed_temporal = self.temporal_table().to(device, dtype)

    def position_table(self, grid, latent_shape) -> torch.Tensor:
        """The spatial table for this latent: PixArt's is fixed to `input_size`."""
        self.check_grid(grid, self.grid, latent_shape)
        return self.pos_embed

    def timestep_embedding(self, timestep, batch: int, dtype, **size_info) -> torch.Tensor:
        """`[B, C]` embedding that modulates every block (PixArtMS adds sizes here)."""
        return self.t_embedder(timestep, dtype)

    def forward(self, x, timestep, y, mask=None, **kwargs):
        """`[B, Cout, T, H, W]` for latent `x` `[B, Cin, T, H, W]`.

        `y` `[B, 1, L, Cc]` T5 captions, `mask` `[n, L]` (n divides B) marks valid tokens.
        PixArtMS takes `data_info={"hw": [n, 2], "ar": [n, 1]}` (or `hw=`, `ar=`); other
        keyword arguments samplers pass for other models are unused.
        """
        x, timestep, y = self.prepare_inputs(x, timestep, y)
        batch, dtype = x.shape[0], x.dtype
        grid = token_grid(x.shape, self.patch_size)
        frames, rows, cols = grid
        if frames != self.grid[0]:
            raise VideoShapeError(
                f"{type(self).__name__}: latent has {x.shape[2]} frames; the model was built "
                f"for input_size {self.config['input_size']}"
            )
        pos = self.position_table(grid, x.shape).to(device=x.device, dtype=dtype)
        tokens = self.x_embedder(x).view(batch, frames, rows * cols, -1) + pos
        if not self.config["no_temporal_pos_emb"]:
            tokens = tokens + self.pos_embed_temporal[:, :, None]
        tokens = tokens.flatten(1, 2)

        t = self.timestep_embedding(timestep, batch, dtype, **kwargs)  # [B, C]
        t_mlp = self.t_block(t)  # [B, 6C]
        captions, lens = self.embed_captions(y, mask)
        ctx = BlockContext(captions, lens, frames, rows * cols)
        for block in self.blocks:
            tokens = self.run_block(block, tokens, t_mlp, ctx, (rows, cols))
        tokens = self.final_layer(tokens, t)
        return self.to_latent(tokens, grid, x.shape[2:])


class PixArtMS(PixArt):
    """PixArt-α multi-scale (`PixArtMS-XL/2`): image size `hw` and aspect ratio `ar` join the
    timestep embedding; the spatial table follows the latent's size."""

    multi_resolution = "PixArtMS"  # the size conditioning samplers pass: `hw` and `ar`

    def __init__(self, **config):
        super().__init__(**config)
        if self.hidden_size % 3:
            raise ConfigError(
                f"hidden_size: {self.hidden_size} must be divisible by 3 for PixArtMS"
            )
        self.csize_embedder = SizeEmbedder(self.hidden_size // 3)
        self.ar_embedder = SizeEmbedder(self.hidden_size // 3)

    def position_table(self, grid, latent_shape) -> torch.Tensor:
        return self.spatial_table(grid[1:])

    def timestep_embedding(self, timestep, batch, dtype, data_info=None, hw=None, ar=None, **_):
        if data_info is not None:
            hw, ar = data_info.get("hw"), data_info.get("ar")
        sizes = []
        for name, value, per_row, embedder in (
            ("hw", hw, 2, self.csize_embedder),
            ("ar", ar, 1, self.ar_embedder),
        ):
            if value is None:
                raise VideoShapeError(
                    f"PixArtMS: data_info[{name!r}] is required: image (height, width) in "
                    "pixels and aspect ratio height / width, one row per prompt"
                )
            value = torch.as_tensor(value, device=timestep.device).reshape(-1, per_row)
            if batch % value.shape[0]:
                raise VideoShapeError(
                    f"PixArtMS: data_info[{name!r}] has {value.shape[0]} rows, which does not "
                    f"divide the batch {batch}"
                )
            sizes.append(embedder(value.to(dtype), batch, dtype))
        return self.t_embedder(timestep, dtype) + torch.cat(sizes, dim=1)


class PixArt_Sigma(PixArt):  # noqa: N801 - the reference's registry name
    """PixArt-Σ (`PixArt-Sigma-XL/2`): optional q/k RMSNorm and KV compression; the spatial
    table follows the latent's size."""

    DEFAULTS = PIXART_SIGMA_DEFAULTS

    def __init__(self, **config):
        compress = config.get("kv_compress_config") or {}
        sampling = compress.get("sampling")
        if compress.get("kv_compress_layer") and sampling != "conv":
            raise ConfigError(
                f"kv_compress_config.sampling: {sampling!r}; only 'conv' (the released "
                "PixArt-Σ setting) is supported"
            )
        super().__init__(**config)

    def block_options(self, index: int) -> dict:
        compress = self.config["kv_compress_config"] or {}
        factor = int(compress.get("scale_factor", 1))
        return {
            "qk_norm": self.config["qk_norm"],
            "kv_compress": factor if index in compress.get("kv_compress_layer", []) else 1,
        }

    def position_table(self, grid, latent_shape) -> torch.Tensor:
        if grid[0] > 1 and any(block.attn.kv_compress > 1 for block in self.blocks):
            raise VideoShapeError(
                "PixArt_Sigma: KV compression works on single images; the latent has "
                f"{latent_shape[2]} frames"
            )
        return self.spatial_table(grid[1:])
