"""Every node the pack offers, in menu order (plain declarations; no ComfyUI import)."""

from . import (
    class_label,
    demo,
    loaders,
    lora,
    mask_strategy,
    sampling,
    text_encode,
    training,
    vae_nodes,
)

SPECS = (
    *loaders.SPECS,
    *lora.SPECS,
    *text_encode.SPECS,
    *class_label.SPECS,
    *mask_strategy.SPECS,
    *sampling.SPECS,
    *vae_nodes.SPECS,
    *training.SPECS,
    *demo.SPECS,
)
