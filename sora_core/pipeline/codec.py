"""The VAE as the pipeline uses it: seeded posterior sampling, on the device only while it works.

`PlacedCodec` wraps any VAE with `encode(x, noise=...)` / `decode(z, num_frames=)` /
`get_latent_size` (the `sora_core.vae` models) so that its posterior draws come from the
run's `NoiseSource` (in the reference's order) and its weights visit the working device
only for each encode and decode. It is the `LatentVideoCodec` the long-video loop takes.
"""

import inspect
from collections.abc import Sequence

import torch

from ..samplers import NoiseSource
from .placement import Placement, working


def vae_noise(noise: NoiseSource):
    """A VAE posterior noise function `(shape, device, dtype) -> tensor` drawing from `noise`."""

    def draw(shape: "tuple[int, ...]", device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        return noise.randn(tuple(shape), device).to(dtype)

    return draw


class PlacedCodec:
    """A VAE bound to a placement and a noise source: pixels (B, 3, T, H, W) <-> latents."""

    def __init__(self, vae, placement: Placement, noise: "NoiseSource | None" = None):
        self.vae = vae
        self.placement = placement
        self.noise = noise
        self._takes_noise = "noise" in inspect.signature(vae.encode).parameters

    @property
    def out_channels(self) -> int:
        """Latent channels."""
        return self.vae.out_channels

    def get_latent_size(self, input_size: "Sequence[int | None]") -> "list[int | None]":
        """[T, H, W] -> latent [T', H', W']."""
        return self.vae.get_latent_size(list(input_size))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) in [-1, 1] -> float32 latent (B, C, T', H', W')."""
        kwargs = {}
        if self.noise is not None and self._takes_noise:
            kwargs["noise"] = vae_noise(self.noise)
        with working(self.vae, self.placement), torch.no_grad():
            x = x.to(self.placement.device, self.placement.dtype)
            return self.vae.encode(x, **kwargs).float()

    def decode(self, z: torch.Tensor, num_frames: "int | None" = None) -> torch.Tensor:
        """(B, C, T', H', W') -> float32 video (B, 3, num_frames, H, W), on the CPU."""
        return decode_latent(self.vae, z, self.placement, num_frames)


def decode_latent(
    vae, latent: torch.Tensor, placement: Placement, num_frames: "int | None" = None
) -> torch.Tensor:
    """Decode (B, C, T', H', W') to a float32 CPU video (B, 3, T, H, W), roughly in [-1, 1].

    The latent is cast to the computation dtype first, as the reference casts its samples.
    """
    with working(vae, placement), torch.no_grad():
        z = latent.to(placement.device, placement.dtype)
        video = vae.decode(z, num_frames=num_frames)
    return video.float().cpu()
