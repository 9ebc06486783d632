"""What every sampler takes and reports: encoded text and per-step callbacks."""

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import ConfigError
from .noise import NoiseSource, as_noise_source

# model(x, timestep, y, mask=..., x_mask=..., **additional_args) -> (N, C_out, T, H, W)
DiffusionModel = Callable[..., Any]


@dataclass(frozen=True)
class TextConditioning:
    """Prompts already encoded once: the caption embedding, its token mask and the null caption.

    `y` (B, 1, L, D); `mask` (B, L) token mask or None; `y_null` (B, 1, L, D), the transformer's
    learned null embedding repeated per sample (not the encoding of an empty prompt).
    Class-conditional models (DiT, Latte) take integer class ids `y` (B,) and the null class.
    """

    y: torch.Tensor
    y_null: torch.Tensor
    mask: torch.Tensor | None = None

    def __post_init__(self):
        class_ids = not self.y.is_floating_point() and self.y.dim() == 1
        if class_ids and self.y_null.dim() == 1:
            pass
        elif self.y.dim() != 4 or self.y_null.shape[1:] != self.y.shape[1:]:
            raise ConfigError(
                f"text conditioning: y {tuple(self.y.shape)} and y_null {tuple(self.y_null.shape)} "
                "must both be (B, 1, L, D) with the same L and D"
            )
        if self.y_null.shape[0] == 1 and self.y.shape[0] > 1:
            # One null embedding serves every prompt.
            object.__setattr__(self, "y_null", self.y_null.expand_as(self.y))
        elif self.y_null.shape[0] != self.y.shape[0]:
            raise ConfigError(
                f"text conditioning: y_null has batch {self.y_null.shape[0]}, y has "
                f"{self.y.shape[0]}; expected the same or 1"
            )

    @classmethod
    def from_mapping(cls, text: "TextConditioning | Mapping[str, Any]") -> "TextConditioning":
        """Accept a `TextConditioning` or a dict with keys `y`, `y_null` and optionally `mask`."""
        if isinstance(text, TextConditioning):
            return text
        unknown = sorted(set(text) - {"y", "y_null", "mask"})
        missing = sorted({"y", "y_null"} - set(text))
        if unknown or missing:
            raise ConfigError(
                f"text conditioning: missing keys {missing}, unknown keys {unknown}; "
                "expected 'y' (B,1,L,D), 'y_null' (B,1,L,D) and optionally 'mask' (B,L)"
            )
        return cls(y=text["y"], y_null=text["y_null"], mask=text.get("mask"))

    @property
    def batch_size(self) -> int:
        """The number of prompts B."""
        return self.y.shape[0]


@dataclass(frozen=True)
class SamplerStep:
    """What a sampler reports after each step (progress bars, previews, interruption).

    `index` counts from 0 to `total - 1`; `latent` is the current latent (B, C, T, H, W) and
    `denoised` the sampler's prediction of the clean latent at this step.
    """

    index: int
    total: int
    timestep: torch.Tensor
    latent: torch.Tensor
    denoised: torch.Tensor


def per_frame(values: torch.Tensor) -> torch.Tensor:
    """Per-frame values (B, T) shaped (B, 1, T, 1, 1) to select or scale frames of a latent."""
    return values[:, None, :, None, None]


# An exception raised by the callback propagates out of `sample` and stops sampling.
StepCallback = Callable[[SamplerStep], None]


@dataclass(frozen=True)
class SamplingRun:
    """One call's inputs, normalised: what a sampler's step loop needs besides the latent."""

    model: DiffusionModel
    text: TextConditioning
    scale: float
    model_kwargs: Mapping[str, Any]
    frame_mask: torch.Tensor | None
    noise: NoiseSource
    callback: StepCallback | None

    def report(
        self,
        index: int,
        total: int,
        timestep: torch.Tensor,
        latent: torch.Tensor,
        denoised: torch.Tensor,
    ) -> None:
        """Tell the callback (if any) that step `index` of `total` is done."""
        if self.callback is not None:
            self.callback(SamplerStep(index, total, timestep, latent, denoised))


class Sampler(ABC):
    """The interface every inference sampler implements: `sample(model, latent, text, ...)`."""

    num_sampling_steps: int
    cfg_scale: float

    @property
    def model_calls(self) -> int:
        """Model calls one `sample` makes (each a guided batch of 2B under CFG)."""
        return self.num_sampling_steps

    def sample(
        self,
        model: DiffusionModel,
        latent: torch.Tensor,
        text: TextConditioning | Mapping[str, Any],
        *,
        model_kwargs: Mapping[str, Any] | None = None,
        frame_mask: torch.Tensor | None = None,
        noise: NoiseSource | torch.Generator | int | None = None,
        callback: StepCallback | None = None,
        guidance_scale: float | None = None,
    ) -> torch.Tensor:
        """Denoise `latent` (B, C, T, H, W), pure noise at the start, and return the sample.

        `model_kwargs` go to every model call (text `mask` and the video size tensors);
        `frame_mask` (B, T) holds per-frame edit ratios (0 keep the given latent, 1 generate);
        `noise` is the only source of random numbers (a seed, a generator or a replay);
        `callback` sees every step and may raise to stop; `guidance_scale` overrides
        `cfg_scale` for this call. The latent is integrated in float32 (or wider).
        """
        run = SamplingRun(
            model=model,
            text=TextConditioning.from_mapping(text),
            scale=self.cfg_scale if guidance_scale is None else guidance_scale,
            model_kwargs=dict(model_kwargs or {}),
            frame_mask=None if frame_mask is None else frame_mask.to(latent.device),
            noise=as_noise_source(noise),
            callback=callback,
        )
        # No autograd graph across steps: it would hold every step's activations.
        with torch.no_grad():
            return self._sample(latent.to(torch.promote_types(latent.dtype, torch.float32)), run)

    @abstractmethod
    def _sample(self, latent: torch.Tensor, run: SamplingRun) -> torch.Tensor:
        """The step loop over a float32 latent (B, C, T, H, W)."""
