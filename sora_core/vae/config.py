"""Open-Sora's VAE config dicts (`{"type": "OpenSoraVAE_V1_2", ...}`) read into plain specs.

Keys keep the reference's names. Keys that only steer hub downloads (`cache_dir`,
`local_files_only`, `force_huggingface`) are accepted and have no effect: nothing is ever
downloaded. Our own additions: `autoencoder` (a diffusers `AutoencoderKL` config dict, in
place of a hub download) and `tile_size` (`tile_overlap`, from the former blended tiling,
is accepted and ignored so that older configs load).
"""

from dataclasses import dataclass, field

from ..errors import ConfigError
from .opensora_vae import V12_SCALE, V12_SHIFT
from .spatial import KNOWN_AUTOENCODERS, SCALING_FACTOR
from .temporal import TEMPORAL_CLASS_DEFAULTS, TEMPORAL_SD_CONFIG

V12_DEFAULT_SPATIAL = "PixArt-alpha/pixart_sigma_sdxlvae_T5_diffusers"
SD_DEFAULT_SPATIAL = "stabilityai/sd-vae-ft-ema"

_TILING_KEYS = {"tile_size", "tile_overlap"}
_HUB_KEYS = {"cache_dir", "local_files_only", "force_huggingface"}
KNOWN_KEYS = {
    "OpenSoraVAE_V1_2": {
        "micro_batch_size",
        "micro_frame_size",
        "from_pretrained",
        "freeze_vae_2d",
        "cal_loss",
    }
    | _HUB_KEYS
    | _TILING_KEYS,
    "VideoAutoencoderPipeline": {
        "vae_2d",
        "vae_temporal",
        "from_pretrained",
        "freeze_vae_2d",
        "cal_loss",
        "micro_frame_size",
        "shift",
        "scale",
    }
    | _HUB_KEYS
    | _TILING_KEYS,
    "VideoAutoencoderKL": {
        "from_pretrained",
        "micro_batch_size",
        "subfolder",
        "scaling_factor",
        "autoencoder",
    }
    | _HUB_KEYS
    | _TILING_KEYS,
}
TEMPORAL_KNOWN_KEYS = {
    "VAE_Temporal": {"from_pretrained"} | set(TEMPORAL_CLASS_DEFAULTS),
    "VAE_Temporal_SD": {"from_pretrained"} | set(TEMPORAL_SD_CONFIG),
}
# What a Hugging Face `config.json` adds around the model's own fields.
HF_BOOKKEEPING_KEYS = {
    "architectures",
    "model_type",
    "torch_dtype",
    "transformers_version",
    "_name_or_path",
    "_commit_hash",
}


@dataclass
class SpatialSpec:
    """How to build the per-frame VAE: architecture (None: from weights/defaults) and options."""

    autoencoder: "dict | None" = None
    default_autoencoder: str = SD_DEFAULT_SPATIAL
    micro_batch_size: "int | None" = None
    scaling_factor: float = SCALING_FACTOR
    from_pretrained: "str | None" = None


@dataclass
class VAESpec:
    """A parsed VAE config: the family ("sd" or "v1.2") and everything needed to build it."""

    family: str
    spatial: SpatialSpec
    temporal: dict = field(default_factory=dict)  # explicit VAE_Temporal kwargs
    temporal_defaults: dict = field(default_factory=lambda: dict(TEMPORAL_SD_CONFIG))
    micro_frame_size: "int | None" = 17
    shift: object = V12_SHIFT
    scale: object = V12_SCALE
    freeze_vae_2d: bool = False
    from_pretrained: "str | None" = None
    tile_size: "int | None" = None


def _check_keys(config: dict, known: set, kind: str) -> None:
    unknown = sorted(set(config) - known - {"type"})
    if unknown:
        raise ConfigError(
            f"{kind} config: unknown keys {unknown}; accepted keys are {sorted(known)}"
        )


def _type_of(config: dict, accepted) -> str:
    if not isinstance(config, dict):
        raise ConfigError(f"VAE config: {config!r} is not a dict")
    kind = config.get("type")
    if kind not in accepted:
        raise ConfigError(f"VAE config type: {kind!r}; expected one of {sorted(accepted)}")
    return kind


def _positive_or_none(config: dict, key: str, default) -> "int | None":
    value = config.get(key, default)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"{key}: {value!r}; expected a positive integer or None")
    return value


def _reject_cal_loss(config: dict) -> None:
    if config.get("cal_loss"):
        raise ConfigError(
            "cal_loss: True returns VAE training outputs, which this package does "
            "not train; use cal_loss=False (encode/decode for diffusion)"
        )


def _spatial_spec(config: dict, default_autoencoder: str) -> SpatialSpec:
    _type_of(config, {"VideoAutoencoderKL"})
    _check_keys(config, KNOWN_KEYS["VideoAutoencoderKL"], "VideoAutoencoderKL")
    source = config.get("from_pretrained")
    if source in KNOWN_AUTOENCODERS:
        default_autoencoder, source = source, None
    return SpatialSpec(
        autoencoder=config.get("autoencoder"),
        default_autoencoder=default_autoencoder,
        micro_batch_size=_positive_or_none(config, "micro_batch_size", None),
        scaling_factor=config.get("scaling_factor", SCALING_FACTOR),
        from_pretrained=_join_subfolder(source, config.get("subfolder")),
    )


def _join_subfolder(source: "str | None", subfolder: "str | None") -> "str | None":
    if source is None or not subfolder:
        return source
    return f"{source.rstrip('/')}/{subfolder}"


def _temporal_parts(config: dict) -> tuple[dict, dict]:
    kind = _type_of(config, TEMPORAL_KNOWN_KEYS)
    _check_keys(config, TEMPORAL_KNOWN_KEYS[kind], kind)
    if config.get("from_pretrained") is not None:
        raise ConfigError(
            f"vae_temporal.from_pretrained: {config['from_pretrained']!r}; the temporal VAE "
            "loads with the whole 1.2 VAE file (top-level from_pretrained)"
        )
    explicit = {k: v for k, v in config.items() if k not in ("type", "from_pretrained")}
    defaults = TEMPORAL_SD_CONFIG if kind == "VAE_Temporal_SD" else TEMPORAL_CLASS_DEFAULTS
    if kind == "VAE_Temporal":
        # The plain class's arguments describe the architecture completely.
        explicit = {**defaults, **explicit}
    return explicit, dict(defaults)


def parse_vae_config(config: dict) -> VAESpec:
    """Read an Open-Sora VAE config dict; unknown keys and types raise `ConfigError`."""
    kind = _type_of(config, KNOWN_KEYS)
    _check_keys(config, KNOWN_KEYS[kind], kind)
    # `tile_overlap` (from blended tiling) is still accepted so older configs load; exact
    # tiles need none.
    tiling = {"tile_size": config.get("tile_size")}
    if kind == "VideoAutoencoderKL":
        spatial = _spatial_spec(config, SD_DEFAULT_SPATIAL)
        return VAESpec(
            family="sd", spatial=spatial, from_pretrained=spatial.from_pretrained, **tiling
        )
    _reject_cal_loss(config)
    common = dict(
        micro_frame_size=_positive_or_none(config, "micro_frame_size", 17),
        freeze_vae_2d=bool(config.get("freeze_vae_2d", False)),
        from_pretrained=config.get("from_pretrained"),
        **tiling,
    )
    if kind == "OpenSoraVAE_V1_2":
        spatial = SpatialSpec(
            default_autoencoder=V12_DEFAULT_SPATIAL,
            micro_batch_size=_positive_or_none(config, "micro_batch_size", 4),
        )
        return VAESpec(family="v1.2", spatial=spatial, **common)
    if "vae_2d" not in config or "vae_temporal" not in config:
        raise ConfigError(
            "VideoAutoencoderPipeline config: needs both 'vae_2d' "
            "(VideoAutoencoderKL) and 'vae_temporal' (VAE_Temporal[_SD]) dicts"
        )
    temporal, temporal_defaults = _temporal_parts(config["vae_temporal"])
    return VAESpec(
        family="v1.2",
        spatial=_spatial_spec(config["vae_2d"], V12_DEFAULT_SPATIAL),
        temporal=temporal,
        temporal_defaults=temporal_defaults,
        shift=config.get("shift", 0.0),
        scale=config.get("scale", 1.0),
        **{**common, "micro_frame_size": _positive_or_none(config, "micro_frame_size", None)},
    )
