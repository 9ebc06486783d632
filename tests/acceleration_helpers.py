"""Tiny random transformers of the three STDiT versions for the acceleration tests."""

import torch

from sora_core.checkpoints import build_model

CAPTION = {"caption_channels": 16, "model_max_length": 8}
LATENT_THW = (5, 8, 8)


def tiny_transformer(name: str = "STDiT3", depth: int = 2) -> torch.nn.Module:
    """STDiT / STDiT2 / STDiT3, 48 wide, seeded, for latents of `LATENT_THW`."""
    config = {"type": name, "depth": depth, "hidden_size": 48, "num_heads": 2, **CAPTION}
    if name == "STDiT":
        config["input_size"] = LATENT_THW
    torch.manual_seed(0)
    return build_model(config).eval()


def one_thread():
    """Pytest fixture body: toy tensors on a busy machine run 50x faster on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def forward_inputs(x_mask: bool = True, latent_thw=LATENT_THW) -> dict:
    """Keyword arguments of one forward of `tiny_transformer` (any version): a batch of 2
    with different timesteps and caption lengths, the first frame conditioning if `x_mask`."""
    g = torch.Generator().manual_seed(1)
    frames = latent_thw[0]
    return {
        "x": torch.randn(2, 4, *latent_thw, generator=g),
        "timestep": torch.tensor([700.0, 300.0]),
        "y": torch.randn(2, 1, 8, 16, generator=g),
        "mask": torch.tensor([[1] * 8, [1] * 5 + [0] * 3]),
        "x_mask": torch.tensor([[False] + [True] * (frames - 1)] * 2) if x_mask else None,
        "height": torch.tensor([64.0]),
        "width": torch.tensor([64.0]),
        "num_frames": torch.tensor([17.0]),
        "ar": torch.tensor([1.0]),
        "fps": torch.tensor([24.0]),
    }
