"""The unconditional caption of classifier-free guidance: the transformer's learned one.

Open-Sora never encodes an empty prompt for CFG: every transformer carries a learned null
caption `y_embedder.y_embedding` [L, caption_channels], repeated to the batch.
"""

import torch

from ..errors import ConfigError


def learned_null_caption(source) -> torch.Tensor:
    """The [L, D] null caption of a transformer, its `y_embedder`, or the tensor itself."""
    for holder in (source, getattr(source, "y_embedder", None)):
        embedding = getattr(holder, "y_embedding", None)
        if isinstance(embedding, torch.Tensor):
            source = embedding
            break
    if not isinstance(source, torch.Tensor) or source.dim() != 2:
        raise ConfigError(
            "null caption: expected the transformer, its y_embedder or its y_embedding "
            f"tensor [model_max_length, caption_channels], got {type(source).__name__}"
            + (f" of shape {tuple(source.shape)}" if isinstance(source, torch.Tensor) else "")
        )
    return source


def null_captions(source, n: int, model_max_length: "int | None" = None) -> torch.Tensor:
    """The learned null caption repeated to [n, 1, L, D] (the reference's `null(n)`)."""
    embedding = learned_null_caption(source)
    if model_max_length is not None and embedding.shape[0] != model_max_length:
        raise ConfigError(
            f"null caption has {embedding.shape[0]} tokens but the text encoder pads to "
            f"model_max_length={model_max_length}: the transformer and the text encoder "
            "were trained with different lengths (Open-Sora 1.0 and PixArt-α: 120, 1.1: 200, "
            "1.2 and PixArt-Σ: 300); set the text encoder's max_length to the transformer's"
        )
    return embedding[None].repeat(n, 1, 1)[:, None]
