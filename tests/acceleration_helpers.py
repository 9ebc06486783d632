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
