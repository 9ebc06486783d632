"""IDDPM (Open-Sora 1.0/1.1's sampler, registry name "iddpm"): DDPM ancestral sampling on a
respaced linear beta schedule with a learned variance.

Open-Sora 1.1/1.2 rebuild the respaced betas with `torch.FloatTensor`, so every schedule
array is float32; 1.0 kept numpy float64. The outputs differ by about 1e-3, so the schedule
dtype is a constructor argument (`build_scheduler(..., release="1.0")` picks float64).
"""

import math
from dataclasses import dataclass

import torch

from ..errors import ConfigError
from .guidance import guided_output
from .interface import Sampler, SamplingRun, per_frame

MEAN_TYPES = ("epsilon", "start_x")
VARIANCE_TYPES = ("learned_range", "fixed_small", "fixed_large")


def named_betas(noise_schedule: str, diffusion_steps: int) -> torch.Tensor:
    """The base float64 beta schedule: "linear" (Ho et al., scaled to the step count) or
    "squaredcos_cap_v2" (Nichol & Dhariwal's cosine schedule)."""
    if noise_schedule == "linear":
        scale = 1000 / diffusion_steps
        return torch.linspace(scale * 0.0001, scale * 0.02, diffusion_steps, dtype=torch.float64)
    if noise_schedule == "squaredcos_cap_v2":

        def alpha_bar(t: float) -> float:
            return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

        return torch.tensor(
            [
                min(
                    1 - alpha_bar((i + 1) / diffusion_steps) / alpha_bar(i / diffusion_steps), 0.999
                )
                for i in range(diffusion_steps)
            ],
            dtype=torch.float64,
        )
    raise ConfigError(
        f"iddpm noise_schedule={noise_schedule!r}; accepted: 'linear', 'squaredcos_cap_v2'"
    )


def space_timesteps(num_timesteps: int, section_counts: str | list[int]) -> list[int]:
    """The kept steps of a respaced process, ascending.

    `section_counts` is "ddimK" (the first integer stride giving K steps) or comma-separated
    counts, one per equal section of the process ("10" -> [0, 111, ..., 999]).
    """
    if isinstance(section_counts, str):
        if section_counts.startswith("ddim"):
            wanted = int(section_counts[len("ddim") :])
            for stride in range(1, num_timesteps):
                if len(range(0, num_timesteps, stride)) == wanted:
                    return list(range(0, num_timesteps, stride))
            raise ConfigError(
                f"timestep_respacing={section_counts!r}: no integer stride gives {wanted} "
                f"of {num_timesteps} steps"
            )
        try:
            section_counts = [int(count) for count in section_counts.split(",")]
        except ValueError:
            raise ConfigError(
                f"timestep_respacing={section_counts!r}; expected 'ddimK' or comma-separated "
                "step counts such as '100' or '10,15,20'"
            ) from None
    size_per, extra = divmod(num_timesteps, len(section_counts))
    start, kept = 0, []
    for index, count in enumerate(section_counts):
        size = size_per + (1 if index < extra else 0)
        if not 1 <= count <= size:
            raise ConfigError(
                f"timestep_respacing: cannot take {count} steps from a section of {size}"
            )
        stride = 1 if count <= 1 else (size - 1) / (count - 1)
        position = 0.0
        for _ in range(count):
            kept.append(start + round(position))
            position += stride
        start += size
    return sorted(set(kept))


@dataclass(frozen=True)
class DiffusionSchedule:
    """A (respaced) discrete diffusion process: the arrays DDPM sampling and training look up."""

    timestep_map: torch.Tensor  # respaced index -> original step (int64)
    betas: torch.Tensor
    log_betas: torch.Tensor
    alphas_cumprod: torch.Tensor
    sqrt_alphas_cumprod: torch.Tensor
    sqrt_one_minus_alphas_cumprod: torch.Tensor
    sqrt_recip_alphas_cumprod: torch.Tensor
    sqrt_recipm1_alphas_cumprod: torch.Tensor
    posterior_variance: torch.Tensor
    posterior_log_variance_clipped: torch.Tensor
    posterior_mean_coef1: torch.Tensor
    posterior_mean_coef2: torch.Tensor

    @classmethod
    def respaced(
        cls, base_betas: torch.Tensor, kept: list[int], dtype: torch.dtype
    ) -> "DiffusionSchedule":
        """Keep the steps `kept` of the float64 process `base_betas`, then store arrays in `dtype`."""
        base_alphas_cumprod = torch.cumprod(1.0 - base_betas, dim=0)
        previous, betas = 1.0, []
        for step in kept:
            betas.append(1 - base_alphas_cumprod[step] / previous)
            previous = base_alphas_cumprod[step]
        betas = torch.stack(betas).to(dtype)

        alphas = 1.0 - betas
        alphas_cumprod = torch.cumprod(alphas, dim=0)
        alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=dtype), alphas_cumprod[:-1]])
        posterior_variance = betas * (1.0 - alphas_cumprod_prev) / (1.0 - alphas_cumprod)
        # The posterior variance is 0 at step 0: its log borrows step 1's value.
        clipped = torch.cat([posterior_variance[1:2], posterior_variance[1:]])
        return cls(
            timestep_map=torch.tensor(kept, dtype=torch.int64),
            betas=betas,
            log_betas=torch.log(betas),
            alphas_cumprod=alphas_cumprod,
            sqrt_alphas_cumprod=torch.sqrt(alphas_cumprod),
            sqrt_one_minus_alphas_cumprod=torch.sqrt(1.0 - alphas_cumprod),
            sqrt_recip_alphas_cumprod=torch.sqrt(1.0 / alphas_cumprod),
            sqrt_recipm1_alphas_cumprod=torch.sqrt(1.0 / alphas_cumprod - 1),
            posterior_variance=posterior_variance,
            posterior_log_variance_clipped=torch.log(clipped) if len(kept) > 1 else clipped,
            posterior_mean_coef1=betas * torch.sqrt(alphas_cumprod_prev) / (1.0 - alphas_cumprod),
            posterior_mean_coef2=(1.0 - alphas_cumprod_prev)
            * torch.sqrt(alphas)
            / (1.0 - alphas_cumprod),
        )

    @property
    def num_timesteps(self) -> int:
        """The number of (respaced) steps."""
        return self.betas.shape[0]

    def at(self, name: str, t: torch.Tensor, dims: int = 5) -> torch.Tensor:
        """Array `name` at respaced steps `t` (B,) as float32 (B, 1, ...) with `dims` dims."""
        values = getattr(self, name).to(t.device)[t].float()
        return values.view(-1, *([1] * (dims - 1)))


class IDDPM(Sampler):
    """Open-Sora's IDDPM: ancestral DDPM sampling with classifier-free guidance.

    Config keys as in Open-Sora: `num_sampling_steps` or `timestep_respacing`,
    `noise_schedule`, `use_kl`, `sigma_small`, `predict_xstart`, `learn_sigma`,
    `rescale_learned_sigmas`, `diffusion_steps`, `cfg_scale`, `cfg_channel`.
    """

    def __init__(
        self,
        num_sampling_steps: int | None = None,
        timestep_respacing: str | list[int] | None = None,
        noise_schedule: str = "linear",
        use_kl: bool = False,
        sigma_small: bool = False,
        predict_xstart: bool = False,
        learn_sigma: bool = True,
        rescale_learned_sigmas: bool = False,
        diffusion_steps: int = 1000,
        cfg_scale: float = 4.0,
        cfg_channel: int | None = None,
        schedule_dtype: torch.dtype = torch.float32,
    ):
        if num_sampling_steps is not None:
            if timestep_respacing not in (None, ""):
                raise ConfigError(
                    f"iddpm: give num_sampling_steps ({num_sampling_steps}) or "
                    f"timestep_respacing ({timestep_respacing!r}), not both"
                )
            timestep_respacing = str(num_sampling_steps)
        if timestep_respacing in (None, ""):
            timestep_respacing = [diffusion_steps]
        kept = space_timesteps(diffusion_steps, timestep_respacing)
        self.schedule = DiffusionSchedule.respaced(
            named_betas(noise_schedule, diffusion_steps), kept, schedule_dtype
        )
        self.diffusion_steps = diffusion_steps
        self.mean_type = "start_x" if predict_xstart else "epsilon"
        if learn_sigma:
            self.variance_type = "learned_range"
        else:
            self.variance_type = "fixed_small" if sigma_small else "fixed_large"
        if use_kl:
            self.loss_type = "rescaled_kl"
        else:
            self.loss_type = "rescaled_mse" if rescale_learned_sigmas else "mse"
        self.cfg_scale = cfg_scale
        self.cfg_channel = cfg_channel

    @property
    def num_sampling_steps(self) -> int:
        """The number of respaced steps (model calls per sample)."""
        return self.schedule.num_timesteps

    @property
    def num_timesteps(self) -> int:
        """The number of respaced steps."""
        return self.schedule.num_timesteps

    def q_sample(self, x_start: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """`x_start` diffused to respaced steps `t` (B,) with the given `noise`."""
        return (
            self.schedule.at("sqrt_alphas_cumprod", t, x_start.dim()) * x_start
            + self.schedule.at("sqrt_one_minus_alphas_cumprod", t, x_start.dim()) * noise
        )

    def q_posterior(
        self, x_start: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and clipped log-variance of q(x_{t-1} | x_t, x_0)."""
        mean = (
            self.schedule.at("posterior_mean_coef1", t, x_t.dim()) * x_start
            + self.schedule.at("posterior_mean_coef2", t, x_t.dim()) * x_t
        )
        return mean, self.schedule.at("posterior_log_variance_clipped", t, x_t.dim())

    def p_mean_variance(
        self, model_output: torch.Tensor, x: torch.Tensor, t: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """p(x_{t-1} | x_t) from a model output (B, C or 2C, ...): mean, log_variance, pred_xstart."""
        channels = x.shape[1]
        prediction = model_output[:, :channels]
        dims = x.dim()
        if self.variance_type == "learned_range":
            # The variance output in [-1, 1] interpolates between the posterior and beta variances.
            min_log = self.schedule.at("posterior_log_variance_clipped", t, dims)
            max_log = self.schedule.at("log_betas", t, dims)
            fraction = (model_output[:, channels : 2 * channels] + 1) / 2
            log_variance = fraction * max_log + (1 - fraction) * min_log
        elif self.variance_type == "fixed_small":
            log_variance = self.schedule.at("posterior_log_variance_clipped", t, dims)
        else:
            large = torch.cat([self.schedule.posterior_variance[1:2], self.schedule.betas[1:]])
            log_variance = torch.log(large).to(t.device)[t].float().view(-1, *([1] * (dims - 1)))
        if self.mean_type == "start_x":
            pred_xstart = prediction
        else:
            pred_xstart = (
                self.schedule.at("sqrt_recip_alphas_cumprod", t, dims) * x
                - self.schedule.at("sqrt_recipm1_alphas_cumprod", t, dims) * prediction
            )
        mean, _ = self.q_posterior(pred_xstart, x, t)
        return {"mean": mean, "log_variance": log_variance, "pred_xstart": pred_xstart}

    def model_timesteps(self, t: torch.Tensor) -> torch.Tensor:
        """Respaced steps -> the original step numbers the model was trained on (int64)."""
        return self.schedule.timestep_map.to(t.device)[t]

    def _sample(self, latent: torch.Tensor, run: SamplingRun) -> torch.Tensor:
        # A frame with edit ratio r is held at its given latent while its step int(r * n) is
        # below t, re-noised to level t when they are equal, and sampled afterwards (so r = 0
        # frames are re-noised and denoised once at the last step and change slightly).
        x = latent
        batch, channels = x.shape[:2]
        # The reference carries a doubled (2B) latent whose second half is never used, yet
        # draws its noise at 2B: draw the same and keep the first half, so seeds agree.
        drawn_shape = (2 * batch, *x.shape[1:])
        guided_channels = channels if self.cfg_channel is None else self.cfg_channel
        if run.frame_mask is not None:
            frame_steps = (run.frame_mask * self.num_timesteps).to(torch.int)

        total = self.num_timesteps
        x_mask = None
        for index, step in enumerate(reversed(range(total))):
            t = torch.full((batch,), step, dtype=torch.int64, device=x.device)
            if run.frame_mask is not None:
                clean = x
                noised = self.q_sample(clean, t, run.noise.randn(drawn_shape, x.device)[:batch])
                x = torch.where(per_frame(frame_steps == step), noised, clean)
                x_mask = frame_steps > step

            output = guided_output(
                run.model,
                x,
                self.model_timesteps(t),
                run.text,
                run.scale,
                channels=guided_channels,
                x_mask=x_mask,
                model_kwargs=run.model_kwargs,
            )
            prediction = self.p_mean_variance(output, x, t)
            step_noise = run.noise.randn(drawn_shape, x.device)[:batch]
            spread = float(step != 0) * torch.exp(0.5 * prediction["log_variance"])
            x = prediction["mean"] + spread * step_noise
            if run.frame_mask is not None:
                x = torch.where(per_frame(frame_steps < step), clean, x)
            run.report(index, total, t, x, prediction["pred_xstart"])
        return x
