"""Safe reading of weight files: safetensors first, pickles only with `weights_only=True`.

Knows the on-disk layouts (single files, Hugging Face and diffusers folders, sharded
indexes) and nothing about which model the weights belong to.
"""

import os
import re
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from ..errors import CheckpointError
from ..json_files import read_json_file

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
# Below torch 2.6 a crafted pickle can run code even with `weights_only=True`
# (CVE-2025-32434), so older versions read safetensors only.
SAFE_UNPICKLING_TORCH = (2, 6)


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
    if (folder / "lora.safetensors").is_file():
        raise CheckpointError(
            f"folder {str(folder)!r} is a LoRA training checkpoint: it holds only the adapter "
            "(lora.safetensors), not a transformer. Load the base transformer the run trained "
            "on and apply the adapter (--lora FOLDER, or the Open-Sora LoRA node)"
        )
    raise CheckpointError(
        f"folder {str(folder)!r} holds no weights: expected one of {list(FOLDER_WEIGHT_NAMES)}"
    )


def read_json_object(path: Path, what: str) -> dict:
    """A JSON file that must hold one object; damaged, binary or nested-to-death files are named."""
    return read_json_file(path, what, CheckpointError)


def read_folder_config(folder: "str | os.PathLike") -> "dict | None":
    """The folder's `config.json` as a dict, or None when it has none."""
    config_path = Path(folder) / "config.json"
    if not config_path.is_file():
        return None
    return read_json_object(config_path, "model config")


def _read_safetensors(path: Path, device: str) -> StateDict:
    try:
        return load_file(str(path), device=device)
    except Exception as error:  # safetensors raises several unrelated types on damaged headers
        raise CheckpointError(
            f"{str(path)!r} is not a readable safetensors file: {error}"
        ) from error


def _torch_version(version: str) -> "tuple[int, int]":
    match = re.match(r"(\d+)\.(\d+)", version)
    return (int(match[1]), int(match[2])) if match else (0, 0)


def _load_pickle(path: Path, device: str):
    if _torch_version(torch.__version__) < SAFE_UNPICKLING_TORCH:
        raise CheckpointError(
            f"{str(path)!r}: torch {torch.__version__} cannot load pickled weights safely "
            "(CVE-2025-32434: weights_only=True can be bypassed before 2.6). Install "
            "torch>=2.6, or use the .safetensors version of these weights."
        )
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


def _string_keyed(value: dict, depth: int = 0) -> dict:
    """The dict with only its text-keyed entries, nested dicts alike.

    Weights are always named by text; integer keys belong to optimizer state saved
    alongside them, and would break every name lookup downstream.
    """
    return {
        key: _string_keyed(item, depth + 1) if isinstance(item, dict) and depth < 8 else item
        for key, item in value.items()
        if isinstance(key, str)
    }


def _read_pickle(path: Path, device: str) -> dict:
    loaded = _load_pickle(path, device)
    if not isinstance(loaded, dict):
        raise CheckpointError(
            f"{str(path)!r} holds a {type(loaded).__name__}, not a state dict "
            "(a dict of tensor names to tensors, possibly under 'model' or 'state_dict')"
        )
    return _string_keyed(loaded)


def _shard_paths(index_path: Path, weight_map) -> "list[Path]":
    """The shard files an index names: plain weight files inside the index's own folder."""
    if not isinstance(weight_map, dict) or not all(
        isinstance(key, str) and isinstance(name, str) for key, name in weight_map.items()
    ):
        raise CheckpointError(
            f"{str(index_path)!r}: 'weight_map' must map tensor names to shard file names"
        )
    shards = []
    for name in sorted(set(weight_map.values())):
        # Judged by the name alone: Hugging Face caches link shards to blobs elsewhere.
        plain = name not in ("", ".", "..") and not re.search(r"[\\/:\x00]", name)
        if not plain or name.lower().endswith(".index.json"):
            raise CheckpointError(
                f"{str(index_path)!r} names shard {name!r}; shards must be weight files "
                f"in the index's own folder {str(index_path.parent)!r}"
            )
        shards.append(index_path.parent / name)
    return shards


def _read_sharded(index_path: Path, device: str) -> StateDict:
    index = read_json_object(index_path, "shard index")
    if "weight_map" not in index:
        raise CheckpointError(f"{str(index_path)!r} is not a shard index (no 'weight_map')")
    weight_map = index["weight_map"]
    state_dict: StateDict = {}
    for shard in _shard_paths(index_path, weight_map):
        state_dict.update(read_state_dict(shard, device=device))
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
