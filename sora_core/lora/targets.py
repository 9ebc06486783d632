"""Which Linear layers of an STDiT/STDiT2/STDiT3 each target family names.

Families follow the block layout every version shares (`DiTBlock`): self-attention `attn`
(within a frame, or across frames in STDiT3's temporal blocks), the 1.0/1.1 temporal
attention `attn_temp`, caption cross-attention `cross_attn` and the feed-forward `mlp`.
Embedders and the final layer are never targeted.
"""

import torch.nn as nn

from ..models.layers import DiTBlock, Linear
from .config import TARGET_FAMILIES


def _linears(module: nn.Module, prefix: str) -> list[str]:
    return [
        f"{prefix}.{name}" for name, child in module.named_modules() if isinstance(child, Linear)
    ]


def _block_families(path: str, block: DiTBlock) -> dict[str, list[str]]:
    """Family -> Linear paths inside one block at `path`."""
    spatial, temporal = [], []
    (temporal if getattr(block, "temporal", False) else spatial).extend(
        _linears(block.attn, f"{path}.attn")
    )
    if hasattr(block, "attn_temp"):
        temporal.extend(_linears(block.attn_temp, f"{path}.attn_temp"))
    return {
        "attn": spatial + temporal,
        "spatial_attn": spatial,
        "temporal_attn": temporal,
        "cross_attn": _linears(block.cross_attn, f"{path}.cross_attn"),
        "mlp": _linears(block.mlp, f"{path}.mlp"),
    }


def target_paths(model: nn.Module, targets) -> list[str]:
    """Paths of the Linear layers `targets` (family names) cover, in module order."""
    chosen: set[str] = set()
    for path, module in model.named_modules():
        if isinstance(module, DiTBlock):
            families = _block_families(path, module)
            for family in targets:
                chosen.update(families[family])
    order = [name for name, module in model.named_modules() if name in chosen]
    return order


__all__ = ["TARGET_FAMILIES", "target_paths"]
