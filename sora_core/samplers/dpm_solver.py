"""DPM-Solver++ (registry name "dpm-solver"): a deterministic multistep ODE solver on the
linear-beta VP process, as Open-Sora (from PixArt) configures it: order 2, uniform time
steps, lower-order final steps below 10 steps, data prediction, no mask support.

Use it for quick image previews with an IDDPM-trained model (about 20 steps); Open-Sora 1.2
models are rectified-flow models and need "rflow".
"""

import torch

from ..errors import ConfigError
from .guidance import guided_output
from .iddpm import named_betas
from .interface import Sampler, SamplingRun


class VPNoiseSchedule:
    """The discrete linear-beta process in continuous time t in (0, 1], as DPM-Solver sees it:
    log(alpha_t) interpolated piecewise-linearly between the 1000 steps (float32)."""

    def __init__(self, diffusion_steps: int = 1000):
        log_alphas = 0.5 * torch.log(1 - named_betas("linear", diffusion_steps)).cumsum(dim=0)
        self.log_alpha_array = log_alphas.to(torch.float32)
        self.t_array = torch.linspace(0.0, 1.0, diffusion_steps + 1)[1:]
        self.total_n = diffusion_steps

    def log_alpha(self, t: torch.Tensor) -> torch.Tensor:
        """log(alpha_t), extrapolating linearly beyond the first and last steps."""
        knots_t = self.t_array.to(t.device)
        knots_y = self.log_alpha_array.to(t.device)
        segment = (torch.bucketize(t, knots_t) - 1).clamp(0, len(knots_t) - 2)
        start_t, end_t = knots_t[segment], knots_t[segment + 1]
        start_y, end_y = knots_y[segment], knots_y[segment + 1]
        return start_y + (t - start_t) * (end_y - start_y) / (end_t - start_t)

    def alpha(self, t: torch.Tensor) -> torch.Tensor:
        """alpha_t, the signal scale."""
        return torch.exp(self.log_alpha(t))

    def sigma(self, t: torch.Tensor) -> torch.Tensor:
        """sigma_t, the noise scale."""
        return torch.sqrt(1.0 - torch.exp(2.0 * self.log_alpha(t)))

    def half_log_snr(self, t: torch.Tensor) -> torch.Tensor:
        """lambda_t = log(alpha_t) - log(sigma_t)."""
        log_alpha = self.log_alpha(t)
        return log_alpha - 0.5 * torch.log(1.0 - torch.exp(2.0 * log_alpha))


class DPMSolver(Sampler):
    """Open-Sora's DPM_SOLVER sampler. Config keys: `num_sampling_steps`, `cfg_scale`."""

    order = 2

    def __init__(self, num_sampling_steps: int | None = None, cfg_scale: float = 4.0):
        if num_sampling_steps is None or int(num_sampling_steps) < self.order:
            raise ConfigError(
                f"dpm-solver num_sampling_steps={num_sampling_steps}; needs an integer >= {self.order}"
            )
        self.num_sampling_steps = int(num_sampling_steps)
        self.cfg_scale = cfg_scale
        self.noise_schedule = VPNoiseSchedule()

    def time_steps(self, device: torch.device) -> torch.Tensor:
        """Uniform continuous times from 1 down to 1/1000, (steps + 1,) float32."""
        return torch.linspace(
            1.0, 1.0 / self.noise_schedule.total_n, self.num_sampling_steps + 1
        ).to(device)

    def _denoise(self, x: torch.Tensor, t: torch.Tensor, run: SamplingRun) -> torch.Tensor:
        # Data prediction x0 = (x - sigma_t eps) / alpha_t; the model takes time (t - 1/N) * 1000.
        channels = x.shape[1]
        model_time = (t.expand(x.shape[0]) - 1.0 / self.noise_schedule.total_n) * 1000.0
        eps = guided_output(
            run.model,
            x,
            model_time,
            run.text,
            run.scale,
            channels=channels,
            null_first=True,
            model_kwargs=run.model_kwargs,
        )[:, :channels]
        schedule = self.noise_schedule
        return (x - schedule.sigma(t) * eps) / schedule.alpha(t)

    def _first_order(self, x, x0, s, t) -> torch.Tensor:
        schedule = self.noise_schedule
        h = schedule.half_log_snr(t) - schedule.half_log_snr(s)
        alpha_t = torch.exp(schedule.log_alpha(t))
        return schedule.sigma(t) / schedule.sigma(s) * x - alpha_t * torch.expm1(-h) * x0

    def _second_order(self, x, x0_prev, x0, t_prev, s, t) -> torch.Tensor:
        schedule = self.noise_schedule
        lambda_prev, lambda_s, lambda_t = (schedule.half_log_snr(v) for v in (t_prev, s, t))
        alpha_t = torch.exp(schedule.log_alpha(t))
        h = lambda_t - lambda_s
        r0 = (lambda_s - lambda_prev) / h
        derivative = (1.0 / r0) * (x0 - x0_prev)
        phi = torch.expm1(-h)
        return (
            (schedule.sigma(t) / schedule.sigma(s)) * x
            - (alpha_t * phi) * x0
            - 0.5 * (alpha_t * phi) * derivative
        )

    def _sample(self, latent: torch.Tensor, run: SamplingRun) -> torch.Tensor:
        # Deterministic: `run.noise` is never drawn from.
        if run.frame_mask is not None:
            raise ConfigError(
                "dpm-solver does not support a conditioning mask (frame_mask); use 'rflow' or 'iddpm'"
            )
        x = latent
        steps = self.num_sampling_steps
        times = self.time_steps(x.device)
        previous_times = [times[0]]
        previous_x0 = [self._denoise(x, times[0], run)]
        for step in range(1, steps + 1):
            t = times[step]
            # First order to start; below 10 steps also for the last step (v1.2.0 behaviour).
            order = 1 if step == 1 or (steps < 10 and step == steps) else self.order
            if order == 1:
                x = self._first_order(x, previous_x0[-1], previous_times[-1], t)
            else:
                x = self._second_order(
                    x, previous_x0[-2], previous_x0[-1], previous_times[-2], previous_times[-1], t
                )
            run.report(step - 1, steps, t, x, previous_x0[-1])
            previous_times = [*previous_times[-1:], t]
            if step < steps:
                previous_x0 = [*previous_x0[-1:], self._denoise(x, t, run)]
        return x
