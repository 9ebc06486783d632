"""Every node the pack offers, in menu order (plain declarations; no ComfyUI import)."""

from . import loaders, lora, mask_strategy, sampling, text_encode, training, vae_nodes

SPECS = (
    *loaders.SPECS,
    *lora.SPECS,
    *text_encode.SPECS,
    *mask_strategy.SPECS,
    *sampling.SPECS,
    *vae_nodes.SPECS,
    *training.SPECS,
)
