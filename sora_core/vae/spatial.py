"""`VideoAutoencoderKL`: a diffusers `AutoencoderKL` applied frame by frame (Open-Sora 1.0/1.1,
and the spatial half of 1.2).

The model is built from a config constant, never downloaded; weights come from a file.
Open-Sora multiplies latents by 0.18215 whatever the autoencoder's own config says.
"""

import torch
from diffusers import AutoencoderKL

from ..errors import ConfigError, VideoShapeError
from ..models.layers import make_cast_on_use
from .base import VideoVAE, decode_elements
from .posterior import DiagonalGaussian, NoiseFn, device_noise
from .tiled_autoencoder import decode_tiled, encode_tiled
from .tiling import TiledRunner

SCALING_FACTOR = 0.18215

_SD_BLOCKS = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "block_out_channels": [128, 256, 512, 512],
    "layers_per_block": 2,
    "act_fn": "silu",
    "latent_channels": 4,
    "norm_num_groups": 32,
}
# config.json of stabilityai/sd-vae-ft-ema (the VAE of Open-Sora 1.0 and 1.1).
SD_VAE_FT_EMA_CONFIG = {**_SD_BLOCKS, "sample_size": 256}
# config.json of PixArt-alpha/pixart_sigma_sdxlvae_T5_diffusers, subfolder vae (the SDXL VAE).
PIXART_SDXL_VAE_CONFIG = {
    **_SD_BLOCKS,
    "sample_size": 512,
    "scaling_factor": 0.13025,
    "force_upcast": False,
}
# Hub ids Open-Sora configs name; mapped to their architecture so nothing is downloaded.
KNOWN_AUTOENCODERS = {
    "stabilityai/sd-vae-ft-ema": SD_VAE_FT_EMA_CONFIG,
    "stabilityai/sd-vae-ft-mse": SD_VAE_FT_EMA_CONFIG,
    "PixArt-alpha/pixart_sigma_sdxlvae_T5_diffusers": PIXART_SDXL_VAE_CONFIG,
}


def autoencoder_from_config(config: dict) -> AutoencoderKL:
    """A randomly initialised diffusers `AutoencoderKL` from its config dict (no download),
    its layers cast-on-use (weights may rest in fp8 or on another device)."""
    arguments = {key: value for key, value in config.items() if not key.startswith("_")}
    groups = arguments.get("norm_num_groups", 32)
    widths = list(arguments.get("block_out_channels", [64]))
    if any(width % groups for width in widths):
        raise ConfigError(f"norm_num_groups: {groups} does not divide block_out_channels {widths}")
    try:
        autoencoder = AutoencoderKL(**arguments)
    except TypeError as error:
        raise ConfigError(f"autoencoder config {sorted(arguments)}: {error}") from error
    return make_cast_on_use(autoencoder)


def decoder_peak_elements_per_cell(block_out_channels: list[int]) -> int:
    """Largest decoder activation per latent cell and frame (channels x upsampled area)."""
    widths = list(reversed(block_out_channels))
    area, peak = 1, widths[0]
    for i, width in enumerate(widths):
        if i < len(widths) - 1:
            area *= 4
        peak = max(peak, width * area)
    return peak


class VideoAutoencoderKL(VideoVAE):
    """Per-frame `AutoencoderKL`; `micro_batch_size` frames per call, latents x 0.18215."""

    family = "sd"

    def __init__(
        self,
        autoencoder_config: dict,
        micro_batch_size: "int | None" = None,
        scaling_factor: float = SCALING_FACTOR,
    ):
        super().__init__()
        if micro_batch_size is not None and (
            not isinstance(micro_batch_size, int) or micro_batch_size < 1
        ):
            raise ConfigError(
                f"micro_batch_size: {micro_batch_size!r}; expected a positive integer or None"
            )
        self.module = autoencoder_from_config(autoencoder_config)
        self.micro_batch_size = micro_batch_size
        self.scaling_factor = scaling_factor
        self.out_channels = self.module.config.latent_channels
        self.in_channels = self.module.config.in_channels
        self.spatial_factor = 2 ** (len(self.module.config.block_out_channels) - 1)
        self.patch_size = (1, self.spatial_factor, self.spatial_factor)

    def _frame_chunks(self, frames: torch.Tensor) -> list[torch.Tensor]:
        step = self.micro_batch_size or frames.shape[0]
        return [frames[i : i + step] for i in range(0, frames.shape[0], step)]

    def _runner(self, x: torch.Tensor, height: int, width: int) -> "TiledRunner | None":
        # Exact tiles when the frame (in latent cells) is larger than one tile; they run
        # where `x` is (the weights may rest elsewhere, see `VideoVAE.weights_cast_on_use`).
        if self.tiling is None or self.tiling.covers(height, width):
            return None
        return TiledRunner(self.tiling, (height, width), x.device)

    def _moments(self, frames: torch.Tensor) -> torch.Tensor:
        # (N, 3, H, W) -> (N, 2·latent, H/8, W/8)
        runner = self._runner(
            frames,
            frames.shape[-2] // self.spatial_factor,
            frames.shape[-1] // self.spatial_factor,
        )
        if runner is not None:
            # One frame at a time: GroupNorm statistics are per frame anyway, and only one
            # frame's full-size activations are then alive.
            return torch.cat(
                [
                    encode_tiled(runner, self.module.encoder, self.module.quant_conv, frame)
                    for frame in frames.split(1)
                ]
            )
        moments = self.module.encoder(frames)
        if self.module.quant_conv is not None:
            moments = self.module.quant_conv(moments)
        return moments

    def _decode_frames(self, latent: torch.Tensor) -> torch.Tensor:
        # (N, latent, h, w) -> (N, 3, 8h, 8w)
        runner = self._runner(latent, *latent.shape[-2:])
        if runner is not None:
            return torch.cat(
                [
                    decode_tiled(runner, self.module.decoder, self.module.post_quant_conv, frame)
                    for frame in latent.split(1)
                ]
            )
        if self.module.post_quant_conv is not None:
            latent = self.module.post_quant_conv(latent)
        return self.module.decoder(latent)

    def encode(
        self, x: torch.Tensor, sample_posterior: bool = True, noise: "NoiseFn | None" = None
    ) -> torch.Tensor:
        """(B, 3, T, H, W) in [-1, 1] -> scaled latents (B, 4, T, H/8, W/8); samples by default."""
        self.check_video(x)
        b, c, t, h, w = x.shape
        frames = x.transpose(1, 2).reshape(b * t, c, h, w)  # batch-major, frame fastest
        latents = []
        for chunk in self._frame_chunks(frames):
            posterior = DiagonalGaussian(self._moments(chunk))
            latents.append(
                posterior.latent(sample_posterior, noise or device_noise) * self.scaling_factor
            )
        latent = torch.cat(latents)
        return latent.reshape(b, t, *latent.shape[1:]).transpose(1, 2)

    def decode(self, z: torch.Tensor, num_frames: "int | None" = None) -> torch.Tensor:
        """(B, 4, T, h, w) -> (B, 3, T, 8h, 8w); `num_frames`, when given, must equal T."""
        self.check_latent(z)
        b, c, t, h, w = z.shape
        if num_frames is not None and num_frames != t:
            raise VideoShapeError(
                f"num_frames: {num_frames} for a latent of {t} frames; this per-frame VAE "
                f"decodes exactly {t} frames"
            )
        frames = z.transpose(1, 2).reshape(b * t, c, h, w)
        decoded = [
            self._decode_frames(chunk / self.scaling_factor) for chunk in self._frame_chunks(frames)
        ]
        video = torch.cat(decoded)
        return video.reshape(b, t, *video.shape[1:]).transpose(1, 2)

    def get_latent_size(self, input_size: list) -> list:
        """[T, H, W] -> [T, H // 8, W // 8] (None passes through; sizes truncate)."""
        return [
            None if size is None else size // factor
            for size, factor in zip(input_size, self.patch_size)
        ]

    def estimate_decode_bytes(
        self,
        latent_height: int,
        latent_width: int,
        batch: int = 1,
        frames: int = 1,
        tile_size: "int | None" = None,
    ) -> int:
        """Estimated peak activation bytes of decoding a frame of `latent_height x latent_width`
        cells: untiled (one micro-batch at once), or on exact `tile_size`-cell tiles (one
        frame's full-size activations plus one tile's temporaries)."""
        peak = decoder_peak_elements_per_cell(list(self.module.config.block_out_channels))
        # The mid block's attention goes through scaled_dot_product_attention, which never
        # holds the cells x cells score matrix; its q, k, v are far below the peak.
        elements = decode_elements(
            peak,
            (latent_height, latent_width),
            tile_size,
            untiled_samples=self.micro_batch_size or batch * frames,
            tiled_samples=1,  # exact tiles run one frame at a time
        )
        return elements * self.dtype.itemsize
