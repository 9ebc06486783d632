"""The diagonal Gaussian posterior both VAEs return, and where its sampling noise comes from.

Encoding in Open-Sora samples the posterior, so it consumes random numbers; a `NoiseFn`
lets callers replay recorded noise or use their own generator, while the defaults draw
exactly as the reference does (same calls, same order, same device).
"""

from collections.abc import Callable

import torch

# (shape, device, dtype) -> standard normal tensor of that shape on that device/dtype.
NoiseFn = Callable[[tuple[int, ...], torch.device, torch.dtype], torch.Tensor]

LOGVAR_RANGE = (-30.0, 20.0)


def device_noise(shape: tuple[int, ...], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Noise drawn on the latent's own device and dtype (diffusers' AutoencoderKL posterior)."""
    return torch.randn(shape, device=device, dtype=dtype)


def cpu_noise(shape: tuple[int, ...], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Noise drawn in fp32 on the CPU, then moved (Open-Sora's temporal VAE posterior)."""
    return torch.randn(shape).to(device=device, dtype=dtype)


def generator_noise(generator: torch.Generator) -> NoiseFn:
    """A `NoiseFn` drawing from `generator` (on the generator's device), for seeded encoding."""

    def draw(shape: tuple[int, ...], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        noise = torch.randn(shape, generator=generator, device=generator.device)
        return noise.to(device=device, dtype=dtype)

    return draw


class DiagonalGaussian:
    """Posterior over latents from stacked moments `[mean; logvar]` on the channel axis."""

    def __init__(self, moments: torch.Tensor):
        self.mean, logvar = torch.chunk(moments, 2, dim=1)
        self.logvar = torch.clamp(logvar, *LOGVAR_RANGE)
        self.std = torch.exp(0.5 * self.logvar)

    def sample(self, noise: NoiseFn) -> torch.Tensor:
        """`mean + std * eps`, with `eps` from `noise` (one draw of the mean's shape)."""
        eps = noise(tuple(self.mean.shape), self.mean.device, self.mean.dtype)
        return self.mean + self.std * eps

    def mode(self) -> torch.Tensor:
        """The posterior mean."""
        return self.mean

    def latent(self, sample_posterior: bool, noise: NoiseFn) -> torch.Tensor:
        """A sample when `sample_posterior`, else the mean."""
        return self.sample(noise) if sample_posterior else self.mean
