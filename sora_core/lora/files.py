"""`lora.safetensors`: PEFT-style keys, the adapter settings and the base model in the header.

Keys are PEFT's (`base_model.model.<layer>.lora_A.weight` `[rank, in]`, `...lora_B.weight`
`[out, rank]`), so standard tools read the file; the safetensors metadata (strings) holds
`rank`, `alpha`, `dropout`, `targets` (JSON) and `base_model` (JSON: release, class and
widths), which `LoRAWeights.check_fits` compares with a transformer before applying.
"""

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..errors import CheckpointError
from ..models.layers import Linear
from .config import LoRAConfig

PEFT_PREFIX = "base_model.model."
LORA_FILE = "lora.safetensors"  # its name in a training checkpoint folder
FORMAT_VERSION = "1"
SUFFIXES = {"lora_A": ".lora_A.weight", "lora_B": ".lora_B.weight"}
# The parts of a transformer an adapter depends on; any difference refuses the file.
IDENTITY_FIELDS = (
    "release",
    "model_type",
    "hidden_size",
    "depth",
    "num_heads",
    "mlp_ratio",
    "in_channels",
    "caption_channels",
    "patch_size",
)
SHOWN = 6  # layers listed per problem in error messages


def model_identity(model: torch.nn.Module) -> dict:
    """What an adapter must match: Open-Sora release, class and widths of `model`."""
    config = model.config
    identity = {"release": model.release, "model_type": type(model).__name__}
    for name in IDENTITY_FIELDS[2:]:
        value = config[name]
        identity[name] = list(value) if isinstance(value, tuple) else value
    return identity


def _describe(identity: dict) -> str:
    return (
        f"Open-Sora {identity.get('release', '?')} "
        f"({identity.get('model_type', '?')}, hidden {identity.get('hidden_size', '?')}, "
        f"depth {identity.get('depth', '?')})"
    )


@dataclass(frozen=True)
class LoRAWeights:
    """An adapter in memory: per Linear path its `(A [rank, in], B [out, rank])` pair."""

    layers: dict
    config: LoRAConfig
    base: dict = field(default_factory=dict)  # model_identity of the model it was trained on
    source: str = "LoRA"  # names the adapter in messages (its file)

    def check_fits(self, model: torch.nn.Module) -> None:
        """Raise `CheckpointError` unless every layer exists in `model` with matching widths."""
        if self.base:
            wanted = {key: self.base.get(key) for key in IDENTITY_FIELDS if key in self.base}
            actual = model_identity(model)
            differ = [key for key, value in wanted.items() if actual.get(key) != value]
            if differ:
                raise CheckpointError(
                    f"{self.source} was trained on {_describe(self.base)} but the transformer "
                    f"is {_describe(actual)}: {', '.join(differ)} differ. Use it with the "
                    "transformer it was trained on."
                )
        modules = dict(model.named_modules())
        missing = [path for path in self.layers if not isinstance(modules.get(path), Linear)]
        if missing:
            raise CheckpointError(
                f"{self.source} adapts {len(missing)} layers the transformer does not have, "
                f"e.g. {missing[:SHOWN]}: it belongs to another model"
            )
        wrong = []
        for path, (lora_a, lora_b) in self.layers.items():
            weight = modules[path].weight
            if lora_a.shape[1] != weight.shape[1] or lora_b.shape[0] != weight.shape[0]:
                wrong.append(
                    f"{path}: adapter {lora_b.shape[0]}x{lora_a.shape[1]}, "
                    f"layer {weight.shape[0]}x{weight.shape[1]}"
                )
        if wrong:
            raise CheckpointError(
                f"{self.source} does not fit the transformer's widths ({len(wrong)} layers), "
                f"e.g. {wrong[:SHOWN]}: it belongs to another model"
            )

    def state_dict(self) -> dict:
        """PEFT-keyed tensors, as written to `lora.safetensors`."""
        state = {}
        for path, (lora_a, lora_b) in self.layers.items():
            state[f"{PEFT_PREFIX}{path}{SUFFIXES['lora_A']}"] = lora_a.contiguous()
            state[f"{PEFT_PREFIX}{path}{SUFFIXES['lora_B']}"] = lora_b.contiguous()
        return state

    def metadata(self) -> dict:
        """The safetensors header strings."""
        return {
            "format": "pt",
            "opensora_lora": FORMAT_VERSION,
            "rank": str(self.config.rank),
            "alpha": repr(self.config.alpha),
            "dropout": repr(self.config.dropout),
            "targets": json.dumps(list(self.config.targets)),
            "base_model": json.dumps(self.base),
        }


def save_lora(weights: LoRAWeights, path: "str | os.PathLike") -> Path:
    """Write `weights` to `path` (a `.safetensors` file) atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    state = {key: value.detach().cpu() for key, value in weights.state_dict().items()}
    save_file(state, str(partial), metadata=weights.metadata())
    os.replace(partial, path)
    return path


def _pairs(state: dict, where: str) -> dict:
    """`{layer path: (A, B)}` from PEFT keys (with or without `base_model.model.`)."""
    halves: dict = {}
    unknown = []
    for key, tensor in state.items():
        name = key.removeprefix(PEFT_PREFIX)
        for half, suffix in SUFFIXES.items():
            if name.endswith(suffix):
                halves.setdefault(name[: -len(suffix)], {})[half] = tensor
                break
        else:
            unknown.append(key)
    if unknown:
        raise CheckpointError(
            f"{where}: not an Open-Sora LoRA file: unexpected keys {sorted(unknown)[:SHOWN]} "
            "(expected '<layer>.lora_A.weight' and '<layer>.lora_B.weight' pairs)"
        )
    if not halves:
        raise CheckpointError(f"{where}: holds no adapter tensors")
    incomplete = sorted(path for path, pair in halves.items() if len(pair) != 2)
    if incomplete:
        raise CheckpointError(f"{where}: layers without both lora_A and lora_B: {incomplete}")
    layers = {}
    for path, pair in halves.items():
        lora_a, lora_b = pair["lora_A"], pair["lora_B"]
        if lora_a.ndim != 2 or lora_b.ndim != 2 or lora_a.shape[0] != lora_b.shape[1]:
            raise CheckpointError(
                f"{where}: {path}: lora_A {tuple(lora_a.shape)} and lora_B "
                f"{tuple(lora_b.shape)} are not a [rank, in] / [out, rank] pair"
            )
        layers[path] = (lora_a, lora_b)
    return layers


def _config(metadata: dict, layers: dict, where: str) -> LoRAConfig:
    rank = next(iter(layers.values()))[0].shape[0]
    try:
        return LoRAConfig(
            rank=int(metadata.get("rank", rank)),
            # Without a header (a plain PEFT file) the update is taken unscaled.
            alpha=float(metadata.get("alpha", rank)),
            dropout=float(metadata.get("dropout", 0.0)),
            targets=tuple(json.loads(metadata["targets"])) if "targets" in metadata else ("attn",),
        )
    except (ValueError, TypeError, RecursionError) as error:
        raise CheckpointError(f"{where}: damaged LoRA metadata: {error!r}") from None


def lora_file(path: "str | os.PathLike") -> Path:
    """`path` itself, or the `lora.safetensors` of a LoRA training checkpoint folder."""
    path = Path(path).expanduser()
    if path.is_dir():
        if not (path / LORA_FILE).is_file():
            raise CheckpointError(
                f"LoRA folder {str(path)!r} holds no {LORA_FILE} (give the adapter file, or "
                "a checkpoint folder of a training run with lora = dict(...))"
            )
        return path / LORA_FILE
    if not path.is_file():
        raise CheckpointError(f"LoRA {str(path)!r} does not exist")
    return path


def read_lora(path: "str | os.PathLike") -> LoRAWeights:
    """Load a LoRA `.safetensors` file (ours, or PEFT-keyed without our metadata), or the
    adapter of a LoRA run's checkpoint folder."""
    path = lora_file(path)
    where = f"LoRA {str(path)!r}"
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            state = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as error:  # safetensors raises several unrelated types on bad files
        raise CheckpointError(f"{where} is not a readable safetensors file: {error}") from error
    layers = _pairs(state, where)
    try:
        base = json.loads(metadata.get("base_model", "{}"))
    except (ValueError, RecursionError) as error:
        raise CheckpointError(f"{where}: damaged base_model metadata: {error!r}") from None
    if not isinstance(base, dict):
        raise CheckpointError(f"{where}: base_model metadata is not a JSON object")
    return LoRAWeights(layers, _config(metadata, layers, where), base, where)
