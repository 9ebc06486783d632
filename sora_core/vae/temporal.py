"""Open-Sora 1.2's temporal VAE (`VAE_Temporal`): causal 3D convolutions, 4x time compression.

It works on the spatial VAE's 4-channel latents and never changes their height or width.
Module names follow the released checkpoint (`encoder.block_res_blocks.{i}.{j}.conv1.conv`, ...).
"""

import math
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..models.layers import Conv3d, GroupNorm
from .posterior import DiagonalGaussian
from .tiling import LocalOp, TiledRunner

# `VAE_Temporal_SD`: the architecture of the released 1.2 temporal VAE.
TEMPORAL_SD_CONFIG = {
    "in_out_channels": 4,
    "latent_embed_dim": 4,
    "embed_dim": 4,
    "filters": 128,
    "num_res_blocks": 4,
    "channel_multipliers": (1, 2, 2, 4),
    "temporal_downsample": (False, True, True),
    "num_groups": 32,
    "activation_fn": "swish",
}
# `VAE_Temporal`'s own constructor defaults (note the different temporal_downsample).
TEMPORAL_CLASS_DEFAULTS = {**TEMPORAL_SD_CONFIG, "temporal_downsample": (True, True, False)}

ACTIVATIONS = {"swish": nn.SiLU, "relu": nn.ReLU}


class CausalConv3d(nn.Module):
    """3D convolution padded "same" in space and only in the past in time."""

    def __init__(
        self,
        chan_in: int,
        chan_out: int,
        kernel: "int | tuple",
        time_stride: int = 1,
        bias: bool = True,
    ):
        super().__init__()
        kt, kh, kw = (kernel,) * 3 if isinstance(kernel, int) else kernel
        time_pad = (kt - 1) + (1 - time_stride)
        self.padding = (kw // 2, kw // 2, kh // 2, kh // 2, time_pad, 0)
        self.conv = Conv3d(chan_in, chan_out, (kt, kh, kw), stride=(time_stride, 1, 1), bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, C, T, H, W) -> (B, C', T / stride, H, W)
        return self.conv(F.pad(x, self.padding))

    def local_op(self, then=None) -> LocalOp:
        """This conv as a tile op (time padded here, space by the tile's halo); `then` follows it."""
        time_padding = (0, 0, 0, 0, *self.padding[4:])

        def apply(tile: torch.Tensor) -> torch.Tensor:
            out = self.conv(F.pad(tile, time_padding))
            return out if then is None else then(out)

        half = self.padding[2]
        return LocalOp(apply, self.conv.kernel_size[1], 1, half, half)


class ResBlock(nn.Module):
    """GroupNorm-act-conv twice plus a (1x1x1-projected when widths differ) residual."""

    def __init__(self, chan_in: int, chan_out: int, num_groups: int, activation: type):
        super().__init__()
        self.norm1 = GroupNorm(num_groups, chan_in)
        self.conv1 = CausalConv3d(chan_in, chan_out, 3, bias=False)
        self.norm2 = GroupNorm(num_groups, chan_out)
        self.conv2 = CausalConv3d(chan_out, chan_out, 3, bias=False)
        self.conv3 = CausalConv3d(chan_in, chan_out, 1, bias=False) if chan_in != chan_out else None
        self.activate = activation()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, C, T, H, W) -> (B, C', T, H, W)
        h = self.conv1(self.activate(self.norm1(x)))
        h = self.conv2(self.activate(self.norm2(h)))
        return h + (x if self.conv3 is None else self.conv3(x))

    def forward_tiled(self, runner: TiledRunner, x: torch.Tensor) -> torch.Tensor:
        """`forward` on exact tiles."""
        return runner.resnet(
            x,
            (self.norm1, self.norm2),
            (self.conv1.local_op(), self.conv2.local_op()),
            self.activate,
            None if self.conv3 is None else self.conv3.local_op(),
        )


@dataclass(frozen=True)
class TemporalStages:
    """The stage layout the encoder and decoder share."""

    filters: int
    num_res_blocks: int
    channel_multipliers: tuple
    temporal_downsample: tuple
    num_groups: int
    activation: type

    @property
    def widths(self) -> list[int]:
        """Channel width of each stage."""
        return [self.filters * m for m in self.channel_multipliers]

    def res_stack(self, chan_in: int, chan_out: int) -> nn.ModuleList:
        """`num_res_blocks` res blocks, the first mapping `chan_in` to `chan_out`."""
        return nn.ModuleList(
            ResBlock(chan_in if j == 0 else chan_out, chan_out, self.num_groups, self.activation)
            for j in range(self.num_res_blocks)
        )


class TemporalEncoder(nn.Module):
    """Causal 3D conv encoder: stages of res blocks, stride-2 time convs between stages."""

    def __init__(self, channels: int, out_channels: int, stages: TemporalStages):
        super().__init__()
        widths, filters = stages.widths, stages.filters
        self.conv_in = CausalConv3d(channels, filters, 3, bias=False)
        self.block_res_blocks = nn.ModuleList()
        # Identity keeps the list index of a stage without time downsampling (no weights).
        self.conv_blocks = nn.ModuleList()
        previous = filters
        for i, width in enumerate(widths):
            self.block_res_blocks.append(stages.res_stack(previous, width))
            previous = width
            if i < len(widths) - 1:
                self.conv_blocks.append(
                    CausalConv3d(width, width, 3, time_stride=2)
                    if stages.temporal_downsample[i]
                    else nn.Identity()
                )
        self.res_blocks = stages.res_stack(previous, previous)
        self.norm1 = GroupNorm(stages.num_groups, previous)
        self.activate = stages.activation()
        self.conv2 = CausalConv3d(previous, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, C, T, H, W) -> (B, 2·latent, T / 4, H, W)
        x = self.conv_in(x)
        for i, stage in enumerate(self.block_res_blocks):
            for block in stage:
                x = block(x)
            if i < len(self.conv_blocks):
                x = self.conv_blocks[i](x)
        for block in self.res_blocks:
            x = block(x)
        return self.conv2(self.activate(self.norm1(x)))

    def forward_tiled(self, runner: TiledRunner, x: torch.Tensor) -> torch.Tensor:
        """`forward` on exact tiles."""
        x = runner.local(x, self.conv_in.local_op())
        for i, stage in enumerate(self.block_res_blocks):
            for block in stage:
                x = block.forward_tiled(runner, x)
            if i < len(self.conv_blocks) and isinstance(self.conv_blocks[i], CausalConv3d):
                x = runner.local(x, self.conv_blocks[i].local_op())
        for block in self.res_blocks:
            x = block.forward_tiled(runner, x)
        pre = runner.norm_act(x, self.norm1, self.activate)
        return runner.local(x, self.conv2.local_op(), pre)


def depth_to_time(x: torch.Tensor, factor: int) -> torch.Tensor:
    """(B, C·f, T, H, W) -> (B, C, T·f, H, W): input channel `f·c + k` becomes frame `f·t + k`."""
    b, cf, t, h, w = x.shape
    x = x.reshape(b, cf // factor, factor, t, h, w).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, cf // factor, t * factor, h, w)


class TemporalDecoder(nn.Module):
    """Mirror of `TemporalEncoder`; time upsampling by a conv to 2C channels then depth-to-time."""

    def __init__(self, channels: int, latent_channels: int, stages: TemporalStages):
        super().__init__()
        widths, temporal_downsample = stages.widths, stages.temporal_downsample
        self.time_factors = [2 if down else 1 for down in temporal_downsample]
        self.conv1 = CausalConv3d(latent_channels, widths[-1], 3)
        self.res_blocks = stages.res_stack(widths[-1], widths[-1])
        blocks, ups = [], []
        previous = widths[-1]
        for i in reversed(range(len(widths))):
            blocks.insert(0, stages.res_stack(previous, widths[i]))
            previous = widths[i]
            if i > 0:
                ups.insert(
                    0,
                    CausalConv3d(previous, previous * 2, 3)
                    if temporal_downsample[i - 1]
                    else nn.Identity(),
                )
        self.block_res_blocks = nn.ModuleList(blocks)
        # conv_blocks[i - 1] follows stage i (the release's indexing).
        self.conv_blocks = nn.ModuleList(ups)
        self.norm1 = GroupNorm(stages.num_groups, previous)
        self.activate = stages.activation()
        self.conv_out = CausalConv3d(previous, channels, 3)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # (B, latent, T, H, W) -> (B, C, T·4, H, W)
        x = self.conv1(z)
        for block in self.res_blocks:
            x = block(x)
        for i in reversed(range(len(self.block_res_blocks))):
            for block in self.block_res_blocks[i]:
                x = block(x)
            if i > 0 and self.time_factors[i - 1] > 1:
                x = depth_to_time(self.conv_blocks[i - 1](x), self.time_factors[i - 1])
        return self.conv_out(self.activate(self.norm1(x)))

    def forward_tiled(self, runner: TiledRunner, z: torch.Tensor) -> torch.Tensor:
        """`forward` on exact tiles (depth-to-time is per position, so it runs per tile)."""
        x = runner.local(z, self.conv1.local_op())
        for block in self.res_blocks:
            x = block.forward_tiled(runner, x)
        for i in reversed(range(len(self.block_res_blocks))):
            for block in self.block_res_blocks[i]:
                x = block.forward_tiled(runner, x)
            if i > 0 and self.time_factors[i - 1] > 1:
                to_time = partial(depth_to_time, factor=self.time_factors[i - 1])
                x = runner.local(x, self.conv_blocks[i - 1].local_op(to_time))
        pre = runner.norm_act(x, self.norm1, self.activate)
        return runner.local(x, self.conv_out.local_op(), pre)


class TemporalVAE(nn.Module):
    """`VAE_Temporal`: compresses `(B, 4, T, h, w)` latents to `(B, 4, ceil(T/4), h, w)`."""

    def __init__(
        self,
        in_out_channels: int = 4,
        latent_embed_dim: int = 4,
        embed_dim: int = 4,
        filters: int = 128,
        num_res_blocks: int = 4,
        channel_multipliers: tuple = (1, 2, 2, 4),
        temporal_downsample: tuple = (True, True, False),
        num_groups: int = 32,
        activation_fn: str = "swish",
    ):
        super().__init__()
        if activation_fn not in ACTIVATIONS:
            raise ConfigError(
                f"activation_fn: {activation_fn!r}; expected one of {sorted(ACTIVATIONS)}"
            )
        if len(temporal_downsample) != len(channel_multipliers) - 1:
            raise ConfigError(
                f"temporal_downsample: {list(temporal_downsample)} has "
                f"{len(temporal_downsample)} entries; expected len(channel_multipliers) - 1 = "
                f"{len(channel_multipliers) - 1}"
            )
        widths = {filters * m for m in channel_multipliers}
        if any(width % num_groups for width in widths):
            raise ConfigError(
                f"num_groups: {num_groups} does not divide the channel widths {sorted(widths)}"
            )
        self.config = {
            "in_out_channels": in_out_channels,
            "latent_embed_dim": latent_embed_dim,
            "embed_dim": embed_dim,
            "filters": filters,
            "num_res_blocks": num_res_blocks,
            "channel_multipliers": tuple(channel_multipliers),
            "temporal_downsample": tuple(bool(d) for d in temporal_downsample),
            "num_groups": num_groups,
            "activation_fn": activation_fn,
        }
        self.time_downsample_factor = 2 ** sum(bool(d) for d in temporal_downsample)
        self.out_channels = in_out_channels
        stages = TemporalStages(
            filters,
            num_res_blocks,
            tuple(channel_multipliers),
            tuple(temporal_downsample),
            num_groups,
            ACTIVATIONS[activation_fn],
        )
        self.encoder = TemporalEncoder(in_out_channels, 2 * latent_embed_dim, stages)
        self.quant_conv = CausalConv3d(2 * latent_embed_dim, 2 * embed_dim, 1)
        self.post_quant_conv = CausalConv3d(embed_dim, latent_embed_dim, 1)
        self.decoder = TemporalDecoder(in_out_channels, latent_embed_dim, stages)

    def time_padding(self, num_frames: int) -> int:
        """Zero frames put in front so the frame count divides by the time factor."""
        return -num_frames % self.time_downsample_factor

    def latent_frames(self, num_frames: int) -> int:
        """Latent frames for `num_frames` input frames: ceil(T / 4)."""
        return math.ceil(num_frames / self.time_downsample_factor)

    def get_latent_size(self, input_size: list) -> list:
        """[T, h, w] -> [ceil(T / 4), h, w] (None passes through)."""
        frames, height, width = input_size
        return [None if frames is None else self.latent_frames(frames), height, width]

    def encode_moments(self, x: torch.Tensor, runner: "TiledRunner | None" = None) -> torch.Tensor:
        """(B, 4, T, h, w) -> posterior moments (B, 2·embed, ceil(T/4), h, w), on exact
        tiles when a `runner` is given."""
        x = F.pad(x, (0, 0, 0, 0, self.time_padding(x.shape[2]), 0))
        if runner is None:
            return self.quant_conv(self.encoder(x)).to(x.dtype)
        moments = self.encoder.forward_tiled(runner, x)
        return runner.local(moments, self.quant_conv.local_op()).to(x.dtype)

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        """The posterior over temporal latents of `x`."""
        return DiagonalGaussian(self.encode_moments(x))

    def decode(
        self, z: torch.Tensor, num_frames: int, runner: "TiledRunner | None" = None
    ) -> torch.Tensor:
        """(B, embed, Tz, h, w) -> (B, 4, num_frames, h, w), dropping the front padding
        frames; on exact tiles when a `runner` is given."""
        if runner is None:
            x = self.decoder(self.post_quant_conv(z))
        else:
            x = self.decoder.forward_tiled(runner, runner.local(z, self.post_quant_conv.local_op()))
        return x[:, :, self.time_padding(num_frames) :]

    def peak_elements_per_cell(self, latent_frames: int) -> int:
        """Largest activation (elements per batch item and spatial cell) when decoding."""
        cfg = self.config
        widths = [cfg["filters"] * m for m in cfg["channel_multipliers"]]
        frames, peak = latent_frames, widths[-1] * latent_frames
        for i in reversed(range(len(widths))):
            peak = max(peak, widths[i] * frames)
            if i > 0 and cfg["temporal_downsample"][i - 1]:
                peak = max(peak, 2 * widths[i] * frames)
                frames *= 2
        return peak
