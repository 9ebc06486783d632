"""Low-rank adapters (LoRA) for the Open-Sora transformers, in PEFT's file layout.

- `LoRAConfig` / `TARGET_FAMILIES`: the `lora = dict(rank, alpha, dropout, targets)` key.
- `add_lora(model, config)`: freeze the transformer, attach fresh adapters to train.
- `read_lora` / `save_lora` / `LoRAWeights`: `lora.safetensors` with PEFT keys and the
  base model in its metadata; `check_fits` refuses another release or width.
- `apply_lora` (unmerged, removable with `remove_lora`) and `merge_lora` (into the weights).
"""

from .apply import (
    AttachedLoRA,
    add_lora,
    apply_lora,
    apply_lora_files,
    merge_lora,
    remove_lora,
    store_base_weights,
)
from .config import DEFAULT_TARGETS, TARGET_FAMILIES, LoRAConfig
from .files import LoRAWeights, model_identity, read_lora, save_lora
from .layers import LoRAAdapter, LoRALinear
from .targets import target_paths

__all__ = [
    "DEFAULT_TARGETS",
    "TARGET_FAMILIES",
    "AttachedLoRA",
    "LoRAAdapter",
    "LoRAConfig",
    "LoRALinear",
    "LoRAWeights",
    "add_lora",
    "apply_lora",
    "apply_lora_files",
    "merge_lora",
    "model_identity",
    "read_lora",
    "remove_lora",
    "save_lora",
    "store_base_weights",
    "target_paths",
]
