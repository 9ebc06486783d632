"""Prepared prompts to text conditioning, once per batch: every loop's caption encoded up front.

The caller prepares the prompts once (`text.prepare_prompts`: JSON extras, `|i|` loop
segments, 1.2 score captions, cleaning); here each loop's texts are encoded (identical
loops share one encoding). The sampler pairs them with the transformer's learned null
caption (`conditioning`). Afterwards the text encoder can leave the accelerator.
"""

from dataclasses import dataclass

import torch

from ..samplers import TextConditioning
from ..text import PreparedPrompts, null_captions


@dataclass(frozen=True)
class EncodedTexts:
    """One encoder call's output: `y` (B, 1, L, D) and the token `mask` (B, L) or None.

    A class encoder (DiT / Latte) gives class ids `y` (B,) and its null class `y_null` (B,).
    """

    y: torch.Tensor
    mask: "torch.Tensor | None"
    y_null: "torch.Tensor | None" = None

    @property
    def class_labels(self) -> bool:
        """True for class ids (a class encoder's), False for encoded captions."""
        return not self.y.is_floating_point()

    def with_null_caption(
        self, null_source, device: "torch.device | None" = None
    ) -> TextConditioning:
        """On `device`, paired with the learned null caption of `null_source` (the
        transformer, its `y_embedder` or `y_embedding`) that classifier-free guidance uses."""
        y = self.y if device is None else self.y.to(device)
        mask = self.mask if device is None or self.mask is None else self.mask.to(device)
        if self.y_null is not None:
            null = self.y_null
        else:
            null = null_captions(null_source, y.shape[0], y.shape[2])
        return TextConditioning(y=y, y_null=null.to(device=y.device, dtype=y.dtype), mask=mask)


@dataclass(frozen=True)
class PromptEncoding:
    """A batch's prepared prompts and the encoded texts of every loop."""

    prompts: PreparedPrompts
    per_loop: "list[EncodedTexts]"

    def for_loop(self, loop_index: int) -> EncodedTexts:
        """The encoding of loop `loop_index` (the last one repeats past the end)."""
        return self.per_loop[min(loop_index, len(self.per_loop) - 1)]

    def conditioning(
        self, loop_index: int, null_source, device: "torch.device | None" = None
    ) -> TextConditioning:
        """Loop `loop_index`'s text conditioning with the transformer's null caption."""
        return self.for_loop(loop_index).with_null_caption(null_source, device)

    @property
    def release(self) -> str:
        """The Open-Sora release the prompts were prepared for."""
        return self.prompts.options.release

    @property
    def batch_size(self) -> int:
        """The number of prompts."""
        return len(self.prompts.texts)


def encode_texts(
    text_encoder, texts: "list[str]", device: "torch.device | None" = None
) -> EncodedTexts:
    """Encode already prepared texts: `text_encoder.encode(texts)` gives `y` and `mask`."""
    encoded = text_encoder.encode(list(texts))
    y = encoded["y"]
    device = y.device if device is None else device
    mask = encoded.get("mask")
    # Class ids come with the encoder's own null class instead of a learned null caption.
    null = None if y.is_floating_point() else text_encoder.null(len(texts)).to(device)
    return EncodedTexts(y=y.to(device), mask=None if mask is None else mask.to(device), y_null=null)


def encode_prompts(
    text_encoder,
    prompts: PreparedPrompts,
    loops: "int | None" = None,
    device: "torch.device | None" = None,
) -> PromptEncoding:
    """Encode the texts of loops 0..`loops`-1 of prepared prompts, each distinct batch once.

    `loops=None` encodes until every prompt's last segment has begun; later loops repeat it.
    """
    loops = prompts.distinct_loops if loops is None else loops
    encodings: dict[tuple[str, ...], EncodedTexts] = {}
    per_loop = []
    for loop_index in range(loops):
        texts = tuple(prompts.for_loop(loop_index))
        if texts not in encodings:
            encodings[texts] = encode_texts(text_encoder, list(texts), device)
        per_loop.append(encodings[texts])
    return PromptEncoding(prompts, per_loop)
