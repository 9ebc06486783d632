"""A ComfyUI-style models folder holding tiny Open-Sora models that work together.

The tiny STDiT3 and T5 (+ sentencepiece tokenizer) are the fixture set's random
release-format checkpoints (`SORA_FIXTURES_DIR`); the 1.2 VAE is built here with random
weights at widths whose group norms need no config (32 groups), saved as one file with the
release's keys. All are laid out where the pack's loaders look: `opensora/`, `vae/`,
`text_encoders/`. Used by the node tests and by the real-ComfyUI run:

    python tests/tiny_models.py /tmp/models   # then comfy_e2e.py --models-dir /tmp/models
"""

import argparse
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file

from golden import fixtures_dir

TRANSFORMER = "tiny_stdit3.safetensors"
VAE = "tiny_vae_v12.safetensors"
TEXT_ENCODER = "tiny_t5/"
# (fixture path, place in the models folder)
FILES = (
    ("checkpoints/stdit3_single.safetensors", "opensora/" + TRANSFORMER),
    ("text/tiny_t5", "text_encoders/" + TEXT_ENCODER.rstrip("/")),
)


def write_models_dir(target: "str | Path") -> Path:
    """Copy the tiny models into `target` (a ComfyUI `models/` layout) and return it."""
    target = Path(target)
    for source, place in FILES:
        origin, destination = fixtures_dir() / source, target / place
        destination.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_dir():
            shutil.copytree(origin, destination, dirs_exist_ok=True)
        else:
            shutil.copyfile(origin, destination)
    write_tiny_vae(target / "vae" / VAE)
    return target


TINY_VAE_CONFIG = {
    "type": "VideoAutoencoderPipeline",
    "vae_2d": {
        "type": "VideoAutoencoderKL",
        "micro_batch_size": 4,
        "autoencoder": {
            "block_out_channels": [32, 32, 32, 32],
            "layers_per_block": 1,
            "latent_channels": 4,
        },
    },
    "vae_temporal": {
        "type": "VAE_Temporal",
        "filters": 32,
        "num_res_blocks": 1,
        "channel_multipliers": [1, 1, 1, 1],
        "temporal_downsample": [False, True, True],
    },
    "micro_frame_size": 17,
    "shift": [-0.1, 0.34, 0.27, 0.98],
    "scale": [3.85, 2.32, 2.33, 3.06],
}


def write_tiny_vae(path: Path, seed: int = 0) -> None:
    """A random 1.2 VAE (~1.1 M parameters) saved with the release's state-dict keys."""
    from sora_core.checkpoints import build_vae

    torch.manual_seed(seed)
    state = build_vae(TINY_VAE_CONFIG).state_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({key: value.contiguous() for key, value in state.items()}, str(path))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", help="models folder to fill (created if missing)")
    print(write_models_dir(parser.parse_args().target))
