"""Every node the pack offers, in menu order (plain declarations; no ComfyUI import)."""

from . import demo, loaders, lora, mask_strategy, sampling, text_encode, vae_nodes

SPECS = (
    *loaders.SPECS,
    *lora.SPECS,
    *text_encode.SPECS,
    *mask_strategy.SPECS,
    *sampling.SPECS,
    *vae_nodes.SPECS,
    *demo.SPECS,
)
