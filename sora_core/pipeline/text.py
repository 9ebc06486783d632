"""Prompts to text conditioning, once per batch: every loop's caption encoded up front.

The release's prompt path (JSON extras, `|i|` loop segments, 1.2 score captions, cleaning)
runs first; then each loop's texts are encoded (identical loops share one encoding) and
paired with the transformer's learned null caption. Afterwards the text encoder can leave
the accelerator for the rest of the run.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..samplers import TextConditioning
from ..text import PreparedPrompts, null_captions, prepare_prompts


@dataclass(frozen=True)
class PromptEncoding:
    """A batch's prepared prompts and its text conditioning for every loop."""

    prompts: PreparedPrompts
    per_loop: "list[TextConditioning]"

    def for_loop(self, loop_index: int) -> TextConditioning:
        """The conditioning of loop `loop_index` (the last one repeats past the end)."""
        return self.per_loop[min(loop_index, len(self.per_loop) - 1)]

    @property
    def batch_size(self) -> int:
        """The number of prompts."""
        return len(self.prompts.texts)


def encode_texts(
    text_encoder, null_source, texts: "Sequence[str]", device: "torch.device | None" = None
) -> TextConditioning:
    """Encode already prepared texts and pair them with the learned null caption.

    `text_encoder.encode(texts)` gives `y` (B, 1, L, D) and `mask` (B, L); `null_source` is
    the transformer (or its `y_embedder` / `y_embedding`) whose null caption CFG uses.
    A class encoder gives class ids `y` (B,) and its own null class.
    """
    encoded = text_encoder.encode(list(texts))
    y = encoded["y"]
    device = y.device if device is None else device
    if y.is_floating_point():
        null = null_captions(null_source, len(texts), y.shape[2])
    else:
        null = text_encoder.null(len(texts))
    null = null.to(device=device, dtype=y.dtype)
    mask = encoded.get("mask")
    return TextConditioning(
        y=y.to(device), y_null=null, mask=None if mask is None else mask.to(device)
    )


def encode_prompts(
    text_encoder,
    null_source,
    prompts: "Sequence[str]",
    loops: int = 1,
    release: str = "1.2",
    aesthetic_score: "float | None" = None,
    motion_score: "float | None" = None,
    camera_motion: "str | None" = None,
    reference_paths: "Sequence[str] | None" = None,
    mask_strategies: "Sequence[str] | None" = None,
    device: "torch.device | None" = None,
) -> PromptEncoding:
    """Prepare a batch of typed prompts as `release` does and encode every loop's texts.

    `prompts` may carry JSON extras (`a cat.{"reference_path": "cat.png"}`) and per-loop
    segments (`|0|a cat.|2|a dog.`); their references and strategies override
    `reference_paths` / `mask_strategies` and come back in `PromptEncoding.prompts`.
    """
    prepared = prepare_prompts(
        list(prompts),
        release=release,
        aesthetic_score=aesthetic_score,
        motion_score=motion_score,
        camera_motion=camera_motion,
        reference_paths=None if reference_paths is None else list(reference_paths),
        mask_strategies=None if mask_strategies is None else list(mask_strategies),
    )
    encodings: dict[tuple[str, ...], TextConditioning] = {}
    per_loop = []
    for loop_index in range(loops):
        texts = tuple(prepared.for_loop(loop_index))
        if texts not in encodings:
            encodings[texts] = encode_texts(text_encoder, null_source, texts, device)
        per_loop.append(encodings[texts])
    return PromptEncoding(prepared, per_loop)
