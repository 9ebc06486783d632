"""Turning a parsed VAE spec (plus what the weights say) into a model."""

from .base import VideoVAE
from .config import SpatialSpec, VAESpec
from .pipeline import OpenSoraVAE
from .spatial import KNOWN_AUTOENCODERS, VideoAutoencoderKL
from .temporal import TemporalVAE


def autoencoder_config(spec: SpatialSpec, inferred: "dict | None" = None) -> dict:
    """The spatial architecture: the named default, then what the weights show, then the
    config's explicit `autoencoder` dict (`sora_core.checkpoints` fills it from the config.json
    of a local `from_pretrained` folder)."""
    explicit = spec.autoencoder
    return {**KNOWN_AUTOENCODERS[spec.default_autoencoder], **(inferred or {}), **(explicit or {})}


def temporal_config(spec: VAESpec, inferred: "dict | None" = None) -> dict:
    """The temporal architecture: defaults, then the weights, then the config's explicit kwargs."""
    return {**spec.temporal_defaults, **(inferred or {}), **spec.temporal}


def instantiate(
    spec: VAESpec,
    inferred_autoencoder: "dict | None" = None,
    inferred_temporal: "dict | None" = None,
) -> VideoVAE:
    """A VAE with freshly initialised weights and the spec's options (tiling, freezing)."""
    spatial = VideoAutoencoderKL(
        autoencoder_config(spec.spatial, inferred_autoencoder),
        spec.spatial.micro_batch_size,
        spec.spatial.scaling_factor,
    )
    if spec.family == "sd":
        vae = spatial
    else:
        temporal = TemporalVAE(**temporal_config(spec, inferred_temporal))
        vae = OpenSoraVAE(spatial, temporal, spec.micro_frame_size, spec.shift, spec.scale)
        if spec.freeze_vae_2d:
            spatial.requires_grad_(False)
    vae.set_tiling(spec.tile_size)
    return vae.eval()
