"""`OpenSoraVAE_V1_2` (the reference's `VideoAutoencoderPipeline`): the per-frame spatial VAE
followed by the temporal VAE, in independent `micro_frame_size`-frame chunks, with the
release's per-channel shift and scale on the latents.
"""

import torch

from ..errors import ConfigError, VideoShapeError
from ..models.layers import cast_like
from .base import VideoVAE, decode_elements
from .posterior import DiagonalGaussian, NoiseFn, cpu_noise, device_noise
from .spatial import VideoAutoencoderKL
from .temporal import TemporalVAE
from .tiling import TiledRunner

# Latent statistics of the released 1.2 VAE: the sampler sees (z - shift) / scale.
V12_SHIFT = (-0.10, 0.34, 0.27, 0.98)
V12_SCALE = (3.85, 2.32, 2.33, 3.06)


def latent_statistic(values, channels: int, name: str) -> torch.Tensor:
    """A latent scale or shift as a buffer: one number, or one per channel shaped (1, C, 1, 1, 1)."""
    tensor = torch.tensor(values, dtype=torch.float32)
    if tensor.ndim == 0:
        return tensor
    if tensor.numel() != channels:
        raise ConfigError(
            f"{name}: {list(values)} has {tensor.numel()} values; expected "
            f"{channels} (one per latent channel) or a single number"
        )
    return tensor.reshape(1, channels, 1, 1, 1)


class OpenSoraVAE(VideoVAE):
    """Spatial VAE (x8 in H, W) then temporal VAE (x4 in T), chunked by `micro_frame_size`."""

    family = "v1.2"

    def __init__(
        self,
        spatial_vae: VideoAutoencoderKL,
        temporal_vae: TemporalVAE,
        micro_frame_size: "int | None" = 17,
        shift=V12_SHIFT,
        scale=V12_SCALE,
    ):
        super().__init__()
        if micro_frame_size is not None and (
            not isinstance(micro_frame_size, int) or micro_frame_size < 1
        ):
            raise ConfigError(
                f"micro_frame_size: {micro_frame_size!r}; expected a positive integer or None"
            )
        self.spatial_vae = spatial_vae
        self.temporal_vae = temporal_vae
        self.micro_frame_size = micro_frame_size
        self.out_channels = temporal_vae.out_channels
        self.spatial_factor = spatial_vae.spatial_factor
        self.temporal_factor = temporal_vae.time_downsample_factor
        self.micro_z_frame_size = (
            None if micro_frame_size is None else temporal_vae.latent_frames(micro_frame_size)
        )
        self.register_buffer("scale", latent_statistic(scale, self.out_channels, "scale"))
        self.register_buffer("shift", latent_statistic(shift, self.out_channels, "shift"))

    def set_tiling(self, tile_size: "int | None" = None) -> None:
        """Tile both stages (the temporal VAE at latent resolution, the spatial VAE per frame)."""
        super().set_tiling(tile_size)
        self.spatial_vae.tiling = self.tiling

    def auto_tiling(self, height: int, width: int, memory_budget: int, batch: int = 1):
        """Choose the tiling for both stages from a memory budget (bytes of activations)."""
        tiling = super().auto_tiling(height, width, memory_budget, batch)
        self.spatial_vae.tiling = tiling
        return tiling

    def _runner(self, latent: torch.Tensor) -> "TiledRunner | None":
        # The temporal VAE works at latent resolution: one cell is one position.
        height, width = latent.shape[-2:]
        if self.tiling is None or self.tiling.covers(height, width):
            return None
        return TiledRunner(self.tiling, (height, width), latent.device)

    def _pixel_chunks(self, frames: int) -> list[tuple[int, int]]:
        step = self.micro_frame_size or frames
        return [(start, min(start + step, frames)) for start in range(0, frames, step)]

    def latent_frames(self, num_frames: int) -> int:
        """Latent frames for `num_frames` pixel frames (each chunk padded and encoded alone)."""
        return sum(
            self.temporal_vae.latent_frames(stop - start)
            for start, stop in self._pixel_chunks(num_frames)
        )

    def frame_counts_for(self, latent_frames: int) -> range:
        """Every pixel frame count whose encoding has `latent_frames` latent frames."""
        if self.micro_frame_size is None:
            factor = self.temporal_factor
            return range(factor * (latent_frames - 1) + 1, factor * latent_frames + 1)
        full, rest = divmod(latent_frames, self.micro_z_frame_size)
        base = full * self.micro_frame_size
        if rest == 0:
            return range(base, base + 1)
        tails = [
            n for n in range(1, self.micro_frame_size) if self.temporal_vae.latent_frames(n) == rest
        ]
        return range(base + tails[0], base + tails[-1] + 1) if tails else range(0)

    def encode(
        self, x: torch.Tensor, sample_posterior: bool = True, noise: "NoiseFn | None" = None
    ) -> torch.Tensor:
        """(B, 3, T, H, W) in [-1, 1] -> normalised latents (B, 4, T', H/8, W/8)."""
        self.check_video(x)
        spatial = self.spatial_vae.encode(x, sample_posterior, noise or device_noise)
        runner, latents = self._runner(spatial), []
        for start, stop in self._pixel_chunks(spatial.shape[2]):
            moments = self.temporal_vae.encode_moments(spatial[:, :, start:stop], runner)
            posterior = DiagonalGaussian(moments)
            latents.append(posterior.latent(sample_posterior, noise or cpu_noise))
        latent = torch.cat(latents, dim=2)
        return (latent - cast_like(self.shift, latent)) / cast_like(self.scale, latent)

    def decode(self, z: torch.Tensor, num_frames: "int | None" = None) -> torch.Tensor:
        """(B, 4, T', h, w) -> (B, 3, num_frames, 8h, 8w).

        `num_frames` defaults to the smallest count the latent can hold (17 per full
        chunk, 1 for a single latent frame), which is what Open-Sora's frame counts give.
        """
        self.check_latent(z)
        valid = self.frame_counts_for(z.shape[2])
        if num_frames is None:
            num_frames = valid.start
        if num_frames not in valid:
            raise VideoShapeError(
                f"num_frames: {num_frames} cannot come from {z.shape[2]} latent frames; "
                f"valid counts are {valid.start}..{valid.stop - 1}"
            )
        z = z * cast_like(self.scale, z) + cast_like(self.shift, z)
        step = self.micro_z_frame_size or z.shape[2]
        runner, remaining, pieces = self._runner(z), num_frames, []
        for start in range(0, z.shape[2], step):
            frames = min(self.micro_frame_size or remaining, remaining)
            pieces.append(self.temporal_vae.decode(z[:, :, start : start + step], frames, runner))
            remaining -= frames
        return self.spatial_vae.decode(torch.cat(pieces, dim=2))

    def get_latent_size(self, input_size: list) -> list:
        """[T, H, W] -> [T', H // 8, W // 8] as the reference computes it (None passes through)."""
        frames, height, width = self.spatial_vae.get_latent_size(input_size)
        if frames is not None:
            frames = self.latent_frames(frames)
        return [frames, height, width]

    def estimate_decode_bytes(
        self,
        latent_height: int,
        latent_width: int,
        batch: int = 1,
        frames: int = 1,
        tile_size: "int | None" = None,
    ) -> int:
        """Estimated peak activation bytes of decoding (the worse of the two stages),
        untiled or on exact `tile_size`-cell tiles."""
        z_frames = self.micro_z_frame_size or self.latent_frames(frames)
        temporal = decode_elements(
            self.temporal_vae.peak_elements_per_cell(z_frames),
            (latent_height, latent_width),
            tile_size,
            untiled_samples=batch,
            tiled_samples=batch,
        )
        spatial = self.spatial_vae.estimate_decode_bytes(
            latent_height, latent_width, batch, frames, tile_size
        )
        return max(temporal * self.dtype.itemsize, spatial)
