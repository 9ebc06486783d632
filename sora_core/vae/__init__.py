"""Open-Sora's VAEs: the per-frame SD VAE (1.0/1.1) and the 1.2 spatial+temporal VAE.

`instantiate(parse_vae_config(config))` builds one with fresh weights;
`sora_core.checkpoints` builds them from Open-Sora's config dicts (`build_vae`) and loads any
supported checkpoint (`load_vae`). All return a `VideoVAE` with `encode`, `decode`,
`get_latent_size`, `out_channels`, `family`, tiling options and `latent_format`.
"""

from .base import VideoVAE
from .build import instantiate
from .config import parse_vae_config
from .latent_format import LatentFormat, fit_latent_format
from .opensora_vae import OpenSoraVAE
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
    "cpu_noise",
    "device_noise",
    "fit_latent_format",
    "generator_noise",
    "instantiate",
    "parse_vae_config",
]
