"""Safe reading of weight files: safetensors first, pickles only with `weights_only=True`.

Knows the on-disk layouts (single files, Hugging Face and diffusers folders, sharded
indexes) and nothing about which model the weights belong to.
"""

import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from ..errors import CheckpointError

SAFETENSORS_SUFFIXES = (".safetensors", ".sft")
PICKLE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt")

# Weight file names inside a model folder, in order of preference (safe formats first).
FOLDER_WEIGHT_NAMES = (
    "model.safetensors.index.json",
    "model.safetensors",
    "diffusion_pytorch_model.safetensors.index.json",
    "diffusion_pytorch_model.safetensors",
    "pytorch_model.bin.index.json",
    "pytorch_model.bin",
    "diffusion_pytorch_model.bin.index.json",
    "diffusion_pytorch_model.bin",
)

StateDict = dict[str, torch.Tensor]


def _existing(path: "str | os.PathLike") -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise CheckpointError(f"checkpoint path {str(path)!r} does not exist")
    return path


def folder_weight_file(folder: "str | os.PathLike") -> Path:
    """The weights file (or shard index) a model folder holds, preferring safetensors."""
    folder = _existing(folder)
    for name in FOLDER_WEIGHT_NAMES:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    raise CheckpointError(
        f"folder {str(folder)!r} holds no weights: expected one of {list(FOLDER_WEIGHT_NAMES)}"
    )


def read_folder_config(folder: "str | os.PathLike") -> "dict | None":
    """The folder's `config.json` as a dict, or None when it has none."""
    config_path = Path(folder) / "config.json"
    if not config_path.is_file():
        return None
    try:
        return json.loads(config_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{str(config_path)!r} is not valid JSON: {error}") from error


def _read_safetensors(path: Path, device: str) -> StateDict:
    try:
        return load_file(str(path), device=device)
    except Exception as error:  # safetensors raises several unrelated types on damaged headers
        raise CheckpointError(
            f"{str(path)!r} is not a readable safetensors file: {error}"
        ) from error


def _read_pickle(path: Path, device: str) -> dict:
    try:
        return torch.load(str(path), map_location=device, weights_only=True, mmap=True)
    except RuntimeError as error:
        if "mmap" not in str(error):
            raise CheckpointError(f"{str(path)!r} is not a readable torch file: {error}") from error
    except Exception as error:
        raise CheckpointError(
            f"{str(path)!r} cannot be loaded safely (weights_only=True): {error}. "
            "Convert it to .safetensors, or re-save it as a plain state dict."
        ) from error
    # Files written with the legacy (non-zip) serializer cannot be memory-mapped.
    try:
        return torch.load(str(path), map_location=device, weights_only=True)
    except Exception as error:
        raise CheckpointError(
            f"{str(path)!r} cannot be loaded safely (weights_only=True): {error}"
        ) from error


def _read_sharded(index_path: Path, device: str) -> StateDict:
    try:
        weight_map = json.loads(index_path.read_text(encoding="utf-8"))["weight_map"]
    except (json.JSONDecodeError, KeyError) as error:
        raise CheckpointError(
            f"{str(index_path)!r} is not a shard index (no 'weight_map')"
        ) from error
    state_dict: StateDict = {}
    for shard in sorted(set(weight_map.values())):
        state_dict.update(read_state_dict(index_path.parent / shard, device=device))
    missing = sorted(set(weight_map) - set(state_dict))
    if missing:
        raise CheckpointError(
            f"shards listed in {str(index_path)!r} lack {len(missing)} tensors, e.g. {missing[:5]}"
        )
    return state_dict


def read_state_dict(path: "str | os.PathLike", device: str = "cpu") -> dict:
    """Load the tensors of a weights file or model folder, never executing pickled code.

    A pickle may hold a nested dict (`{"model": {...}}`, `{"state_dict": {...}}`); it is
    returned as stored, for the caller that knows the model to unwrap.
    """
    path = _existing(path)
    if path.is_dir():
        path = folder_weight_file(path)
    name = path.name.lower()
    if name.endswith(".index.json"):
        return _read_sharded(path, device)
    if name.endswith(SAFETENSORS_SUFFIXES):
        return _read_safetensors(path, device)
    if name.endswith(PICKLE_SUFFIXES):
        return _read_pickle(path, device)
    raise CheckpointError(
        f"{str(path)!r}: unknown weights format; expected a folder or a file ending in "
        f"{list(SAFETENSORS_SUFFIXES + PICKLE_SUFFIXES)}"
    )


def read_safetensors_shapes(path: "str | os.PathLike") -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes of a safetensors file, read from its header only."""
    path = _existing(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            return {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}
    except Exception as error:
        raise CheckpointError(
            f"{str(path)!r} is not a readable safetensors file: {error}"
        ) from error
