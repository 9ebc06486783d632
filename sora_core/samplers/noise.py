"""The one place samplers and training losses get random numbers from.

Every draw goes through a `NoiseSource`, so a seed gives the same video on any device
(draws are made on the CPU in float32 and then moved) and tests can replay the draws
the reference recorded, in order.
"""

from typing import Protocol

import torch


class NoiseSource(Protocol):
    """Random draws in the order a sampler or loss asks for them."""

    def randn(self, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
        """Standard normal float32 samples of `shape` on `device`."""
        ...

    def rand(self, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
        """Uniform [0, 1) float32 samples of `shape` on `device`."""
        ...

    def randint(self, high: int, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
        """Uniform int64 samples in [0, high) of `shape` on `device`."""
        ...


class GeneratorNoise:
    """A `NoiseSource` over a `torch.Generator` (CPU by default: a seed gives the same numbers on
    any device).

    Seeded like `torch.manual_seed(seed)`, it reproduces the draws the reference makes with
    `torch.randn_like` / `torch.rand` / `torch.randint` on a CPU float32 tensor. A generator on
    another device draws there (faster for huge latents, but device-specific numbers).
    """

    def __init__(self, seed: int | None = None, generator: torch.Generator | None = None):
        if generator is None:
            generator = torch.Generator(device="cpu")
            if seed is None:
                generator.seed()
            else:
                generator.manual_seed(seed)
        elif seed is not None:
            generator.manual_seed(seed)
        self.generator = generator

    def randn(self, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
        """Standard normal float32 samples drawn on the generator's device, then moved to `device`."""
        return torch.randn(
            shape, generator=self.generator, dtype=torch.float32, device=self.generator.device
        ).to(device)

    def rand(self, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
        """Uniform [0, 1) float32 samples drawn on the generator's device, then moved to `device`."""
        return torch.rand(
            shape, generator=self.generator, dtype=torch.float32, device=self.generator.device
        ).to(device)

    def randint(self, high: int, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
        """Uniform int64 samples in [0, high) drawn on the generator's device, then moved to `device`."""
        return torch.randint(
            0, high, shape, generator=self.generator, device=self.generator.device
        ).to(device)


def as_noise_source(noise: "NoiseSource | torch.Generator | int | None") -> NoiseSource:
    """A `NoiseSource` from a source, a CPU generator, a seed, or None (a fresh random seed)."""
    if isinstance(noise, torch.Generator):
        return GeneratorNoise(generator=noise)
    if noise is None or isinstance(noise, int):
        return GeneratorNoise(seed=noise)
    return noise
