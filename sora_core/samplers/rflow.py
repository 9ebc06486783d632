"""Rectified flow (Open-Sora 1.2's sampler, registry name "rflow").

The latent moves on a straight line between data (t = 0) and noise (t = num_timesteps);
the model predicts the velocity `v = x0 - noise` and the sampler integrates it with Euler
steps from t = 1000 down to 0.
"""

from collections.abc import Mapping
from typing import Any

import torch

from ..errors import ConfigError
from .guidance import guided_output
from .interface import Sampler, SamplingRun, per_frame
from .timestep_sampling import TimestepSampler

_TRANSFORM_ARGS = ("height", "width", "num_frames")


def add_noise(
    clean: torch.Tensor, noise: torch.Tensor, timestep: torch.Tensor, num_timesteps: int = 1000
) -> torch.Tensor:
    """The point at `timestep` (B,) on the line from `clean` to `noise` (B, C, T, H, W)."""
    # Written as the reference writes it: (1 - t) x0 + (1 - (1 - t)) noise, same float32 rounding.
    keep = 1 - timestep.float() / num_timesteps
    keep = keep.view(-1, *([1] * (clean.dim() - 1)))
    return keep * clean + (1 - keep) * noise


def timestep_transform(
    timestep: torch.Tensor,
    model_kwargs: Mapping[str, Any],
    base_resolution: int = 512 * 512,
    base_num_frames: int = 1,
    scale: float = 1.0,
    num_timesteps: int = 1,
) -> torch.Tensor:
    """Shift timesteps towards the noisy end for larger videos (Open-Sora 1.2).

    Uses the pixel `height`, `width` and `num_frames` (B,) tensors of `model_kwargs`;
    `num_frames // 17 * 5` is the latent frame count of the 1.2 VAE (0 for 2-16 frames,
    which sends every timestep to 0, as in the reference), and 1 frame counts as 1.
    """
    missing = [name for name in _TRANSFORM_ARGS if name not in model_kwargs]
    if missing:
        raise ConfigError(
            f"use_timestep_transform needs model arguments {list(_TRANSFORM_ARGS)}; missing {missing}"
        )
    # fp16 sizes overflow in height * width: compute in float32 (the reference's later fix).
    height, width, num_frames = (
        torch.as_tensor(model_kwargs[name], device=timestep.device).float()
        for name in _TRANSFORM_ARGS
    )
    t = timestep / num_timesteps
    ratio_space = (height * width / base_resolution).sqrt()
    if num_frames.reshape(-1)[0] == 1:
        latent_frames = torch.ones_like(num_frames)
    else:
        latent_frames = num_frames // 17 * 5
    ratio_time = (latent_frames / base_num_frames).sqrt()
    ratio = ratio_space * ratio_time * scale
    return ratio * t / (1 + (ratio - 1) * t) * num_timesteps


class RectifiedFlow(Sampler):
    """Open-Sora's RFLOW sampler (Euler steps on the rectified-flow ODE).

    Config keys as in Open-Sora: `num_sampling_steps`, `num_timesteps`, `cfg_scale`,
    `use_discrete_timesteps`, `use_timestep_transform`, and for training `sample_method`
    ("uniform" | "logit-normal"), `loc`, `scale`, `transform_scale`.
    """

    def __init__(
        self,
        num_sampling_steps: int = 10,
        num_timesteps: int = 1000,
        cfg_scale: float = 4.0,
        use_discrete_timesteps: bool = False,
        use_timestep_transform: bool = False,
        sample_method: str = "uniform",
        loc: float = 0.0,
        scale: float = 1.0,
        transform_scale: float = 1.0,
    ):
        if int(num_sampling_steps) < 1:
            raise ConfigError(f"rflow num_sampling_steps={num_sampling_steps}; needs at least 1")
        self.num_sampling_steps = int(num_sampling_steps)
        self.num_timesteps = num_timesteps
        self.cfg_scale = cfg_scale
        self.use_discrete_timesteps = use_discrete_timesteps
        self.use_timestep_transform = use_timestep_transform
        self.transform_scale = transform_scale
        self.timestep_sampler = TimestepSampler(
            sample_method, num_timesteps, loc=loc, scale=scale, discrete=use_discrete_timesteps
        )

    def timesteps(
        self, batch: int, device: torch.device, model_kwargs: Mapping[str, Any] | None = None
    ) -> list[torch.Tensor]:
        """The sampling timesteps, each a (B,) tensor, from `num_timesteps` down (never 0)."""
        steps = self.num_sampling_steps
        values: list[float | int] = [(1.0 - i / steps) * self.num_timesteps for i in range(steps)]
        if self.use_discrete_timesteps:
            values = [int(round(value)) for value in values]
        timesteps = [torch.tensor([value] * batch, device=device) for value in values]
        if self.use_timestep_transform:
            # The sampler uses scale 1: `transform_scale` only shapes training timesteps.
            timesteps = [
                timestep_transform(t, model_kwargs or {}, num_timesteps=self.num_timesteps)
                for t in timesteps
            ]
        return timesteps

    def _velocity(
        self, z: torch.Tensor, t: torch.Tensor, run: SamplingRun, x_mask: torch.Tensor | None
    ) -> torch.Tensor:
        # The guided velocity (B, C, T, H, W); the model's extra channels are dropped.
        channels = z.shape[1]
        return guided_output(
            run.model,
            z,
            t,
            run.text,
            run.scale,
            channels=channels,
            x_mask=x_mask,
            model_kwargs=run.model_kwargs,
        )[:, :channels]

    def _euler(
        self, z: torch.Tensor, velocity: torch.Tensor, t: torch.Tensor, t_next: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """An Euler step of `velocity` from `t` to `t_next`: (new latent, predicted clean latent)."""
        denoised = z + velocity * (t.float() / self.num_timesteps).view(-1, 1, 1, 1, 1)
        dt = (t - t_next) / self.num_timesteps
        return z + velocity * dt.view(-1, 1, 1, 1, 1), denoised

    def _step(
        self,
        z: torch.Tensor,
        t: torch.Tensor,
        t_next: torch.Tensor,
        run: SamplingRun,
        x_mask: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step from `t` to `t_next`: (new latent, predicted clean latent)."""
        return self._euler(z, self._velocity(z, t, run, x_mask), t, t_next)

    def _sample(self, latent: torch.Tensor, run: SamplingRun) -> torch.Tensor:
        # A frame with edit ratio r keeps its given latent while t > 1000 r, is noised once to
        # the current t at the first step where t <= 1000 r, and is integrated from then on.
        z = latent
        timesteps = self.timesteps(z.shape[0], z.device, run.model_kwargs)
        # The last step integrates to t = 0.
        ends = [*timesteps[1:], torch.zeros_like(timesteps[-1])]
        frame_mask = run.frame_mask
        if frame_mask is not None:
            noise_added = frame_mask == 1

        x_mask = None
        for i, (t, t_next) in enumerate(zip(timesteps, ends)):
            if frame_mask is not None:
                clean = z.clone()
                noised = add_noise(
                    clean, run.noise.randn(tuple(z.shape), z.device), t, self.num_timesteps
                )
                x_mask = frame_mask * self.num_timesteps >= t.unsqueeze(1)
                z = torch.where(per_frame(x_mask & ~noise_added), noised, clean)
                noise_added = x_mask

            z, denoised = self._step(z, t, t_next, run, x_mask)
            if frame_mask is not None:
                z = torch.where(per_frame(x_mask), z, clean)
            run.report(i, len(timesteps), t, z, denoised)
        return z


class RectifiedFlowHeun(RectifiedFlow):
    """Rectified flow with Heun's second-order steps ("rflow-heun"; not in Open-Sora).

    Each step averages the velocity at both ends (two model calls, one on the last step), so
    it follows curved trajectories more closely than Euler at the same number of steps.
    When to use: fewer, better steps, e.g. 15 Heun steps (29 model calls) instead of 30
    Euler steps; the reference sampler ("rflow") stays the default and the one that matches
    Open-Sora's outputs. Same config keys, timesteps, guidance and conditioning frames.
    """

    @property
    def model_calls(self) -> int:
        """Two calls per step, one on the last."""
        return 2 * self.num_sampling_steps - 1

    def _step(
        self,
        z: torch.Tensor,
        t: torch.Tensor,
        t_next: torch.Tensor,
        run: SamplingRun,
        x_mask: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One Heun step from `t` to `t_next` (Euler onto t = 0)."""
        velocity = self._velocity(z, t, run, x_mask)
        euler, denoised = self._euler(z, velocity, t, t_next)
        if bool((t_next == 0).all()):
            return euler, denoised
        velocity_next = self._velocity(euler, t_next, run, x_mask)
        dt = ((t - t_next) / self.num_timesteps).view(-1, 1, 1, 1, 1)
        return z + 0.5 * (velocity + velocity_next) * dt, denoised
