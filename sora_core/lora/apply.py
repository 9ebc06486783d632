"""Attaching adapters to a transformer (to train, or to run unmerged), merging, removing.

`add_lora` freezes the transformer and gives each target layer a fresh fp32 adapter to
train; `apply_lora` attaches a loaded adapter at a strength without touching the base
weights (several stack; `remove_lora` takes them all off); `merge_lora` adds the update
into the base weights instead (no extra work per step, not removable).
"""

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..errors import CheckpointError
from .config import LoRAConfig
from .files import LoRAWeights, model_identity
from .layers import LoRAAdapter, LoRALinear
from .targets import target_paths


@dataclass
class AttachedLoRA:
    """One adapter per layer, attached to a model; `weights()` reads them back."""

    config: LoRAConfig
    adapters: dict  # layer path -> LoRAAdapter
    base: dict  # model_identity of the model they are attached to
    prefixes: dict  # layer path -> the adapter's key prefix in the model's state dict

    def parameters(self) -> list[nn.Parameter]:
        """The adapter tensors (what an optimizer trains)."""
        return [param for adapter in self.adapters.values() for param in adapter.parameters()]

    def weights(self, state: "dict | None" = None, source: str = "LoRA") -> LoRAWeights:
        """A detached CPU copy, ready for `save_lora`; from the model's gathered full
        `state` dict when given (sharded training), else from the adapters themselves."""
        if state is None:
            state = {
                f"{self.prefixes[path]}.{name}": tensor
                for path, adapter in self.adapters.items()
                for name, tensor in adapter.state_dict().items()
            }
        layers = {
            path: tuple(
                state[f"{prefix}.{half}.weight"].detach().float().cpu().clone()
                for half in ("lora_A", "lora_B")
            )
            for path, prefix in self.prefixes.items()
        }
        return LoRAWeights(layers, self.config, dict(self.base), source)

    def _check_matches(self, weights: LoRAWeights) -> None:
        if set(weights.layers) != set(self.adapters):
            raise CheckpointError(
                f"{weights.source} adapts other layers than this run's targets "
                f"{list(self.config.targets)}"
            )
        if weights.config.rank != self.config.rank:
            raise CheckpointError(
                f"{weights.source} has rank {weights.config.rank}, this run's lora.rank is "
                f"{self.config.rank}"
            )

    def model_state(self, weights: LoRAWeights) -> dict:
        """`weights` under this attachment's keys in the model's state dict (resuming)."""
        self._check_matches(weights)
        return {
            f"{self.prefixes[path]}.{half}.weight": tensor
            for path, pair in weights.layers.items()
            for half, tensor in zip(("lora_A", "lora_B"), pair)
        }

    def load(self, weights: LoRAWeights) -> None:
        """Copy saved adapter values into the attached adapters."""
        self._check_matches(weights)
        with torch.no_grad():
            for path, (lora_a, lora_b) in weights.layers.items():
                self.adapters[path].lora_A.weight.copy_(lora_a)
                self.adapters[path].lora_B.weight.copy_(lora_b)


def _wrapped(model: nn.Module, path: str) -> LoRALinear:
    """The layer at `path` as a `LoRALinear` (wrapping it in place the first time)."""
    layer = model.get_submodule(path)
    if isinstance(layer, LoRALinear):
        return layer
    parent_path, _, name = path.rpartition(".")
    wrapped = LoRALinear(layer)
    setattr(model.get_submodule(parent_path), name, wrapped)
    return wrapped


def _attach(model: nn.Module, config: LoRAConfig, paths, strength: float) -> AttachedLoRA:
    adapters, prefixes = {}, {}
    for path in paths:
        layer = _wrapped(model, path)
        adapter = LoRAAdapter(
            layer.in_features,
            layer.out_features,
            config.rank,
            config.alpha,
            config.dropout,
            strength,
            device=layer.weight.device,
        )
        prefixes[path] = f"{path}.adapters.{len(layer.adapters)}"
        layer.adapters.append(adapter)
        adapters[path] = adapter
    return AttachedLoRA(config, adapters, model_identity(model), prefixes)


def store_base_weights(model: nn.Module, dtype: "str | torch.dtype") -> None:
    """Re-store the (frozen) weights in `dtype`; fp8 keeps Linear/Conv weights in 8 bits and
    the rest in bf16, as the checkpoint loader does."""
    from ..checkpoints.transformer import store_weights

    store_weights(model, dtype)


def add_lora(
    model: nn.Module, config: "LoRAConfig | dict", base_dtype: "str | torch.dtype | None" = None
) -> AttachedLoRA:
    """Freeze `model` (optionally re-stored in `base_dtype`: bf16, fp8) and attach one fresh
    fp32 adapter per target layer; only the adapters require gradients."""
    config = LoRAConfig.from_dict(config)
    model.requires_grad_(False)
    if base_dtype is not None:
        store_base_weights(model, base_dtype)
    attached = _attach(model, config, target_paths(model, config.targets), 1.0)
    for param in attached.parameters():
        param.requires_grad_(True)
    return attached


def apply_lora(model: nn.Module, weights: LoRAWeights, strength: float = 1.0) -> AttachedLoRA:
    """Attach a loaded adapter at `strength`, unmerged: base weights stay untouched."""
    weights.check_fits(model)
    attached = _attach(model, weights.config, list(weights.layers), strength)
    attached.load(weights)
    for param in attached.parameters():
        param.requires_grad_(False)
    return attached


def apply_lora_files(model: nn.Module, loras) -> None:
    """Attach each `(lora.safetensors path, strength)` in order, unmerged (`apply_lora`)."""
    from .files import read_lora

    for path, strength in loras:
        apply_lora(model, read_lora(path), strength)


def remove_lora(model: nn.Module) -> None:
    """Take every attached adapter off; the layers become plain `Linear`s again."""
    wrapped = [name for name, module in model.named_modules() if isinstance(module, LoRALinear)]
    for path in wrapped:
        parent_path, _, name = path.rpartition(".")
        setattr(model.get_submodule(parent_path), name, model.get_submodule(path).unwrapped())


def merge_lora(model: nn.Module, weights: LoRAWeights, strength: float = 1.0) -> None:
    """Add `strength * alpha / rank * B @ A` into the base weights (in fp32, stored back in
    the weights' dtype)."""
    weights.check_fits(model)
    scale = weights.config.scaling * strength
    with torch.no_grad():
        for path, (lora_a, lora_b) in weights.layers.items():
            weight = model.get_submodule(path).weight
            delta = lora_b.float().to(weight.device) @ lora_a.float().to(weight.device)
            weight.copy_((weight.float() + scale * delta).to(weight.dtype))
