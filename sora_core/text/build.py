"""`build_text_encoder` from an Open-Sora `text_encoder` config dict.

Open-Sora's configs name the model by hub id (`"DeepFloyd/t5-v1_1-xxl"`, 1.1 / 1.2) or by a
folder holding `t5-v1_1-xxl/` (1.0, `"./pretrained_models/t5_ckpts"`). Nothing is ever
downloaded: a hub id is looked up in the local Hugging Face cache, and any key may be
replaced by a local path (`"from_pretrained": "/models/text_encoders/t5xxl_fp16.safetensors"`).
"""

from pathlib import Path

from ..errors import ConfigError
from ..hub import locate
from .classes import ClassEncoder

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
        from .clip import load_clip_text_encoder

        return load_clip_text_encoder(
            path,
            model_max_length=config.get("model_max_length", 77),
            dtype=config.get("dtype"),
            device=config.get("device", "cpu"),
        )
    from ..checkpoints.text import load_text_encoder

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
