"""Classifier-free guidance, written once for every sampler.

The model runs on the latents twice, once with the caption and once with the null caption
(one batch of 2B), and the first `channels` output channels are combined as
`uncond + scale * (cond - uncond)`. Open-Sora 1.2 guides every latent channel; 1.0 guides
only the first 3 (`cfg_channel=3`), the others come from the conditional pass.
"""

from collections.abc import Mapping
from typing import Any

import torch

from .interface import DiffusionModel, TextConditioning


def combine_guidance(
    cond: torch.Tensor, uncond: torch.Tensor, scale: float, channels: int | None = None
) -> torch.Tensor:
    """`cond` with its first `channels` channels (all when None) guided away from `uncond`."""
    if channels is None or channels >= cond.shape[1]:
        return uncond + scale * (cond - uncond)
    guided = uncond[:, :channels] + scale * (cond[:, :channels] - uncond[:, :channels])
    return torch.cat([guided, cond[:, channels:]], dim=1)


def _doubled(value: Any, batch: int) -> Any:
    # Per-sample tensors follow the doubled batch; the models would tile them the same way.
    if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == batch:
        return torch.cat([value, value], dim=0)
    return value


def guided_output(
    model: DiffusionModel,
    latent: torch.Tensor,
    timestep: torch.Tensor,
    text: TextConditioning,
    scale: float,
    *,
    channels: int | None = None,
    null_first: bool = False,
    x_mask: torch.Tensor | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
) -> torch.Tensor:
    """The guided model output for `latent` (B, C, T, H, W) -> (B, C_out, T, H, W).

    The batch is ordered [caption, null] (IDDPM, rectified flow) or [null, caption]
    (`null_first`, DPM-Solver), as the reference orders it. A scale of 1 needs no
    unconditional pass and runs the model once on B samples.
    """
    kwargs = dict(model_kwargs or {})
    kwargs["mask"] = text.mask
    if x_mask is not None:
        kwargs["x_mask"] = x_mask
    if scale == 1.0:
        output = model(latent, timestep, text.y, **kwargs)
        return output["x"] if isinstance(output, dict) else output

    batch = latent.shape[0]
    captions = [text.y_null, text.y] if null_first else [text.y, text.y_null]
    kwargs = {name: _doubled(value, batch) for name, value in kwargs.items()}
    output = model(
        torch.cat([latent, latent], dim=0),
        torch.cat([timestep, timestep], dim=0),
        torch.cat(captions, dim=0),
        **kwargs,
    )
    output = output["x"] if isinstance(output, dict) else output
    first, second = output.chunk(2, dim=0)
    cond, uncond = (second, first) if null_first else (first, second)
    return combine_guidance(cond, uncond, scale, channels)
