"""Loading the CLIP text encoder (`type="clip"`) from a local Hugging Face folder.

The folder holds a `CLIPTextModel` or `CLIPModel` (config.json, weights, vocab.json and
merges.txt); nothing is downloaded.
"""

import os
from pathlib import Path

import torch
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from ..dtypes import resolve_dtype
from ..errors import CheckpointError, ConfigError
from ..text.clip import ClipTextEncoder
from .files import read_folder_config, read_state_dict

TEXT_PREFIX = "text_model."


def _text_config(folder: Path) -> CLIPTextConfig:
    config = read_folder_config(folder)
    if config is None:
        raise CheckpointError(f"CLIP folder {str(folder)!r} has no config.json")
    # A full CLIPModel folder nests the text tower's settings.
    values = config.get("text_config") or config
    return CLIPTextConfig(**{key: value for key, value in values.items() if key != "model_type"})


def _text_weights(state_dict: dict, expected: "set[str]", dtype: torch.dtype) -> dict:
    # transformers 4.x names the text tower `text_model.*`, 5.x drops the prefix; files
    # (CLIPModel or CLIPTextModel) may use either, and CLIPModel's vision tower is ignored.
    weights = {}
    for key, tensor in state_dict.items():
        bare = key.removeprefix(TEXT_PREFIX)
        for name in (bare, TEXT_PREFIX + bare):
            if name in expected:
                weights[name] = tensor.to(dtype)
    return weights


def _materialise_position_ids(model: CLIPTextModel) -> None:
    # A non-persistent buffer is not in the file, so it is still on the meta device.
    for name, buffer in list(model.named_buffers()):
        if buffer.is_meta and name.endswith("position_ids"):
            owner = model.get_submodule(name.rpartition(".")[0])
            positions = torch.arange(model.config.max_position_embeddings).expand((1, -1))
            owner.register_buffer("position_ids", positions, persistent=False)


def load_clip_text_encoder(
    path: "str | os.PathLike",
    model_max_length: int = 77,
    dtype: "str | torch.dtype | None" = None,
    device: "str | torch.device" = "cpu",
) -> ClipTextEncoder:
    """A CLIP text encoder from a local Hugging Face folder (fp32 unless `dtype` says otherwise)."""
    folder = Path(path).expanduser()
    if not folder.is_dir() or not (folder / "config.json").is_file():
        raise CheckpointError(
            f"CLIP text encoder {str(folder)!r}: expected a local folder holding config.json, "
            "weights, vocab.json and merges.txt"
        )
    try:
        tokenizer = CLIPTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, TypeError) as error:
        raise CheckpointError(f"no CLIP tokenizer in {str(folder)!r}: {error}") from error
    config = _text_config(folder)
    if model_max_length > config.max_position_embeddings:
        raise ConfigError(
            f"model_max_length={model_max_length} exceeds the {config.max_position_embeddings} "
            f"positions of the CLIP model in {str(folder)!r}"
        )
    with torch.device("meta"):
        model = CLIPTextModel(config)
    expected = set(model.state_dict())
    weights = _text_weights(read_state_dict(folder), expected, resolve_dtype(dtype))
    missing = sorted(key for key in expected - set(weights) if not key.endswith("position_ids"))
    if missing:
        raise CheckpointError(
            f"{str(folder)!r} is not a CLIP text model: missing {missing[:5]} ({len(missing)})"
        )
    model.load_state_dict(weights, strict=False, assign=True)
    _materialise_position_ids(model)
    return ClipTextEncoder(model.eval().requires_grad_(False), tokenizer, model_max_length, device)
