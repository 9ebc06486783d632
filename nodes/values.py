"""What travels along the pack's own sockets: loaded models and the conditioning records.

The CONDITIONING socket carries `sora_core.pipeline.PromptEncoding` itself: the prompt,
prepared and encoded once by the text encode node, as the samplers consume it.
"""

from dataclasses import dataclass, field

import torch

from sora_core.conditioning import ConditionFrames

from .runtime import ManagedModel


@dataclass(frozen=True, eq=False)
class LoadedTransformer:
    """A transformer (STDiT/STDiT2/STDiT3, DiT, PixArt) under model management, with the
    Open-Sora release whose samplers and prompt handling it follows."""

    name: str
    release: str
    managed: ManagedModel
    # Sampler settings the file was trained with (`trained_sampler_settings`), over the
    # release's defaults: the embedded demo model samples without 1.2's timestep transform.
    sampler_settings: dict = field(default_factory=dict)

    @property
    def model(self) -> torch.nn.Module:
        """The transformer module."""
        return self.managed.module


@dataclass(frozen=True, eq=False)
class LoadedVAE:
    """A `sora_core` video VAE under model management."""

    name: str
    managed: ManagedModel

    @property
    def vae(self):
        """The VAE module (`encode`, `decode`, `get_latent_size`, `latent_format`)."""
        return self.managed.module


@dataclass(frozen=True, eq=False)
class LoadedTextEncoder:
    """A T5 text encoder; its weights are managed, its encoding cache kept between prompts."""

    name: str
    encoder: object  # sora_core.text.T5TextEncoder
    managed: ManagedModel


@dataclass(frozen=True, eq=False)
class MaskStrategyValue:
    """References (ComfyUI frames [T, H, W, 3] in 0..1) and the groups that place them."""

    references: "tuple[torch.Tensor, ...]" = ()
    conditions: "tuple[ConditionFrames, ...]" = field(default=())


@dataclass(frozen=True, eq=False)
class VideoFrames:
    """Frames [T, H, W, 3] in 0..1 and their rate; inside ComfyUI it becomes a VIDEO."""

    frames: torch.Tensor
    fps: float
