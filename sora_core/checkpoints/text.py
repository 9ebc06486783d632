"""Loading the T5 text encoder from the files ComfyUI users have.

* a Hugging Face folder (`DeepFloyd/t5-v1_1-xxl`: config.json, sharded `.bin` read with
  `weights_only=True`, or safetensors; spiece.model or tokenizer.json beside them);
* ComfyUI's single encoder-only files (`t5xxl_fp16.safetensors`,
  `t5xxl_fp8_e4m3fn.safetensors`), with the tokenizer given, lying beside the file, or the
  one ComfyUI ships (`comfy/text_encoders/t5_tokenizer`).

Weights load in bf16/fp16/fp8 (fp32 only when asked: T5-XXL is ~19 GB in fp32); fp8
files stay fp8 in memory and compute in bf16.
"""

import importlib.util
import os
from pathlib import Path

import torch

from ..dtypes import is_fp8, resolve_dtype
from ..errors import CheckpointError, ConfigError
from ..text.t5 import T5TextEncoder
from ..text.t5_model import build_t5_encoder, config_from_weights, strip_to_t5_encoder
from ..text.tokenizer import T5PromptTokenizer, find_tokenizer_file, load_t5_tokenizer
from .files import read_folder_config, read_state_dict

# Storage dtypes kept as found in a file; anything else (fp32) loads as bf16 by default.
_COMPACT_DTYPES = (torch.bfloat16, torch.float16, torch.float8_e4m3fn, torch.float8_e5m2)
_COMPUTE_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def comfyui_t5_tokenizer_dir() -> "Path | None":
    """ComfyUI's bundled T5 tokenizer folder when ComfyUI is importable (not imported here)."""
    try:
        spec = importlib.util.find_spec("comfy")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location) / "text_encoders" / "t5_tokenizer"
        if find_tokenizer_file(folder) is not None:
            return folder
    return None


def resolve_t5_tokenizer(
    model_path: Path, tokenizer: "str | os.PathLike | T5PromptTokenizer | None"
) -> T5PromptTokenizer:
    """The tokenizer given, else the model folder's (or the file's neighbours'), else ComfyUI's."""
    if isinstance(tokenizer, T5PromptTokenizer):
        return tokenizer
    if tokenizer is not None:
        return load_t5_tokenizer(tokenizer)
    folder = model_path if model_path.is_dir() else model_path.parent
    candidates = [find_tokenizer_file(folder), comfyui_t5_tokenizer_dir()]
    found = next((candidate for candidate in candidates if candidate is not None), None)
    if found is None:
        raise CheckpointError(
            f"no T5 tokenizer for {str(model_path)!r}: none in {str(folder)!r} and ComfyUI's "
            "bundled one (comfy/text_encoders/t5_tokenizer) is not available; pass "
            "tokenizer= a spiece.model, a tokenizer.json or a folder holding one"
        )
    return load_t5_tokenizer(found)


def _floating_dtype(state_dict: dict) -> torch.dtype:
    weight = state_dict["encoder.block.0.layer.0.SelfAttention.q.weight"]
    return weight.dtype


def choose_dtypes(
    file_dtype: torch.dtype, dtype=None, compute_dtype=None
) -> "tuple[torch.dtype, torch.dtype]":
    """(weight dtype, compute dtype): compact files stay as they are, fp32 becomes bf16."""
    default_weight = file_dtype if file_dtype in _COMPACT_DTYPES else torch.bfloat16
    weight_dtype = resolve_dtype(dtype, default_weight)
    default_compute = torch.float32 if weight_dtype == torch.float32 else torch.bfloat16
    compute = resolve_dtype(compute_dtype, default_compute)
    if is_fp8(compute) or compute not in _COMPUTE_DTYPES:
        raise ConfigError(
            f"compute_dtype: {compute} cannot run T5; expected one of "
            f"{[str(d) for d in _COMPUTE_DTYPES]} (fp8 is a storage type for weights)"
        )
    return weight_dtype, compute


# Sizes the tensors fix; a config.json that disagrees would build the wrong (maybe huge) model.
_SHAPE_KEYS = ("vocab_size", "d_model", "num_layers", "num_heads", "d_kv", "d_ff")


def _check_against_weights(folder_config: dict, from_weights: dict, model_path: Path) -> None:
    """Refuse, before building anything, a config.json whose sizes the weights contradict."""
    wrong = [
        f"{key} = {folder_config[key]!r:.40} (the weights have {from_weights[key]})"
        for key in _SHAPE_KEYS
        if key in folder_config and folder_config[key] != from_weights[key]
    ]
    if wrong:
        raise CheckpointError(
            f"{str(model_path / 'config.json')!r} does not match the weights beside it: "
            + "; ".join(wrong)
        )


def load_text_encoder(
    path: "str | os.PathLike",
    tokenizer: "str | os.PathLike | T5PromptTokenizer | None" = None,
    dtype: "str | torch.dtype | None" = None,
    device: "str | torch.device" = "cpu",
    model_max_length: int = 300,
    compute_dtype: "str | torch.dtype | None" = None,
    offload_device: "str | torch.device" = "cpu",
    keep_on_device: bool = False,
    cache_size: int = 32,
) -> T5TextEncoder:
    """A ready T5 text encoder from a model folder or a single weights file."""
    model_path = Path(path).expanduser()
    if not model_path.exists():
        raise CheckpointError(f"T5 text encoder path {str(model_path)!r} does not exist")
    prompt_tokenizer = resolve_t5_tokenizer(model_path, tokenizer)
    weights = strip_to_t5_encoder(read_state_dict(model_path), str(model_path))
    folder_config = read_folder_config(model_path) if model_path.is_dir() else None
    config = config_from_weights(weights)
    if folder_config:
        _check_against_weights(folder_config, config, model_path)
        config = folder_config
    if prompt_tokenizer.vocab_size > config["vocab_size"]:
        raise CheckpointError(
            f"tokenizer {prompt_tokenizer.source!r} has {prompt_tokenizer.vocab_size} ids but "
            f"the T5 at {str(model_path)!r} embeds only {config['vocab_size']}: they do not "
            "belong together"
        )
    weight_dtype, compute = choose_dtypes(_floating_dtype(weights), dtype, compute_dtype)
    model = build_t5_encoder(weights, config, weight_dtype, compute)
    return T5TextEncoder(
        model.to(offload_device),
        prompt_tokenizer,
        model_max_length=model_max_length,
        device=device,
        offload_device=offload_device,
        keep_on_device=keep_on_device,
        cache_size=cache_size,
    )
