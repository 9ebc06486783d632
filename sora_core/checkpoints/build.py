"""Models from Open-Sora's `model`, `vae` and `text_encoder` config dicts, as the reference's
`build_module` makes them: weights from `from_pretrained` when it is set, fresh otherwise.

Open-Sora's configs name the model by hub id (`"DeepFloyd/t5-v1_1-xxl"`, 1.1 / 1.2) or by a
folder holding `t5-v1_1-xxl/` (1.0, `"./pretrained_models/t5_ckpts"`). Nothing is ever
downloaded: a hub id is looked up in the local Hugging Face cache, and any key may be
replaced by a local path (`"from_pretrained": "/models/text_encoders/t5xxl_fp16.safetensors"`).
"""

from pathlib import Path

import torch

from ..errors import ConfigError
from ..hub import locate
from ..models import FACTORIES, MODEL_CLASSES, model_class
from ..text.classes import ClassEncoder
from ..vae.base import VideoVAE
from ..vae.build import instantiate
from ..vae.config import parse_vae_config
from .transformer import load_transformer
from .vae import load_vae, with_stored_architecture

_COMMON_KEYS = {"type", "from_pretrained", "model_max_length", "device", "dtype"}
_ALLOWED_KEYS = {
    "t5": _COMMON_KEYS
    | {
        "cache_dir",
        "local_files_only",
        "shardformer",
        "tokenizer",
        "compute_dtype",
        "offload_device",
        "keep_on_device",
        "cache_size",
    },
    "clip": _COMMON_KEYS,
    "classes": {"type", "num_classes", "model_max_length", "device", "dtype"},
}
# Open-Sora 1.0 names a folder that holds the model under this name.
T5_FOLDER_NAME = "t5-v1_1-xxl"


def resolve_pretrained(name: str, cache_dir: "str | None" = None) -> Path:
    """A local path for `from_pretrained`: the path itself, its `t5-v1_1-xxl/`, or the hub cache."""
    path = Path(str(name)).expanduser()
    if (path / T5_FOLDER_NAME).is_dir():
        return path / T5_FOLDER_NAME
    if path.exists():
        return path
    return locate(name, "text_encoder.from_pretrained", cache_dir)


def build_text_encoder(config: dict):
    """The text encoder an Open-Sora `text_encoder` config describes (t5, clip or classes)."""
    config = dict(config)
    kind = config.get("type")
    if kind not in _ALLOWED_KEYS:
        raise ConfigError(
            f"text_encoder.type: unknown value {kind!r}; expected one of t5, clip, classes"
        )
    unknown = sorted(set(config) - _ALLOWED_KEYS[kind])
    if unknown:
        raise ConfigError(
            f"text_encoder ({kind}): unknown key(s) {unknown}; accepted: {sorted(_ALLOWED_KEYS[kind])}"
        )
    if kind == "classes":
        if "num_classes" not in config:
            raise ConfigError("text_encoder (classes): num_classes is required")
        return ClassEncoder(
            config["num_classes"], config.get("model_max_length"), config.get("device", "cpu")
        )
    if not config.get("from_pretrained"):
        raise ConfigError(f"text_encoder ({kind}): from_pretrained is required")
    path = resolve_pretrained(config["from_pretrained"], config.get("cache_dir"))
    if kind == "clip":
        from .clip import load_clip_text_encoder  # imports transformers' CLIP only when asked

        return load_clip_text_encoder(
            path,
            model_max_length=config.get("model_max_length", 77),
            dtype=config.get("dtype"),
            device=config.get("device", "cpu"),
        )
    from .text import load_text_encoder

    # shardformer (colossalai's fused kernels for training) computes the same function;
    # local_files_only is always true here.
    return load_text_encoder(
        path,
        tokenizer=config.get("tokenizer"),
        dtype=config.get("dtype"),
        device=config.get("device", "cpu"),
        model_max_length=config.get("model_max_length", 120),
        compute_dtype=config.get("compute_dtype"),
        offload_device=config.get("offload_device", "cpu"),
        keep_on_device=config.get("keep_on_device", False),
        cache_size=config.get("cache_size", 32),
    )


def build_model(config: dict) -> torch.nn.Module:
    """A transformer from an Open-Sora model config dict, e.g.
    `{"type": "STDiT3-XL/2", "qk_norm": True, "from_pretrained": "..."}`, or a bare class name
    (`"STDiT"`, `"PixArtMS"`, ...) with the reference's constructor arguments.

    Extra keys beside the constructor arguments: `type` (required), `from_pretrained` (a
    checkpoint path, loaded by `load_transformer`) and `grad_checkpoint`.
    """
    config = dict(config)
    if "type" not in config:
        raise ConfigError(
            f"type: missing; expected one of {sorted(FACTORIES) + sorted(MODEL_CLASSES)}"
        )
    type_name = config.pop("type")
    cls, preset = model_class(type_name)
    from_pretrained = config.pop("from_pretrained", None)
    grad_checkpoint = bool(config.pop("grad_checkpoint", False))
    if from_pretrained is not None:
        # The file decides the sizes; the type's presets would only contradict it.
        model = load_transformer(from_pretrained, config={"type": type_name, **config})
    else:
        model = cls(**{**preset, **config})
    return model.enable_gradient_checkpointing(grad_checkpoint)


def build_vae(config: dict) -> VideoVAE:
    """A VAE from an Open-Sora config dict, weights from `from_pretrained` when it is given.

    Without `from_pretrained` the weights are freshly initialised (for training or tests).
    """
    spec = parse_vae_config(config)
    if spec.from_pretrained is not None:
        return load_vae(locate(spec.from_pretrained, "vae.from_pretrained"), config)
    vae = instantiate(with_stored_architecture(spec))
    spatial_source = spec.spatial.from_pretrained
    if spec.family == "v1.2" and spatial_source is not None:
        # As in the reference, the 2D VAE's own weights fill in when no whole-VAE file is given.
        spatial = load_vae(
            locate(spatial_source, "vae.vae_2d.from_pretrained"), {"type": "VideoAutoencoderKL"}
        )
        vae.spatial_vae.module.load_state_dict(spatial.module.state_dict())
    return vae
