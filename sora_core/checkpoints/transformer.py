"""Load any Open-Sora transformer checkpoint: detect the release and configuration from the
tensors, build on the meta device and load with `assign`, so weights exist once in memory.

Formats: Hugging Face folders (`config.json` + `model.safetensors`, sharded or not), single
`.safetensors` files, `.pt/.pth` state dicts (trainer `ema.pt`, the 1.0 release `.pth`, with
`ema`/`state_dict`/`model` wrappers and `module.` prefixes), all read by `files.read_state_dict`.
"""

import math
import os
from pathlib import Path

import torch

from ..dtypes import is_fp8, resolve_dtype
from ..errors import CheckpointError, ConfigError
from ..text.t5 import MAX_TEXT_TOKENS
from . import dit_pixart
from .files import read_folder_config, read_state_dict
from .sincos_tables import coordinate_scale, table_grid

WRAPPER_KEYS = ("ema", "state_dict", "model", "module", "ema_state_dict")
KEY_PREFIXES = ("module.", "model.", "_orig_mod.")
RELEASE_TYPES = {"1.0": "STDiT", "1.1": "STDiT2", "1.2": "STDiT3"}
# 1.0 files without their position tables fall back to the 16x256x256 release config.
STDIT_RELEASE_SIZE = {"input_size": (16, 32, 32), "space_scale": 0.5, "time_scale": 1.0}
RELEASE_HEAD_DIM = 72  # every released model (XL/2: 1152/16, 3B/2: 1872/26)
SMALL_MODEL_HEADS = 4  # the reference's test-size configs
SHOWN = 8  # keys listed per kind in error messages


# --- reading --------------------------------------------------------------------------------
def _is_state_dict(value) -> bool:
    return isinstance(value, dict) and any(isinstance(v, torch.Tensor) for v in value.values())


def unwrap_state_dict(raw: dict) -> dict[str, torch.Tensor]:
    """The flat tensor dict inside a checkpoint, without wrappers or `module.`-style prefixes."""
    state = raw
    while not _is_state_dict(state) or any(k in state for k in WRAPPER_KEYS):
        inner = next((state[k] for k in WRAPPER_KEYS if isinstance(state.get(k), dict)), None)
        if inner is None:
            break
        state = inner
    state = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not state:
        raise CheckpointError(f"no tensors found; top-level keys are {sorted(raw)[:SHOWN]}")
    changed = True
    while changed:
        changed = False
        for prefix in KEY_PREFIXES:
            if all(key.startswith(prefix) for key in state):
                state = {key[len(prefix) :]: value for key, value in state.items()}
                changed = True
    return state


def _family_error(state: dict, where: str) -> "str | None":
    keys = list(state)
    if any(k.startswith(("spatial_vae.", "temporal_vae.")) for k in keys) or any(
        "quant_conv" in k or "decoder.conv_out" in k for k in keys
    ):
        return f"{where}: this is a VAE checkpoint, not a transformer (load it with load_vae)"
    if "shared.weight" in state or any(".SelfAttention." in k for k in keys):
        return (
            f"{where}: this is a T5 text-encoder checkpoint, not a transformer "
            "(load it with load_text_encoder)"
        )
    return None


def detect_release(state: dict, where: str = "checkpoint") -> str:
    """Open-Sora release of a transformer state dict: "1.0", "1.1" or "1.2"."""
    family = _family_error(state, where)
    if family:
        raise CheckpointError(family)
    if "x_embedder.proj.weight" not in state:
        raise CheckpointError(
            f"{where}: not an Open-Sora transformer: expected keys such as "
            f"'x_embedder.proj.weight', 'y_embedder.y_proj.fc1.weight'; found e.g. "
            f"{sorted(state)[:SHOWN]}"
        )
    if any(k.startswith("spatial_blocks.") for k in state):
        return "1.2"
    if "t_block_temp.1.weight" in state:
        return "1.1"
    if "blocks.0.attn_temp.qkv.weight" in state:
        return "1.0"
    raise CheckpointError(
        f"{where}: transformer of an unknown layout: no 'spatial_blocks.*' (1.2), "
        "'t_block_temp.*' (1.1) or 'blocks.*.attn_temp.*' (1.0) keys"
    )


# --- configuration from shapes --------------------------------------------------------------
def _stdit_size(state: dict, hidden: int, patch: tuple) -> dict:
    """1.0 `input_size`, `space_scale`, `time_scale` read back from the stored sin-cos tables."""
    spatial, temporal = state.get("pos_embed"), state.get("pos_embed_temporal")
    if spatial is None or temporal is None:
        return dict(STDIT_RELEASE_SIZE)
    spatial, temporal = spatial[0].float(), temporal[0].float()
    rows, cols = table_grid(spatial, hidden)
    return {
        "input_size": (temporal.shape[0] * patch[0], rows * patch[1], cols * patch[2]),
        "space_scale": 1.0 if cols < 2 else coordinate_scale(spatial, hidden // 4),
        "time_scale": coordinate_scale(temporal, hidden // 2),
    }


def detect_config(state: dict, release: str) -> dict:
    """Constructor arguments implied by the tensors' names and shapes."""
    hidden, in_channels, *patch = state["x_embedder.proj.weight"].shape
    patch = tuple(patch)
    prefix = "spatial_blocks" if release == "1.2" else "blocks"
    indices = {int(k.split(".")[1]) for k in state if k.startswith(prefix + ".")}
    out_channels = state["final_layer.linear.weight"].shape[0] // math.prod(patch)
    if out_channels not in (in_channels, 2 * in_channels):
        raise CheckpointError(
            f"final_layer.linear.weight has {out_channels} channels per patch; expected "
            f"{in_channels} or {2 * in_channels} for {in_channels} latent channels"
        )
    config = {
        "in_channels": in_channels,
        "patch_size": patch,
        "hidden_size": hidden,
        "depth": max(indices) + 1,
        "mlp_ratio": state[f"{prefix}.0.mlp.fc1.weight"].shape[0] / hidden,
        "pred_sigma": out_channels == 2 * in_channels,
        "caption_channels": state["y_embedder.y_proj.fc1.weight"].shape[1],
    }
    if "y_embedder.y_embedding" in state:
        config["model_max_length"] = state["y_embedder.y_embedding"].shape[0]
    q_norm = state.get(f"{prefix}.0.attn.q_norm.weight")
    if "rope.freqs" in state:
        head_dim = 2 * state["rope.freqs"].shape[0]
    elif q_norm is not None:
        head_dim = q_norm.shape[0]
    else:  # 1.0 stores nothing per head
        head_dim = (
            RELEASE_HEAD_DIM if hidden % RELEASE_HEAD_DIM == 0 else hidden // SMALL_MODEL_HEADS
        )
    config["num_heads"] = hidden // head_dim
    if release == "1.0":
        config.update(_stdit_size(state, hidden, patch))
    else:
        config["qk_norm"] = q_norm is not None
        config["input_sq_size"] = 512  # every 1.1/1.2 release; not stored in the weights
    if release == "1.1":
        config["qk_norm_legacy"] = True  # 1.1 weights were trained with RoPE before RMSNorm
    return config


def _folder_config(path: Path, cls) -> dict:
    """The constructor arguments a folder's `config.json` holds (metadata and extras dropped)."""
    if not path.is_dir():
        return {}
    stored = read_folder_config(path) or {}
    return {key: value for key, value in stored.items() if key in cls.DEFAULTS}


# --- state fix-ups --------------------------------------------------------------------------
def _fit_null_caption(state: dict, length: int) -> None:
    """Pad (repeating the last row) or truncate `y_embedding` to `length`, like `reparameter`."""
    null = state.get("y_embedder.y_embedding")
    if null is None or null.shape[0] == length:
        return
    if null.shape[0] < length:
        null = torch.cat([null, null[-1:].expand(length - null.shape[0], -1)])
    state["y_embedder.y_embedding"] = null[:length].contiguous()


def _check_keys(state: dict, expected: dict, where: str) -> None:
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [
        f"{key}: file {tuple(state[key].shape)} vs model {tuple(expected[key].shape)}"
        for key in sorted(set(state) & set(expected))
        if tuple(state[key].shape) != tuple(expected[key].shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing keys ({len(missing)}): {missing[:SHOWN]}")
    if unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): {unexpected[:SHOWN]}")
    if mismatched:
        problems.append(f"shape mismatches ({len(mismatched)}): {mismatched[:SHOWN]}")
    if problems:
        raise CheckpointError(f"{where} does not fit the model: " + "; ".join(problems))


def storage_dtypes(model: torch.nn.Module, dtype: torch.dtype) -> dict[str, torch.dtype]:
    """Per-key dtype: fp8 only for linear/conv weights (upcast per layer), bf16 for the rest."""
    if not is_fp8(dtype):
        return {}
    from ..models.layers import FP8_WEIGHT_LAYERS

    return {
        f"{name}.weight": dtype
        for name, module in model.named_modules()
        if isinstance(module, FP8_WEIGHT_LAYERS)
    }


def store_weights(model: torch.nn.Module, dtype: "str | torch.dtype") -> None:
    """Re-store `model`'s floating-point weights and buffers in `dtype` in place; fp8 keeps
    Linear/Conv weights in 8 bits (cast per call) and the rest in bf16."""
    dtype = resolve_dtype(dtype)
    per_key = storage_dtypes(model, dtype)
    compute = torch.bfloat16 if is_fp8(dtype) else dtype
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        if tensor.is_floating_point():
            tensor.data = tensor.data.to(per_key.get(name, compute))


# --- model selection ------------------------------------------------------------------------
# A file of one class may be asked for as another with the same keys: Latte is DiT with
# another forward, PixArt-Σ without q/k norm or KV compression is PixArt-α's layout.
COMPATIBLE_CLASSES = {
    "DiT": {"DiT", "Latte"},
    "Latte": {"DiT", "Latte"},
    "PixArt": {"PixArt", "PixArt_Sigma"},
}


def detect_model(state: dict, where: str = "checkpoint") -> str:
    """The model class a transformer state dict belongs to ("STDiT3", "DiT", "PixArtMS", ...)."""
    family = _family_error(state, where)
    if family:
        raise CheckpointError(family)
    if "x_embedder.proj.weight" in state:
        image_model = dit_pixart.detect_family(state)
        if image_model is not None:
            return image_model
    return RELEASE_TYPES[detect_release(state, where)]


def _requested_class(detected: str, overrides: dict, where: str):
    """The class to build and the type's preset sizes, refusing a type the file does not fit."""
    from ..models import MODEL_CLASSES, model_class

    type_name = overrides.pop("type", None)
    release = overrides.pop("release", None)
    cls, preset = model_class(type_name) if type_name else (MODEL_CLASSES[detected], {})
    stdit = detected in RELEASE_TYPES.values()
    stored = MODEL_CLASSES[detected].release
    if stdit and release is not None and str(release) != stored:
        if str(release) not in RELEASE_TYPES:
            raise ConfigError(f"release: {release!r}; expected one of {sorted(RELEASE_TYPES)}")
        cls, type_name = MODEL_CLASSES[RELEASE_TYPES[str(release)]], None
    if cls.__name__ in COMPATIBLE_CLASSES.get(detected, {detected}):
        return cls, preset
    if stdit and cls.__name__ in RELEASE_TYPES.values():
        raise CheckpointError(
            f"{where} holds an Open-Sora {stored} transformer ({detected}), but release "
            f"{cls.release} was asked for"
        )
    asked = f"type {type_name!r} ({cls.__name__})" if type_name else cls.__name__
    raise CheckpointError(
        f"{where} holds a {detected} transformer, but {asked} was asked for; its keys do not "
        "fit that model"
    )


def _check_variant(detected: dict, preset: dict, type_name: "str | None", where: str) -> None:
    """The registry name's patch size must be the file's (`DiT-XL/2` vs `DiT-XL/2x2`)."""
    wanted = preset.get("patch_size")
    if wanted is not None and tuple(wanted) != tuple(detected["patch_size"]):
        raise CheckpointError(
            f"{where} was trained with patch_size {tuple(detected['patch_size'])}, but "
            f"{type_name!r} has patch_size {tuple(wanted)}; pick the variant with the file's "
            "patch size"
        )


# Sizes the tensors fix: a config.json or override that disagrees is refused before building
# (depth = 100000 would spend minutes building a model that cannot hold these weights).
SHAPE_KEYS = ("in_channels", "patch_size", "hidden_size", "depth", "caption_channels")


def _check_against_weights(settings: dict, detected: dict, where: str) -> None:
    wrong = [
        f"{key} = {settings[key]!r:.40} (the weights have {detected[key]!r})"
        for key in SHAPE_KEYS
        if key in settings
        and key in detected
        and _as_sizes(settings[key]) != _as_sizes(detected[key])
    ]
    if wrong:
        raise CheckpointError(
            f"{where}: the config does not match the weights: " + "; ".join(wrong)
        )
    length = settings.get("model_max_length")
    if length is not None and not (isinstance(length, int) and 1 <= length <= MAX_TEXT_TOKENS):
        raise CheckpointError(
            f"{where}: model_max_length = {length!r:.40}; expected 1 to {MAX_TEXT_TOKENS} tokens"
        )


def _as_sizes(value):
    return tuple(value) if isinstance(value, (list, tuple)) else value


def _detected_settings(
    state: dict, detected: str, cls, preset: dict, path: Path, overrides: dict
) -> "tuple[dict, dict]":
    """Constructor arguments from the tensors, then with the folder's `config.json` over them."""
    if cls.__name__ in ("DiT", "Latte"):
        settings = dit_pixart.dit_config(state, preset)
    elif detected.startswith("PixArt"):
        base_size = overrides.get("base_size")
        settings = dit_pixart.pixart_config(state, detected, preset, base_size)
    else:
        settings = detect_config(state, cls.release)
    return settings, {**settings, **_folder_config(path, cls)}


# --- entry point ----------------------------------------------------------------------------
def load_transformer(
    path: "str | os.PathLike",
    config: "dict | None" = None,
    dtype: "str | torch.dtype | None" = None,
    device: "str | torch.device" = "cpu",
) -> torch.nn.Module:
    """A ready transformer in eval mode from a checkpoint file or folder: STDiT/STDiT2/STDiT3,
    DiT/Latte, PixArt/PixArtMS/PixArt_Sigma, in Open-Sora's layout or their own releases'.

    `config` (optional) overrides detected settings with Open-Sora's names, e.g.
    `{"input_size": (16, 64, 64)}` for a 1.0 file or `{"qk_norm_legacy": False}`; a `type`
    (`"STDiT3-XL/2"`, `"Latte-XL/2"`, ...) or `release` ("1.0"/"1.1"/"1.2") must agree with the
    file. `dtype`: fp32/bf16/fp16, or fp8 to store linear weights in float8_e4m3fn and compute
    in bf16. Default: the file's dtype.
    """
    path = Path(path)
    where = f"{str(path)!r}"
    state = unwrap_state_dict(read_state_dict(path, device=str(device)))
    detected = detect_model(state, where)
    dit_pixart.normalise_layout(state)

    overrides = dict(config or {})
    overrides.pop("from_pretrained", None)
    type_name = overrides.get("type")
    cls, preset = _requested_class(detected, overrides, where)
    unknown = sorted(set(overrides) - set(cls.DEFAULTS))
    if unknown:
        raise ConfigError(
            f"{cls.__name__}: unknown config keys {unknown}; accepted keys are "
            f"{sorted(cls.DEFAULTS)}"
        )
    from_weights, stored = _detected_settings(state, detected, cls, preset, path, overrides)
    _check_variant(stored, preset, type_name, where)
    settings = {**stored, **overrides}
    _check_against_weights(settings, from_weights, where)
    if cls.__name__ in ("DiT", "Latte"):
        dit_pixart.check_condition(stored, {**cls.DEFAULTS, **settings}, where)
    if detected == "STDiT2" and "qk_norm_legacy" not in overrides:
        # A 1.1 hub config.json predates the field; only an explicit value may switch it off.
        folder = (read_folder_config(path) or {}) if path.is_dir() else {}
        settings["qk_norm_legacy"] = folder.get("qk_norm_legacy", True)

    with torch.device("meta"):
        model = cls(**settings)
    if "y_embedder.y_embedding" in state and cls.__name__ not in ("DiT", "Latte"):
        _fit_null_caption(state, model.config["model_max_length"])
    fixed_tables = hasattr(model, "reset_position_tables")
    if fixed_tables:  # recomputed for the configured size, as the reference's loaders do
        dit_pixart.drop_position_tables(state)
    if "rope.freqs" not in state and hasattr(model, "rope"):
        state["rope.freqs"] = type(model.rope)(model.hidden_size // model.num_heads).freqs.data
    expected = {
        key: value
        for key, value in model.state_dict().items()
        if key not in dit_pixart.POSITION_KEYS
    }
    _check_keys(state, expected, where)

    stored_dtype = state["x_embedder.proj.weight"].dtype
    target = resolve_dtype(dtype, default=stored_dtype)
    compute = torch.bfloat16 if is_fp8(target) else target
    per_key = storage_dtypes(model, target)
    state = {
        key: value.to(device=device, dtype=per_key.get(key, compute))
        if value.is_floating_point()
        else value.to(device)
        for key, value in state.items()
    }
    model.load_state_dict(state, strict=False, assign=True)
    if fixed_tables:
        model.reset_position_tables()
    if is_fp8(target):
        model.requires_grad_(False)  # fp8 storage is for inference
    return model.eval()
