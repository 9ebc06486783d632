"""Open-Sora's VAEs: the per-frame SD VAE (1.0/1.1) and the 1.2 spatial+temporal VAE.

`build_vae(config)` takes Open-Sora's config dicts; `sora_core.checkpoints.load_vae(path)`
loads any supported checkpoint. Both return a `VideoVAE` with `encode`, `decode`,
`get_latent_size`, `out_channels`, `family`, tiling options and `latent_format`.
"""

from ..hub import locate
from .base import VideoVAE
from .build import instantiate
from .config import parse_vae_config
from .latent_format import LatentFormat, fit_latent_format
from .pipeline import OpenSoraVAE
from .posterior import DiagonalGaussian, NoiseFn, cpu_noise, device_noise, generator_noise
from .spatial import VideoAutoencoderKL
from .temporal import TemporalVAE
from .tiling import Tiling

__all__ = [
    "DiagonalGaussian",
    "LatentFormat",
    "NoiseFn",
    "OpenSoraVAE",
    "TemporalVAE",
    "Tiling",
    "VideoAutoencoderKL",
    "VideoVAE",
    "build_vae",
    "cpu_noise",
    "device_noise",
    "fit_latent_format",
    "generator_noise",
]


def build_vae(config: dict) -> VideoVAE:
    """A VAE from an Open-Sora config dict, weights from `from_pretrained` when it is given.

    Without `from_pretrained` the weights are freshly initialised (for training or tests).
    """
    from ..checkpoints.vae import load_vae

    spec = parse_vae_config(config)
    if spec.from_pretrained is not None:
        return load_vae(locate(spec.from_pretrained, "vae.from_pretrained"), config)
    vae = instantiate(spec)
    spatial_source = spec.spatial.from_pretrained
    if spec.family == "v1.2" and spatial_source is not None:
        # As in the reference, the 2D VAE's own weights fill in when no whole-VAE file is given.
        spatial = load_vae(
            locate(spatial_source, "vae.vae_2d.from_pretrained"), {"type": "VideoAutoencoderKL"}
        )
        vae.spatial_vae.module.load_state_dict(spatial.module.state_dict())
    return vae
