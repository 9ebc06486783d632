"""`load_vae`: any Open-Sora VAE checkpoint (1.2 release file or folder, SD VAE as a diffusers
folder, diffusers single file or original LDM single file) from any path.

The architecture is read from the weights' shapes; only GroupNorm group counts cannot be
seen there (the release value 32 is assumed, and a config may say otherwise).
"""

import os
from dataclasses import replace
from pathlib import Path

import torch

from ..dtypes import resolve_dtype
from ..errors import CheckpointError, ConfigError
from ..vae.base import VideoVAE
from ..vae.build import instantiate
from ..vae.config import HF_BOOKKEEPING_KEYS, VAESpec, parse_vae_config
from ..vae.opensora_vae import latent_statistic
from .files import read_folder_config, read_state_dict
from .transformer import store_weights

SPATIAL_PREFIX = "spatial_vae.module."
TEMPORAL_PREFIX = "temporal_vae."
# Prefixes a bare AutoencoderKL state dict may carry (VideoAutoencoderKL, LDM, wrappers).
AUTOENCODER_PREFIXES = ("", "module.", SPATIAL_PREFIX, "vae.", "first_stage_model.")
# Keys that identify checkpoints of other model families, for a helpful error.
OTHER_FAMILIES = {
    "x_embedder.proj.weight": "an Open-Sora transformer (STDiT); load it with load_transformer",
    "shared.weight": "a T5 text encoder; load it with load_text_encoder",
    "encoder.conv_in.conv.weight": "only Open-Sora 1.2's temporal VAE; load_vae needs the whole "
    "1.2 VAE file (keys spatial_vae.module.*, temporal_vae.*, scale, shift)",
}
NESTED_STATE_KEYS = ("state_dict", "model", "module", "ema")
# A 1.2 folder's config.json fields that configure the pipeline, and the fields of its parts
# that only say where the release fetched them from.
PIPELINE_FIELDS = ("micro_frame_size", "freeze_vae_2d", "cal_loss", "scale", "shift")
HUB_FIELDS = ("from_pretrained", "subfolder", "local_files_only", "cache_dir", "force_huggingface")


def _unwrap(state: dict) -> dict:
    for key in NESTED_STATE_KEYS:
        if isinstance(state.get(key), dict):
            return _unwrap(state[key])
    return state


def _with_prefix(state: dict, prefix: str) -> dict:
    return {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}


def _count(state: dict, pattern: str) -> int:
    count = 0
    while pattern.format(count) in state:
        count += 1
    return count


def infer_autoencoder(state: dict) -> dict:
    """Architecture fields of a diffusers `AutoencoderKL` read from its state dict's shapes."""
    stages = _count(state, "encoder.down_blocks.{}.resnets.0.conv2.weight")
    return {
        "in_channels": state["encoder.conv_in.weight"].shape[1],
        "out_channels": state["decoder.conv_out.weight"].shape[0],
        "latent_channels": state["decoder.conv_in.weight"].shape[1],
        "block_out_channels": [
            state[f"encoder.down_blocks.{i}.resnets.0.conv2.weight"].shape[0] for i in range(stages)
        ],
        "down_block_types": ["DownEncoderBlock2D"] * stages,
        "up_block_types": ["UpDecoderBlock2D"] * stages,
        "layers_per_block": _count(state, "encoder.down_blocks.0.resnets.{}.conv1.weight"),
        "use_quant_conv": "quant_conv.weight" in state,
        "use_post_quant_conv": "post_quant_conv.weight" in state,
        "mid_block_add_attention": any(
            k.startswith("encoder.mid_block.attentions.") for k in state
        ),
    }


def infer_temporal(state: dict) -> dict:
    """Architecture fields of `VAE_Temporal` read from its state dict's shapes."""
    filters, channels = state["encoder.conv_in.conv.weight"].shape[:2]
    stages = _count(state, "encoder.block_res_blocks.{}.0.conv1.conv.weight")
    return {
        "in_out_channels": channels,
        "filters": filters,
        "channel_multipliers": tuple(
            state[f"encoder.block_res_blocks.{i}.0.conv1.conv.weight"].shape[0] // filters
            for i in range(stages)
        ),
        "num_res_blocks": _count(state, "encoder.block_res_blocks.0.{}.conv1.conv.weight"),
        "temporal_downsample": tuple(
            f"encoder.conv_blocks.{i}.conv.weight" in state for i in range(stages - 1)
        ),
        "latent_embed_dim": state["decoder.conv1.conv.weight"].shape[1],
        "embed_dim": state["post_quant_conv.conv.weight"].shape[1],
    }


def _is_ldm_layout(state: dict) -> bool:
    return "encoder.down.0.block.0.conv1.weight" in state


def _autoencoder_weights(state: dict) -> "dict | None":
    # The bare AutoencoderKL weights (diffusers names), whatever wrapper or layout held them.
    for prefix in AUTOENCODER_PREFIXES:
        inner = _with_prefix(state, prefix) if prefix else state
        if "encoder.conv_in.weight" in inner and "decoder.conv_out.weight" in inner:
            if _is_ldm_layout(inner):
                return _ldm_to_diffusers(inner)
            return inner
    return None


def _ldm_to_diffusers(state: dict) -> dict:
    # Original Stable Diffusion layout (ComfyUI's models/vae): diffusers knows the renaming.
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    stages = _count(state, "encoder.down.{}.block.0.conv1.weight")
    return convert_ldm_vae_checkpoint(
        state, {"down_block_types": [None] * stages, "up_block_types": [None] * stages}
    )


def _not_a_vae(path: Path, state: dict) -> CheckpointError:
    for key, family in OTHER_FAMILIES.items():
        if any(k == key or k.endswith("." + key) for k in state):
            return CheckpointError(f"{str(path)!r} holds {family}, not a VAE")
    sample = sorted(state)[:5]
    return CheckpointError(
        f"{str(path)!r} is not an Open-Sora or SD VAE checkpoint: expected keys like "
        f"'{SPATIAL_PREFIX}encoder.conv_in.weight' + '{TEMPORAL_PREFIX}encoder.conv_in.conv.weight'"
        f" (1.2) or 'encoder.conv_in.weight' (SD AutoencoderKL); found e.g. {sample}"
    )


def _folder_spec(path: Path) -> "dict | None":
    # A Hugging Face folder's config.json in Open-Sora's config grammar: the release writes
    # its parts (vae_2d, vae_temporal) and latent statistics (scale, shift) there.
    config = read_folder_config(path) if path.is_dir() else None
    if not config or config.get("model_type") != "VideoAutoencoderPipeline":
        return None
    fields = {k: v for k, v in config.items() if k not in HF_BOOKKEEPING_KEYS}
    spec = {
        "type": "VideoAutoencoderPipeline",
        **{k: fields[k] for k in PIPELINE_FIELDS if fields.get(k) is not None},
    }
    for part in ("vae_2d", "vae_temporal"):
        # Hub ids name where the release's parts came from; the weights come from this folder.
        spec[part] = {
            k: v
            for k, v in (fields.get(part) or {}).items()
            if k not in HUB_FIELDS and v is not None
        }
    # A config.json without its parts means the release's (OpenSoraVAE_V1_2's) parts.
    spec["vae_2d"] = {"type": "VideoAutoencoderKL", "micro_batch_size": 4, **spec["vae_2d"]}
    spec["vae_temporal"] = {"type": "VAE_Temporal_SD", **spec["vae_temporal"]}
    return spec


def _weights_location(path: Path) -> Path:
    # A diffusers pipeline folder keeps its VAE in `vae/`.
    if path.is_dir() and not any(path.glob("*.safetensors")) and not any(path.glob("*.bin")):
        if (path / "vae").is_dir():
            return path / "vae"
    return path


def _check_family(spec: VAESpec, found: str, path: Path) -> None:
    if spec.family != found:
        names = {
            "sd": "a per-frame SD VAE (VideoAutoencoderKL)",
            "v1.2": "an Open-Sora 1.2 VAE (OpenSoraVAE_V1_2)",
        }
        raise CheckpointError(
            f"{str(path)!r} holds {names[found]}, but the config asks for {names[spec.family]}"
        )


def with_stored_architecture(spec: VAESpec) -> VAESpec:
    """`spec` with the config.json of a local 2D VAE folder as its architecture, unless the
    config names one itself."""
    source = spec.spatial.from_pretrained
    if spec.spatial.autoencoder is not None or not source or not Path(source).is_dir():
        return spec
    spatial = replace(spec.spatial, autoencoder=read_folder_config(source))
    return replace(spec, spatial=spatial)


def _build(spec: VAESpec, autoencoder: dict, temporal: "dict | None", path: Path) -> VideoVAE:
    try:
        with torch.device("meta"):
            return instantiate(with_stored_architecture(spec), autoencoder, temporal)
    except ConfigError as error:
        raise CheckpointError(
            f"{str(path)!r}: cannot build the VAE its weights describe: {error}. Group counts "
            f"are not stored in weights; pass them in a config: {_group_count_config(spec)}, "
            "with N and M the GroupNorm group counts of the spatial and temporal VAE"
        ) from error


def _group_count_config(spec: VAESpec) -> str:
    # Written so that, with N and M filled in, the suggestion loads as it stands.
    if spec.family == "sd":
        return "{'type': 'VideoAutoencoderKL', 'autoencoder': {'norm_num_groups': N}}"
    return (
        "{'type': 'VideoAutoencoderPipeline', "
        f"'micro_frame_size': {spec.micro_frame_size!r}, "
        "'vae_2d': {'type': 'VideoAutoencoderKL', 'autoencoder': {'norm_num_groups': N}}, "
        "'vae_temporal': {'type': 'VAE_Temporal_SD', 'num_groups': M}}"
    )


def _with_file_statistics(spec: VAESpec, state: dict) -> VAESpec:
    # The latent scale/shift a file holds are the ones it was trained with (per channel in the
    # release); build the buffers in that shape whatever the config's defaults say.
    found = {k: state[k].flatten().tolist() for k in ("scale", "shift") if k in state}
    return replace(spec, **found)


def _assign(vae: VideoVAE, state: dict, path: Path) -> None:
    expected = vae.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [
        f"{k}: {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or wrong:
        raise CheckpointError(
            f"{str(path)!r} does not fit the VAE it was read as: {len(missing)} missing keys "
            f"{missing[:5]}, {len(unexpected)} unexpected keys {unexpected[:5]}, "
            f"{len(wrong)} shape mismatches (file vs model) {wrong[:5]}"
        )
    vae.load_state_dict(state, strict=True, assign=True)


def load_vae(
    path: "str | os.PathLike",
    config: "dict | None" = None,
    dtype: "str | torch.dtype | None" = None,
    device: str = "cpu",
) -> VideoVAE:
    """Load a VAE checkpoint (file or folder) as a ready-to-use model in eval mode.

    `config` is an Open-Sora VAE config dict (`{"type": "OpenSoraVAE_V1_2", ...}`); its
    `from_pretrained` is ignored (the weights come from `path`). Without it, the family and
    architecture are read from the file. `dtype` (default: the file's) may be fp8: the
    convolution and linear weights stay in 8 bits and the VAE computes in bf16.
    """
    if config is not None:
        parse_vae_config(config)  # a bad config fails before any file is read
    path = Path(path).expanduser()
    location = _weights_location(path)
    state = _unwrap(read_state_dict(location))
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{str(path)!r} does not hold a flat dict of tensors")
    spec_config = config or _folder_spec(location)
    is_v12 = any(k.startswith(TEMPORAL_PREFIX) for k in state)
    autoencoder_state = _autoencoder_weights(state)
    if autoencoder_state is None:
        raise _not_a_vae(path, state)
    if is_v12:
        spec = parse_vae_config(spec_config or {"type": "OpenSoraVAE_V1_2"})
        _check_family(spec, "v1.2", path)
        spec = _with_file_statistics(spec, state)
        temporal_state = _with_prefix(state, TEMPORAL_PREFIX)
        vae = _build(
            spec, infer_autoencoder(autoencoder_state), infer_temporal(temporal_state), path
        )
        weights = {
            **{SPATIAL_PREFIX + k: v for k, v in autoencoder_state.items()},
            **{TEMPORAL_PREFIX + k: v for k, v in temporal_state.items()},
        }
        # A folder whose weights lack the statistics takes them from its config.json.
        for name in ("scale", "shift"):
            weights[name] = state.get(
                name, latent_statistic(getattr(spec, name), vae.out_channels, name)
            )
    else:
        spec = parse_vae_config(spec_config or {"type": "VideoAutoencoderKL"})
        _check_family(spec, "sd", path)
        folder_config = read_folder_config(location) if location.is_dir() else None
        inferred = {
            **infer_autoencoder(autoencoder_state),
            **{k: v for k, v in (folder_config or {}).items() if not k.startswith("_")},
        }
        vae = _build(spec, inferred, None, path)
        weights = {"module." + k: v for k, v in autoencoder_state.items()}
    _assign(vae, weights, path)
    target = resolve_dtype(dtype, default=next(iter(weights.values())).dtype)
    store_weights(vae, target)  # fp8: conv and linear weights in 8 bits, computed in bf16
    return vae.to(device).eval()
