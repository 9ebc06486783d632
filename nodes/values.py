"""What travels along the pack's own sockets: loaded models and the conditioning records."""

from dataclasses import dataclass, field

import torch

from sora_core.conditioning import ConditionFrames
from sora_core.errors import PromptError

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
    """The text encode node's output: the typed prompt, its options and every segment encoded.

    `prompt` is in Open-Sora's per-loop syntax; the pipeline prepares it again with the same
    options and finds each loop's text among `segments` (`encode`), so nothing is re-encoded.
    """

    prompt: str
    release: str
    aesthetic_score: "float | None"
    motion_score: "float | None"
    camera_motion: "str | None"
    segments: "tuple[PromptSegment, ...]"

    def encode(self, texts: "list[str]") -> "dict[str, torch.Tensor]":
        """The text encoder contract over the stored encodings: {"y": [B,1,L,D], "mask": [B,L]}."""
        by_text = {segment.text: segment for segment in self.segments}
        missing = [text for text in texts if text not in by_text]
        if missing:
            raise PromptError(
                f"conditioning: no encoding for {missing[0]!r}; re-run the text encode node "
                f"(it encoded {list(by_text)})"
            )
        found = [by_text[text] for text in texts]
        return {
            "y": torch.cat([segment.y for segment in found]),
            "mask": torch.cat([segment.mask for segment in found]),
        }


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
