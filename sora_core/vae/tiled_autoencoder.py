"""The diffusers `AutoencoderKL` encoder and decoder, run segment by segment on exact tiles.

Mirrors `Encoder.forward`, `Decoder.forward`, `ResnetBlock2D`, `Upsample2D`, `Downsample2D`
and `UNetMidBlock2D` for the configurations a VAE uses (no time embedding, no spatial
norm); the mid block's attention runs on the whole frame at latent resolution.
"""

import torch
from diffusers.models.autoencoders.vae import Decoder, Encoder
from diffusers.models.downsampling import Downsample2D
from diffusers.models.resnet import ResnetBlock2D
from diffusers.models.unets.unet_2d_blocks import UNetMidBlock2D
from diffusers.models.upsampling import Upsample2D

from ..errors import ConfigError
from .tiling import TiledRunner, conv2d_op


def _resnet(runner: TiledRunner, block: ResnetBlock2D, x: torch.Tensor) -> torch.Tensor:
    if (
        not isinstance(block, ResnetBlock2D)
        or block.time_emb_proj is not None
        or block.upsample is not None
        or block.downsample is not None
        or block.output_scale_factor != 1.0
    ):
        raise ConfigError(f"tiling: unsupported resnet block {type(block).__name__} settings")
    shortcut = None if block.conv_shortcut is None else conv2d_op(block.conv_shortcut)
    return runner.resnet(
        x,
        (block.norm1, block.norm2),
        (conv2d_op(block.conv1), conv2d_op(block.conv2)),
        block.nonlinearity,
        shortcut,
    )


def _mid_block(runner: TiledRunner, block: UNetMidBlock2D, x: torch.Tensor) -> torch.Tensor:
    x = _resnet(runner, block.resnets[0], x)
    for attention, resnet in zip(block.attentions, block.resnets[1:]):
        if attention is not None:
            x = runner.whole(attention, x)
        x = _resnet(runner, resnet, x)
    return x


def _upsample(runner: TiledRunner, upsampler: Upsample2D, x: torch.Tensor) -> torch.Tensor:
    if upsampler.norm is not None or upsampler.use_conv_transpose or not upsampler.use_conv:
        raise ConfigError("tiling: only nearest-upsample-then-conv upsamplers are supported")
    return runner.local(x, conv2d_op(upsampler.conv, upsample=2))


def _downsample(runner: TiledRunner, downsampler: Downsample2D, x: torch.Tensor) -> torch.Tensor:
    if downsampler.norm is not None or not downsampler.use_conv:
        raise ConfigError("tiling: only strided-conv downsamplers are supported")
    # diffusers pads right and bottom by one when the conv itself has no padding.
    pad = (0, 1) if downsampler.padding == 0 else None
    return runner.local(x, conv2d_op(downsampler.conv, pad=pad))


def decode_tiled(
    runner: TiledRunner, decoder: Decoder, post_quant_conv, latent: torch.Tensor
) -> torch.Tensor:
    """`decoder(post_quant_conv(latent))` on exact tiles: (N, latent, h, w) -> (N, 3, 8h, 8w)."""
    x = latent if post_quant_conv is None else runner.local(latent, conv2d_op(post_quant_conv))
    x = runner.local(x, conv2d_op(decoder.conv_in))
    x = _mid_block(runner, decoder.mid_block, x)
    for block in decoder.up_blocks:
        for resnet in block.resnets:
            x = _resnet(runner, resnet, x)
        for upsampler in block.upsamplers or []:
            x = _upsample(runner, upsampler, x)
    pre = runner.norm_act(x, decoder.conv_norm_out, decoder.conv_act)
    return runner.local(x, conv2d_op(decoder.conv_out), pre)


def encode_tiled(
    runner: TiledRunner, encoder: Encoder, quant_conv, frames: torch.Tensor
) -> torch.Tensor:
    """`quant_conv(encoder(frames))` on exact tiles: (N, 3, H, W) -> (N, 2·latent, H/8, W/8)."""
    x = runner.local(frames, conv2d_op(encoder.conv_in))
    for block in encoder.down_blocks:
        for resnet in block.resnets:
            x = _resnet(runner, resnet, x)
        for downsampler in block.downsamplers or []:
            x = _downsample(runner, downsampler, x)
    x = _mid_block(runner, encoder.mid_block, x)
    pre = runner.norm_act(x, encoder.conv_norm_out, encoder.conv_act)
    moments = runner.local(x, conv2d_op(encoder.conv_out), pre)
    return moments if quant_conv is None else runner.local(moments, conv2d_op(quant_conv))
