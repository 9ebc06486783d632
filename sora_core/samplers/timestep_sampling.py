"""Training timestep distributions: uniform, logit-normal (Open-Sora 1.2) and discrete."""

import torch

from ..errors import ConfigError
from .noise import NoiseSource


class TimestepSampler:
    """Training timesteps in [0, num_timesteps): "uniform" or "logit-normal" (sigmoid of a
    normal with mean `loc` and deviation `scale`, as `torch.distributions.LogisticNormal`);
    `discrete` draws integers uniformly."""

    def __init__(
        self,
        sample_method: str = "uniform",
        num_timesteps: int = 1000,
        loc: float = 0.0,
        scale: float = 1.0,
        discrete: bool = False,
    ):
        if sample_method not in ("uniform", "logit-normal"):
            raise ConfigError(
                f"sample_method={sample_method!r}; accepted: 'uniform', 'logit-normal'"
            )
        if discrete and sample_method != "uniform":
            raise ConfigError("discrete timesteps need sample_method='uniform'")
        self.sample_method = sample_method
        self.num_timesteps = num_timesteps
        self.loc = loc
        self.scale = scale
        self.discrete = discrete

    def sample(self, batch: int, device: torch.device, rng: NoiseSource) -> torch.Tensor:
        """`batch` timesteps drawn from `rng` (int64 when discrete, else float32)."""
        if self.discrete:
            return rng.randint(self.num_timesteps, (batch,), device)
        if self.sample_method == "uniform":
            return rng.rand((batch,), device) * self.num_timesteps
        normal = rng.randn((batch, 1), device) * self.scale + self.loc
        return torch.sigmoid(normal)[:, 0] * self.num_timesteps
