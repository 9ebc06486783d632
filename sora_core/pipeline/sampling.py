"""One clip's latent: draw the noise, run the sampler over the conditioned latent.

Random numbers come from one `NoiseSource` for the whole run, in the reference's order
(reference encodes, then per loop: the initial latent, then the sampler's per-step draws),
so a seed reproduces a video on any device and the parity tests can replay recorded draws.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ..acceleration.step_cache import StepCache
from ..errors import MaskStrategyError
from ..geometry import prepare_multi_resolution_info
from ..samplers import NoiseSource, Sampler, StepCallback, TextConditioning, as_noise_source

# Open-Sora's `multi_resolution` per release: the size conditioning each transformer reads.
MULTI_RESOLUTION = {"1.0": None, "1.1": "STDiT2", "1.2": "STDiT2"}


def model_multi_resolution(model) -> "str | None":
    """The size conditioning `model` reads: its own (PixArtMS: `hw`, `ar`) or its release's."""
    return getattr(model, "multi_resolution", MULTI_RESOLUTION[model.release])


def size_conditioning(
    batch_size: int,
    image_size: "Sequence[int]",
    num_frames: int,
    fps: float,
    multi_resolution: "str | None" = "STDiT2",
    device: "torch.device | str" = "cpu",
) -> "dict[str, torch.Tensor]":
    """The model's size arguments (`height`, `width`, `num_frames`, `ar`, `fps`), float32 (B,).

    Kept in float32 whatever the model dtype: the sampler's timestep transform reads them,
    and the model casts them to its own dtype.
    """
    return prepare_multi_resolution_info(
        multi_resolution, batch_size, image_size, num_frames, fps, device, torch.float32
    )


def model_frame_mask(model, frame_mask: "torch.Tensor | None") -> "torch.Tensor | None":
    """The frame mask `model` is called with: DiT, Latte and PixArt take none (the reference's
    samplers only run them without one), so they cannot keep conditioning frames."""
    if getattr(model, "takes_frame_mask", True) or frame_mask is None:
        return frame_mask
    if not bool(frame_mask.bool().all()):
        raise MaskStrategyError(
            f"{type(model).__name__} generates every frame: it cannot keep conditioning frames "
            "(reference images or videos, mask strategies); use an STDiT model for those"
        )
    return None


def draw_latent(
    noise: NoiseSource,
    batch_size: int,
    channels: int,
    latent_size: "Sequence[int]",
    device: "torch.device | str" = "cpu",
) -> torch.Tensor:
    """Initial noise (B, C, T, H, W) in float32: one draw from `noise`."""
    return noise.randn((batch_size, channels, *latent_size), torch.device(device))


def sample_latent(
    model,
    sampler: Sampler,
    text: "TextConditioning | Mapping[str, Any]",
    latent: torch.Tensor,
    *,
    noise: "NoiseSource | torch.Generator | int | None" = None,
    model_kwargs: "Mapping[str, torch.Tensor] | None" = None,
    frame_mask: "torch.Tensor | None" = None,
    always_mask: bool = True,
    callback: "StepCallback | None" = None,
    guidance_scale: "float | None" = None,
    step_cache: "StepCache | None" = None,
) -> torch.Tensor:
    """Denoise one clip `latent` (B, C, T, H, W), conditions already written in.

    `frame_mask` (B, T) is the per-frame edit ratio the mask strategy gave
    (`conditioning.apply_mask_strategy`). `always_mask` passes an all-ones mask when nothing
    is conditioned, as Open-Sora 1.2's inference does (its sampler then draws noise at every
    step); `model_kwargs` are the size arguments of `size_conditioning`.
    `step_cache` counts the transformer calls and sampling time, and skips calls when its
    threshold is set. Returns the float32 latent.
    """
    if frame_mask is None and always_mask:
        frame_mask = torch.ones(latent.shape[0], latent.shape[2], device=latent.device)
    frame_mask = model_frame_mask(model, frame_mask)
    text = TextConditioning.from_mapping(text)
    step_cache = step_cache or StepCache()
    with step_cache.session(model, sampler.model_calls):
        return sampler.sample(
            model,
            latent,
            text,
            model_kwargs=dict(model_kwargs or {}),
            frame_mask=frame_mask,
            noise=as_noise_source(noise),
            callback=callback,
            guidance_scale=guidance_scale,
        )
