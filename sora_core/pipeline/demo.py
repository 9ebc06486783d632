"""Tiny randomly initialised models for `opensora-generate --demo`: the whole pipeline on any
CPU in seconds, with no download. The videos are noise-like: the weights are random.

The transformer and VAE are Open-Sora 1.2's architectures at toy widths, described by the
same config dicts a real run uses; the text encoder is a 2-layer T5 with a character-level
tokenizer built on the spot (the real T5 tokenizer ships with the T5 weights).
"""

import string

import torch
from transformers import T5EncoderModel

from ..demo.text_encoder import t5_config
from ..samplers import build_scheduler
from ..text import T5PromptTokenizer, T5TextEncoder
from ..text.tokenizer import WORD_BOUNDARY
from .generate import GenerationModels
from .placement import Placement

CAPTION_CHANNELS = 32
CAPTION_TOKENS = 300
DEMO_PROMPT = "A red fox trots through fresh snow in a quiet pine forest at dawn."
RANDOM_WEIGHTS_NOTICE = (
    "DEMO MODE: the transformer, VAE and text encoder are tiny and RANDOMLY INITIALISED. "
    "The video shows the pipeline working, not a picture of the prompt. For real videos, "
    "download Open-Sora 1.2's weights and run without --demo."
)

DEMO_CONFIG: dict = {
    "resolution": "144p",
    "aspect_ratio": "9:16",
    "num_frames": 51,
    "fps": 24,
    "frame_interval": 1,
    "save_dir": "./samples",
    "seed": 42,
    "batch_size": 1,
    "multi_resolution": "STDiT2",
    "dtype": "fp32",
    "device": "cpu",
    "condition_frame_length": 5,
    "align": 5,
    "model": {
        "type": "STDiT3",
        "depth": 2,
        "hidden_size": 64,
        "num_heads": 4,
        "caption_channels": CAPTION_CHANNELS,
        "model_max_length": CAPTION_TOKENS,
    },
    "vae": {
        "type": "VideoAutoencoderPipeline",
        "vae_2d": {
            "type": "VideoAutoencoderKL",
            "micro_batch_size": 4,
            "autoencoder": {
                "block_out_channels": [8, 8, 16, 16],
                "down_block_types": ["DownEncoderBlock2D"] * 4,
                "up_block_types": ["UpDecoderBlock2D"] * 4,
                "layers_per_block": 1,
                "norm_num_groups": 4,
                "latent_channels": 4,
            },
        },
        "vae_temporal": {
            "type": "VAE_Temporal",
            "filters": 4,
            "num_res_blocks": 1,
            "channel_multipliers": [1, 2, 2, 4],
            "temporal_downsample": [False, True, True],
            "num_groups": 2,
        },
        "micro_frame_size": 17,
    },
    "text_encoder": {"type": "t5", "model_max_length": CAPTION_TOKENS},
    "scheduler": {
        "type": "rflow",
        "use_timestep_transform": True,
        "num_sampling_steps": 10,
        "cfg_scale": 7.0,
    },
    "aes": 6.5,
}


def demo_tokenizer() -> T5PromptTokenizer:
    """A character-level SentencePiece-style tokenizer: every word splits into letters."""
    characters = string.ascii_lowercase + string.digits + string.punctuation
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), (WORD_BOUNDARY, -2.0)]
    vocab += [(character, -3.0) for character in characters]
    vocab += [(WORD_BOUNDARY + character, -4.0) for character in characters]
    special = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    return T5PromptTokenizer(vocab, 2, special, b"", "demo character tokenizer")


def demo_text_encoder(device: "str | torch.device" = "cpu", seed: int = 0) -> T5TextEncoder:
    """A 2-layer, 32-wide T5 encoder with random weights and the demo tokenizer."""
    tokenizer = demo_tokenizer()
    config = t5_config(tokenizer.vocab_size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = T5EncoderModel(config).eval().requires_grad_(False)
    return T5TextEncoder(model, tokenizer, model_max_length=CAPTION_TOKENS, device=device)


def demo_models(config: dict, placement: Placement, seed: int = 0) -> GenerationModels:
    """The demo's transformer, VAE (from the config's tiny dicts) and T5, seeded at random."""
    from ..checkpoints import build_model, build_vae

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        transformer = build_model(config["model"]).eval().requires_grad_(False)
        vae = build_vae(config["vae"]).eval().requires_grad_(False)
    transformer.to(placement.offload_device, placement.dtype)
    vae.to(placement.offload_device, placement.dtype)
    text_encoder = demo_text_encoder(placement.device, seed)
    sampler = build_scheduler(config["scheduler"], release="1.2")
    return GenerationModels(transformer, vae, text_encoder, sampler, placement)
