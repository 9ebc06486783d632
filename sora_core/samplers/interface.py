"""What every sampler takes and reports: encoded text, per-step callbacks, and an adapter for
the reference's `scheduler.sample(model, text_encoder, z, prompts, ...)` call."""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

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
    """

    y: torch.Tensor
    y_null: torch.Tensor
    mask: torch.Tensor | None = None

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


# An exception raised by the callback propagates out of `sample` and stops sampling.
StepCallback = Callable[[SamplerStep], None]


class Sampler(Protocol):
    """The interface every inference sampler implements."""

    num_sampling_steps: int

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
    ) -> torch.Tensor:
        """Denoise `latent` (B, C, T, H, W) and return the sample."""
        ...


class TextEncoderLike(Protocol):
    """The reference's text encoder contract: `encode(prompts)` and `null(n)`."""

    def encode(self, prompts: Sequence[str]) -> Mapping[str, torch.Tensor]: ...

    def null(self, n: int) -> torch.Tensor: ...


def sample_with_text_encoder(
    sampler: Sampler,
    model: DiffusionModel,
    text_encoder: TextEncoderLike,
    z: torch.Tensor | Sequence[int],
    prompts: Sequence[str],
    device: torch.device | str | None = None,
    additional_args: Mapping[str, Any] | None = None,
    mask: torch.Tensor | None = None,
    progress: bool = False,
    noise: NoiseSource | torch.Generator | int | None = None,
    callback: StepCallback | None = None,
) -> torch.Tensor:
    """The reference's `scheduler.sample(...)` call on top of `sampler.sample`.

    `z` is the initial latent, or (as in Open-Sora 1.0) its per-sample size `(C, T, H, W)`, in
    which case it is drawn from `noise` first. `mask` is the per-frame edit ratio (B, T).
    """
    noise = as_noise_source(noise)
    encoded = dict(text_encoder.encode(list(prompts)))
    text = TextConditioning(
        y=encoded.pop("y"), y_null=text_encoder.null(len(prompts)), mask=encoded.pop("mask", None)
    )
    if not isinstance(z, torch.Tensor):
        target = torch.device(device) if device is not None else text.y.device
        z = noise.randn((len(prompts), *z), target)
    callbacks = [
        c for c in (callback, _progress_bar(sampler.num_sampling_steps) if progress else None) if c
    ]
    return sampler.sample(
        model,
        z,
        text,
        model_kwargs={**encoded, **(additional_args or {})},
        frame_mask=mask,
        noise=noise,
        callback=_chain(callbacks),
    )


def _progress_bar(total: int) -> StepCallback:
    from tqdm.auto import tqdm

    bar = tqdm(total=total)

    def update(step: SamplerStep) -> None:
        bar.update(1)
        if step.index + 1 == step.total:
            bar.close()

    return update


def _chain(callbacks: list[StepCallback]) -> StepCallback | None:
    if not callbacks:
        return None
    if len(callbacks) == 1:
        return callbacks[0]

    def call_all(step: SamplerStep) -> None:
        for callback in callbacks:
            callback(step)

    return call_all
