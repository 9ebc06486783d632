"""Training losses and timestep sampling for rectified flow and IDDPM, as Open-Sora computes
them (`RFlowScheduler.training_losses`, `GaussianDiffusion.training_losses`).

A training `mask` (B, T) is True for frames to generate (noised, in the loss) and False
for conditioning frames (given clean, left out of the loss).
"""

import math
from collections.abc import Mapping
from typing import Any

import torch

from ..errors import ConfigError
from .iddpm import IDDPM
from .interface import DiffusionModel
from .noise import NoiseSource, as_noise_source
from .rflow import RectifiedFlow, add_noise, timestep_transform

_LOG2 = math.log(2.0)


def mean_flat(values: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-sample mean of `values` (B, C, T, H, W), over the frames where `mask` (B, T) is True."""
    if mask is None:
        return values.mean(dim=list(range(1, values.dim())))
    batch, _, frames = values.shape[:3]
    per_frame = values.transpose(1, 2).reshape(batch, frames, -1)  # (B, T, C*H*W)
    total = (per_frame * mask.unsqueeze(2)).sum(dim=1).sum(dim=1)
    return total / (mask.sum(dim=1) * per_frame.shape[-1])


def _rflow_losses(flow: RectifiedFlow, model, x_start, kwargs, noise, mask, t, rng):
    """{"loss": (B,)}: squared error of the predicted velocity against `x_start - noise`.

    Draw order as the reference: timesteps, then noise. With timestep transform the batch's
    `height`, `width`, `num_frames` in the model arguments shift t (by `transform_scale`).
    """
    if t is None:
        t = flow.timestep_sampler.sample(x_start.shape[0], x_start.device, rng)
        if flow.use_timestep_transform:
            t = timestep_transform(
                t, kwargs, scale=flow.transform_scale, num_timesteps=flow.num_timesteps
            )
    if noise is None:
        noise = rng.randn(tuple(x_start.shape), x_start.device).to(x_start.dtype)

    x_t = add_noise(x_start, noise, t, flow.num_timesteps)
    if mask is not None:
        # Conditioning frames are given clean (t = 0); the model is told which via x_mask.
        x_t = torch.where(mask[:, None, :, None, None], x_t, x_start)
        kwargs.setdefault("x_mask", mask)
    output = model(x_t, t, **kwargs)
    velocity = output[:, : x_start.shape[1]]
    return {"loss": mean_flat((velocity - (x_start - noise)).pow(2), mask=mask)}


def normal_kl(
    mean1: torch.Tensor, logvar1: torch.Tensor, mean2: torch.Tensor, logvar2: torch.Tensor
) -> torch.Tensor:
    """KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)) elementwise, in nats."""
    return 0.5 * (
        -1.0
        + logvar2
        - logvar1
        + torch.exp(logvar1 - logvar2)
        + ((mean1 - mean2) ** 2) * torch.exp(-logvar2)
    )


def _approx_standard_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3))))


def discretized_gaussian_log_likelihood(
    x: torch.Tensor, means: torch.Tensor, log_scales: torch.Tensor
) -> torch.Tensor:
    """Log-likelihood (nats) of `x` in [-1, 1] quantised to 256 levels under N(means, e^log_scales)."""
    centered = x - means
    inv_stdv = torch.exp(-log_scales)
    cdf_plus = _approx_standard_normal_cdf(inv_stdv * (centered + 1.0 / 255.0))
    cdf_min = _approx_standard_normal_cdf(inv_stdv * (centered - 1.0 / 255.0))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    log_cdf_delta = torch.log((cdf_plus - cdf_min).clamp(min=1e-12))
    return torch.where(
        x < -0.999,
        log_cdf_plus,
        torch.where(x > 0.999, log_one_minus_cdf_min, log_cdf_delta),
    )


def _variational_bound(
    diffusion: IDDPM,
    model_output: torch.Tensor,
    x_start: torch.Tensor,
    x_t: torch.Tensor,
    t: torch.Tensor,
    mask: torch.Tensor | None,
) -> torch.Tensor:
    # KL(q(x_{t-1}|x_t,x_0) || p(x_{t-1}|x_t)) in bits, or the decoder NLL at t = 0.
    true_mean, true_log_variance = diffusion.q_posterior(x_start, x_t, t)
    predicted = diffusion.p_mean_variance(model_output, x_t, t)
    kl = normal_kl(true_mean, true_log_variance, predicted["mean"], predicted["log_variance"])
    kl = mean_flat(kl, mask=mask) / _LOG2
    nll = -discretized_gaussian_log_likelihood(
        x_start, predicted["mean"], 0.5 * predicted["log_variance"]
    )
    nll = mean_flat(nll, mask=mask) / _LOG2
    return torch.where(t == 0, nll, kl)


def _iddpm_losses(diffusion: IDDPM, model, x_start, kwargs, noise, mask, t, rng):
    """{"loss", "mse", "vb"} per sample (B,), as `GaussianDiffusion.training_losses`.

    `t` are respaced steps (uniform integers drawn when None; Open-Sora 1.2 always draws them,
    ignoring a passed `t`). With a learned variance, `vb` trains only the variance channels.
    """
    if t is None:
        t = rng.randint(diffusion.num_timesteps, (x_start.shape[0],), x_start.device)
    if noise is None:
        noise = rng.randn(tuple(x_start.shape), x_start.device).to(x_start.dtype)
    x_t = diffusion.q_sample(x_start, t, noise)
    if mask is not None:
        x_t = torch.where(
            mask[:, None, :, None, None],
            x_t,
            diffusion.q_sample(x_start, torch.zeros_like(t), noise),
        )
        kwargs.setdefault("x_mask", mask)
    output = model(x_t, diffusion.model_timesteps(t), **kwargs)

    if diffusion.loss_type == "rescaled_kl":
        if mask is not None:
            raise ConfigError("iddpm use_kl=True does not support a training mask")
        loss = _variational_bound(diffusion, output, x_start, x_t, t, None)
        return {"loss": loss * diffusion.num_timesteps}

    channels = x_start.shape[1]
    prediction = output[:, :channels]
    terms: dict[str, torch.Tensor] = {}
    if diffusion.variance_type == "learned_range":
        # The bound trains the variance only: the mean prediction is detached.
        frozen = torch.cat([prediction.detach(), output[:, channels : 2 * channels]], dim=1)
        terms["vb"] = _variational_bound(diffusion, frozen, x_start, x_t, t, mask)
        if diffusion.loss_type == "rescaled_mse":
            terms["vb"] = terms["vb"] * (diffusion.num_timesteps / 1000.0)
    target = x_start if diffusion.mean_type == "start_x" else noise
    terms["mse"] = mean_flat((target - prediction) ** 2, mask=mask)
    terms["loss"] = terms["mse"] + terms["vb"] if "vb" in terms else terms["mse"]
    return terms


def training_losses(
    scheduler: RectifiedFlow | IDDPM,
    model: DiffusionModel,
    x_start: torch.Tensor,
    model_kwargs: Mapping[str, Any] | None = None,
    *,
    noise: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    t: torch.Tensor | None = None,
    rng: NoiseSource | torch.Generator | int | None = None,
) -> dict[str, torch.Tensor]:
    """The training loss terms of `scheduler` for a batch of clean latents `x_start` (B, C, T, H, W).

    `model_kwargs` carries `y`, `mask` (text) and the batch's size tensors; with a frame `mask`
    it also gets `x_mask` (as Open-Sora's train script passes it) unless already set.
    """
    if isinstance(scheduler, RectifiedFlow):
        losses = _rflow_losses
    elif isinstance(scheduler, IDDPM):
        losses = _iddpm_losses
    else:
        raise ConfigError(
            f"training_losses: {type(scheduler).__name__} is not trainable; use 'rflow' or 'iddpm'"
        )
    kwargs = dict(model_kwargs or {})
    return losses(scheduler, model, x_start, kwargs, noise, mask, t, as_noise_source(rng))
