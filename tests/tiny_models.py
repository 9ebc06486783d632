"""A ComfyUI-style models folder holding tiny Open-Sora models that work together.

The tiny STDiT3 and T5 (+ sentencepiece tokenizer) are the fixture set's random
release-format checkpoints (`SORA_FIXTURES_DIR`); the 1.2 VAE is built here with random
weights at widths whose group norms need no config (32 groups), saved as one file with the
release's keys, and so is its SD VAE alone (what DiT and PixArt decode with). A tiny
class-conditional DiT (1000 classes, as ImageNet's) and a PixArt-α (T5 captions of 120 tokens) are written
in their releases' layouts (`DiT-XL-2-256x256.pt`, `PixArt-XL-2-512x512.pth`). All are laid
out where the pack's loaders look: `opensora/`, `diffusion_models/`, `vae/`,
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
DIT = "tiny_dit_imagenet.pt"
PIXART = "tiny_pixart_alpha.pth"
SD_VAE = "tiny_sd_vae.safetensors"
DIT_CLASSES = 1000  # ImageNet's, so that the workflows' labels fit
PIXART_TOKENS = 120  # PixArt-α's T5 length
# Toy widths of the image models (the fixture T5 gives 32-wide captions).
TINY_IMAGE_MODEL = {"depth": 2, "hidden_size": 48, "num_heads": 4}
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
    write_tiny_sd_vae(target / "vae" / SD_VAE)
    write_tiny_dit(target / "opensora" / DIT)
    write_tiny_pixart(target / "diffusion_models" / PIXART)
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


def write_tiny_sd_vae(path: Path, seed: int = 0) -> None:
    """The tiny VAE's SD part alone, as a diffusers AutoencoderKL single file."""
    from sora_core.checkpoints import build_vae

    torch.manual_seed(seed)
    state = build_vae(TINY_VAE_CONFIG["vae_2d"]).module.state_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({key: value.contiguous() for key, value in state.items()}, str(path))


def write_release_file(
    path: Path, model: torch.nn.Module, container: "str | None", tables: "dict | None" = None
) -> Path:
    """`model`'s weights as the DiT / Latte / PixArt releases store them (a `.pt/.pth`
    pickle, inside `container` if given): 2D patch embedding, position tables only as
    `tables` names them ({release key: model buffer}, e.g. Latte's `temp_embed`)."""
    state = {k: v for k, v in model.state_dict().items() if "pos_embed" not in k}
    state["x_embedder.proj.weight"] = state["x_embedder.proj.weight"][:, :, 0]
    state.update({key: getattr(model, buffer) for key, buffer in (tables or {}).items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state if container is None else {container: state}, path)
    return path


def write_tiny_dit(path: Path, seed: int = 0, classes: int = DIT_CLASSES) -> Path:
    """A random class-conditional DiT, laid out as DiT-XL-2-256x256.pt."""
    from sora_core.checkpoints import build_model

    torch.manual_seed(seed)
    condition = f"label_{classes}"
    dit = build_model(
        {"type": "DiT", "input_size": (1, 4, 4), "condition": condition, **TINY_IMAGE_MODEL}
    )
    return write_release_file(path, dit, None)


def write_tiny_pixart(path: Path, seed: int = 0, kind: str = "PixArt") -> Path:
    """A random PixArt-α (or `kind="PixArtMS"`) for the fixture T5, laid out as the release's
    `.pth` (`{"state_dict": ...}`)."""
    from sora_core.checkpoints import build_model

    torch.manual_seed(seed)
    pixart = build_model(
        {
            "type": kind,
            "input_size": (1, 4, 4),
            "caption_channels": 32,
            "model_max_length": PIXART_TOKENS,
            **TINY_IMAGE_MODEL,
        }
    )
    return write_release_file(path, pixart, "state_dict")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", help="models folder to fill (created if missing)")
    print(write_models_dir(parser.parse_args().target))
