"""Tiny random VAEs and recorded-noise replay shared by the VAE tests."""

import torch

from sora_core.checkpoints import build_vae

TINY_AUTOENCODER = {
    "block_out_channels": [8, 8, 16, 16],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "layers_per_block": 1,
    "norm_num_groups": 4,
    "latent_channels": 4,
}
TINY_TEMPORAL = {
    "type": "VAE_Temporal",
    "filters": 4,
    "num_res_blocks": 1,
    "channel_multipliers": [1, 2, 2, 4],
    "temporal_downsample": [False, True, True],
    "num_groups": 2,
}


def tiny_sd_config(**options) -> dict:
    """A VideoAutoencoderKL config with a tiny architecture."""
    return {"type": "VideoAutoencoderKL", "autoencoder": dict(TINY_AUTOENCODER), **options}


def tiny_v12_config(micro_batch_size: int = 4, **options) -> dict:
    """A VideoAutoencoderPipeline config shaped like the release, at tiny widths."""
    return {
        "type": "VideoAutoencoderPipeline",
        "vae_2d": {
            "type": "VideoAutoencoderKL",
            "micro_batch_size": micro_batch_size,
            "autoencoder": dict(TINY_AUTOENCODER),
        },
        "vae_temporal": dict(TINY_TEMPORAL),
        "micro_frame_size": 17,
        "shift": [-0.1, 0.34, 0.27, 0.98],
        "scale": [3.85, 2.32, 2.33, 3.06],
        **options,
    }


def randomize(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Replace every weight by seeded noise with non-trivial norms and biases."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator)
            if parameter.ndim > 1:
                parameter.copy_(noise / parameter[0].numel() ** 0.5)
            elif name.endswith("weight"):
                parameter.copy_(1 + 0.1 * noise)
            else:
                parameter.copy_(0.05 * noise)
    return model


def tiny_vae(config: dict, seed: int = 0):
    """A built tiny VAE with seeded random weights."""
    return randomize(build_vae(config), seed)


def replay(noises: list[torch.Tensor]):
    """A NoiseFn returning recorded draws in order, checking each requested shape."""
    queue = list(noises)

    def draw(shape, device, dtype):
        assert queue, f"an extra noise draw of shape {shape} that the reference did not make"
        noise = queue.pop(0)
        assert tuple(noise.shape) == tuple(shape), f"draw shape {shape} vs recorded {noise.shape}"
        return noise.to(device=device, dtype=dtype)

    draw.remaining = queue
    return draw


def video(shape, seed: int = 0) -> torch.Tensor:
    """A random video in [-1, 1]."""
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1
