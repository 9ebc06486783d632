"""The random numbers of a training step, keyed by sample rather than by process.

Every draw that belongs to one sample of a step (its timestep, its diffusion noise, its
VAE posterior noise, its frame mask) comes from a CPU generator seeded by
`(seed, global step, position of the sample in the global batch)`. A run therefore
draws the same numbers on one process or on eight (the global batch split across
ranks), and a resumed run draws what the uninterrupted run drew, without replaying
any generator. The reference seeds every rank alike instead, so its ranks share noise. The key of a
sample is its dataset index, which every batch carries as `index`.
"""

import contextlib
import random
from collections.abc import Iterator

import numpy as np
import torch

from ..vae.posterior import NoiseFn


def sample_seeds(seed: int, step: int, keys: "list[int]", stream: int) -> "list[int]":
    """One 63-bit seed per key (a sample's dataset index, or a rank) at optimizer step `step`.

    `stream` separates the uses (diffusion noise, frame masks, in-model dropout)."""
    return [
        int(np.random.SeedSequence([seed, step, key, stream]).generate_state(1, np.uint64)[0] >> 1)
        for key in keys
    ]


class SampleNoise:
    """A `NoiseSource` whose draws give row i of every tensor from sample i's generator."""

    def __init__(self, seeds: "list[int]"):
        self.seeds = list(seeds)
        self.generators = [torch.Generator().manual_seed(seed) for seed in self.seeds]

    def _rows(self, shape: "tuple[int, ...]", device, draw) -> torch.Tensor:
        if shape[0] != len(self.generators):
            raise ValueError(
                f"a per-sample draw of shape {shape} for {len(self.generators)} samples"
            )
        rows = [draw(tuple(shape[1:]), generator) for generator in self.generators]
        return torch.stack(rows).to(device)

    def randn(self, shape: "tuple[int, ...]", device: torch.device) -> torch.Tensor:
        """Standard normal samples, row i from sample i."""
        return self._rows(shape, device, lambda s, g: torch.randn(s, generator=g))

    def rand(self, shape: "tuple[int, ...]", device: torch.device) -> torch.Tensor:
        """Uniform [0, 1) samples, row i from sample i."""
        return self._rows(shape, device, lambda s, g: torch.rand(s, generator=g))

    def randint(self, high: int, shape: "tuple[int, ...]", device: torch.device) -> torch.Tensor:
        """Uniform integers in [0, high), row i from sample i."""
        return self._rows(shape, device, lambda s, g: torch.randint(0, high, s, generator=g))

    def vae_noise(self, frames_per_sample: int) -> NoiseFn:
        """Posterior noise for `VideoVAE.encode` of this batch.

        The spatial VAE draws for frame rows (N, C, h, w) in batch-major order and in
        micro-batches, the temporal VAE for whole samples (B, C, T, h, w); a frame row r
        belongs to sample r // frames_per_sample, whatever the micro-batch size.
        """
        next_row = 0

        def draw(
            shape: "tuple[int, ...]", device: torch.device, dtype: torch.dtype
        ) -> torch.Tensor:
            nonlocal next_row
            if len(shape) == 5:
                return self.randn(shape, device).to(dtype)
            rows = range(next_row, next_row + shape[0])
            next_row += shape[0]
            frames = [
                torch.randn(tuple(shape[1:]), generator=self.generators[row // frames_per_sample])
                for row in rows
            ]
            return torch.stack(frames).to(device=device, dtype=dtype)

        return draw


@contextlib.contextmanager
def seeded_host_rng(seed: int) -> Iterator[None]:
    """Run a block with Python's, NumPy's and torch's CPU generators seeded by `seed`, then
    put them back (for code that draws from the global generators, such as masks and crops)."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)
