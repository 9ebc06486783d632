"""What travels along the pack's own sockets: loaded models and the conditioning records."""

from dataclasses import dataclass, field

import torch

from sora_core.conditioning import ConditionFrames

from .runtime import ManagedModel


@dataclass(frozen=True, eq=False)
class LoadedTransformer:
    """An STDiT/STDiT2/STDiT3 under model management, with its Open-Sora version."""

    name: str
    version: str
    managed: ManagedModel

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


@dataclass(frozen=True)
class PromptSegment:
    """The prompt text from loop `first_loop` on, encoded: `y` [1, 1, L, D], `mask` [1, L]."""

    first_loop: int
    text: str
    y: torch.Tensor
    mask: torch.Tensor


@dataclass(frozen=True, eq=False)
class PromptConditioning:
    """The text encode node's output: one encoded segment per loop prompt, ordered by loop."""

    segments: "tuple[PromptSegment, ...]"
    release: str

    def for_loop(self, loop_index: int) -> PromptSegment:
        """The segment that applies to loop `loop_index` (the last one starting at or before it)."""
        return [s for s in self.segments if s.first_loop <= loop_index][-1]


@dataclass(frozen=True, eq=False)
class MaskStrategyValue:
    """References (ComfyUI frames [T, H, W, 3] in 0..1) and the groups that place them."""

    references: "tuple[torch.Tensor, ...]" = ()
    conditions: "tuple[ConditionFrames, ...]" = field(default=())
