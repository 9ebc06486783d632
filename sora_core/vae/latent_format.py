"""What the nodes need to know about a VAE's latent space, including a fast RGB preview.

The preview is a linear map latent -> RGB fitted on the loaded VAE itself (encode synthetic
colour clips, least squares against their block-averaged colours), so it is right for any
checkpoint rather than borrowed from another model's latent space.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

# Synthetic clips used for the fit: each is a 2 x 2 grid of flat random colours.
FIT_CLIPS = 12
FIT_SEED = 0


@dataclass(frozen=True)
class LatentFormat:
    """Channels, compression factors and the latent-to-RGB preview map of one VAE."""

    family: str
    channels: int
    temporal_factor: int
    spatial_factor: int
    latent_rgb_factors: tuple[tuple[float, float, float], ...]  # one row per latent channel
    latent_rgb_factors_bias: tuple[float, float, float]

    def to_rgb(self, latent: torch.Tensor) -> torch.Tensor:
        """(B, C, T, h, w) latents -> approximate (B, 3, T, h, w) RGB in [-1, 1]."""
        factors = torch.tensor(self.latent_rgb_factors, dtype=latent.dtype, device=latent.device)
        bias = torch.tensor(self.latent_rgb_factors_bias, dtype=latent.dtype, device=latent.device)
        rgb = torch.einsum("bcthw,cr->brthw", latent, factors) + bias.view(1, 3, 1, 1, 1)
        return rgb.clamp(-1, 1)


def synthetic_clips(count: int, frames: int, size: int) -> torch.Tensor:
    """`count` static clips (count, 3, frames, size, size), each four flat colour blocks."""
    generator = torch.Generator().manual_seed(FIT_SEED)
    colours = torch.rand(count, 3, 2, 2, generator=generator) * 2 - 1
    images = F.interpolate(colours, scale_factor=size // 2, mode="nearest")
    return images[:, :, None].expand(-1, -1, frames, -1, -1).contiguous()


@torch.no_grad()
def fit_latent_format(vae) -> LatentFormat:
    """Fit the preview map of `vae` by least squares on encoded synthetic colour clips."""
    factor = vae.spatial_factor
    frames = vae.temporal_factor + 1
    clips = synthetic_clips(FIT_CLIPS, frames, 4 * factor)
    latent = vae.encode(clips.to(vae.device, vae.dtype), sample_posterior=False).float().cpu()
    # The colour each latent cell stands for: its pixel block's mean (clips are static in time).
    colour = F.avg_pool2d(clips[:, :, 0], factor)
    colour = colour[:, :, None].expand(-1, -1, latent.shape[2], -1, -1)
    channels = latent.shape[1]
    inputs = latent.permute(0, 2, 3, 4, 1).reshape(-1, channels)
    targets = colour.permute(0, 2, 3, 4, 1).reshape(-1, 3)
    design = torch.cat([inputs, torch.ones(len(inputs), 1)], dim=1)
    solution = torch.linalg.lstsq(design.double(), targets.double()).solution.float()
    return LatentFormat(
        family=vae.family,
        channels=channels,
        temporal_factor=vae.temporal_factor,
        spatial_factor=factor,
        latent_rgb_factors=tuple(tuple(row) for row in solution[:channels].tolist()),
        latent_rgb_factors_bias=tuple(solution[channels].tolist()),
    )
