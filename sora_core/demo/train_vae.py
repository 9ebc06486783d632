"""Train the demo's per-frame VAE on freshly rendered frames.

`opensora-train` trains the diffusion transformer with a frozen VAE, as Open-Sora's
`scripts/train.py` does (Open-Sora trains its VAEs with a separate script), so the demo's
VAE gets this short loop: reconstruction (MSE) plus a small KL term, on 64x64 crops of
frames drawn from the training combinations (the size the demo generates at: the mid-block's
attention and the group norms see whole frames, as they will when generating), with a
cosine learning-rate decay so the last weights are not a noisy step. The result is
rescaled so its latents have the standard deviation SD's scaling factor (0.18215) expects,
then saved as a diffusers-style folder (`config.json` + fp16 weights) that every loader
reads without extra settings.

    python -m sora_core.demo.train_vae
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from ..checkpoints import build_vae
from ..vae.config import SCALING_FACTOR
from .dataset import VIDEO_SIZES, draw_scene
from .embedded import MODEL_DIR, VAE_DIR
from .shapes import render_clip

# A diffusers AutoencoderKL, SD's layout at 1/8 to 1/16 of its widths.
VAE_ARCHITECTURE = {
    "block_out_channels": [16, 32, 32, 32],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "layers_per_block": 1,
    "norm_num_groups": 8,
    "latent_channels": 4,
}
STEPS = 2500
BATCH_SIZE = 6
LEARNING_RATE = 2e-3
FINAL_LEARNING_RATE = 5e-5
KL_WEIGHT = 1e-5
SEED = 0
CROP = 64


def render_batch(rng: np.random.Generator, batch_size: int) -> torch.Tensor:
    """[B, 3, CROP, CROP] in [-1, 1]: one frame of a drawn scene, cropped from a drawn size."""
    frames = []
    for _ in range(batch_size):
        height, width = VIDEO_SIZES[rng.integers(len(VIDEO_SIZES))]
        frame = render_clip(draw_scene(rng), 1, height, width, rng)[0]
        top, left = rng.integers(height - CROP + 1), rng.integers(width - CROP + 1)
        frames.append(frame[top : top + CROP, left : left + CROP])
    pixels = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float()
    return pixels / 127.5 - 1


def rescale_latents(module: torch.nn.Module, factor: float) -> None:
    """Make the encoder's latent means `factor` times larger and the decoder undo it."""
    with torch.no_grad():
        channels = module.config.latent_channels
        module.quant_conv.weight[:channels] *= factor
        module.quant_conv.bias[:channels] *= factor
        # log-variance shifts by 2 ln(factor), so the posterior's spread scales too
        module.quant_conv.bias[channels:] += 2 * float(np.log(factor))
        module.post_quant_conv.weight /= factor


def train_vae(steps: int = STEPS, seed: int = SEED, log=print) -> "tuple[torch.nn.Module, dict]":
    """A freshly trained AutoencoderKL of `VAE_ARCHITECTURE` and its training record."""
    torch.manual_seed(seed)
    module = build_vae({"type": "VideoAutoencoderKL", "autoencoder": VAE_ARCHITECTURE}).module
    module.train().requires_grad_(True)
    optimizer = torch.optim.AdamW(module.parameters(), lr=LEARNING_RATE, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps, FINAL_LEARNING_RATE)
    rng = np.random.default_rng([seed, 1])
    generator = torch.Generator().manual_seed(seed)
    losses = []
    started = time.perf_counter()
    for step in range(steps):
        frames = render_batch(rng, BATCH_SIZE)
        mean, logvar = module.quant_conv(module.encoder(frames)).chunk(2, dim=1)
        logvar = logvar.clamp(-30.0, 20.0)
        latent = mean + torch.randn(mean.shape, generator=generator) * (0.5 * logvar).exp()
        reconstruction = module.decoder(module.post_quant_conv(latent))
        mse = F.mse_loss(reconstruction, frames)
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).mean()
        optimizer.zero_grad(set_to_none=True)
        (mse + KL_WEIGHT * kl).backward()
        optimizer.step()
        schedule.step()
        losses.append(round(mse.item(), 6))
        if step % 50 == 0 or step == steps - 1:
            log(
                f"vae step {step}: mse {mse.item():.5f} kl {kl.item():.3f} "
                f"({time.perf_counter() - started:.0f} s)"
            )
    module.eval().requires_grad_(False)
    with torch.no_grad():
        frames = render_batch(np.random.default_rng([seed, 2]), 64)
        latent_std = float(module.quant_conv(module.encoder(frames)).chunk(2, dim=1)[0].std())
    rescale_latents(module, 1 / (SCALING_FACTOR * latent_std))
    record = {
        "steps": steps,
        "seed": seed,
        "batch_size": BATCH_SIZE,
        "crop": CROP,
        "lr": LEARNING_RATE,
        "final_lr": FINAL_LEARNING_RATE,
        "kl_weight": KL_WEIGHT,
        "latent_std_before_rescale": latent_std,
        "mse": losses,
        "seconds": round(time.perf_counter() - started, 1),
    }
    return module, record


def save_vae(module: torch.nn.Module, folder: Path) -> Path:
    """config.json (with the group count weights cannot show) + fp16 safetensors."""
    folder.mkdir(parents=True, exist_ok=True)
    weights = {key: value.half().contiguous() for key, value in module.state_dict().items()}
    save_file(weights, str(folder / "diffusion_pytorch_model.safetensors"))
    (folder / "config.json").write_text(json.dumps(dict(module.config), indent=1))
    return folder


def main(argv: "list[str] | None" = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sora_core.demo.train_vae", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--log", help="write the training record (JSON) here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # one thread: the same bits on every machine, and no contention
    module, record = train_vae(args.steps, args.seed)
    folder = save_vae(module, MODEL_DIR / VAE_DIR)
    if args.log:
        Path(args.log).write_text(json.dumps(record))
    print(f"VAE -> {folder} ({record['seconds']:.0f} s, last mse {record['mse'][-1]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
