"""Tiny training runs for the trainer tests: a small CSV of clips and images (plus a missing
and a corrupt file) and an Open-Sora training config around the fixtures' tiny 1.2 VAE and
T5, with a tiny STDiT3 built from scratch."""

import csv
from pathlib import Path

import numpy as np
from PIL import Image
from pipeline_helpers import reference_vae_config

from golden import fixtures_dir, read_json
from sora_core.video_io import write_mp4

COLUMNS = ["path", "text", "num_frames", "height", "width", "aspect_ratio", "fps"]
BAD_ROWS = 2  # a missing file and a file that does not decode


def write_table(folder: Path, pairs: int = 6) -> Path:
    """`pairs` 10-frame 144x256 clips and 160x280 images with captions, plus the bad rows."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(pairs):
        clip = rng.integers(0, 256, (10, 144, 256, 3), dtype=np.uint8)
        write_mp4(clip, folder / f"clip{i}.mp4", fps=8)
        rows.append([str(folder / f"clip{i}.mp4"), f"a clip {i}", 10, 144, 256, 0.56, 8])
        image = rng.integers(0, 256, (160, 280, 3), dtype=np.uint8)
        Image.fromarray(image).save(folder / f"image{i}.png")
        rows.append([str(folder / f"image{i}.png"), f"a photo {i}", 1, 160, 280, 0.57, 8])
    rows.append([str(folder / "missing.mp4"), "gone", 10, 144, 256, 0.56, 8])
    (folder / "corrupt.mp4").write_bytes(b"not a video at all" * 20)
    rows.append([str(folder / "corrupt.mp4"), "broken", 10, 144, 256, 0.56, 8])
    path = folder / "train.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return path


def tiny_vae_config() -> dict:
    """The fixtures' tiny official-format 1.2 VAE (group counts from its sidecar)."""
    config = reference_vae_config(read_json("checkpoints/vae_v12.json"))
    return {**config, "from_pretrained": str(fixtures_dir() / "checkpoints" / "vae_v12_hf")}


def tiny_config(**overrides) -> dict:
    """A bucketed v1.2-style training config for a few CPU steps (fp32)."""
    config = {
        "dataset": {"type": "VariableVideoTextDataset", "transform_name": "resize_crop"},
        "bucket_config": {"144p": {1: (1.0, 2), 8: ((1.0, 1.0), 2)}},
        "mask_ratios": {"image_head": 0.2, "random": 0.1},
        "model": {
            "type": "STDiT3",
            "depth": 1,
            "hidden_size": 32,
            "num_heads": 2,
            "patch_size": (1, 2, 2),
            "freeze_y_embedder": True,
        },
        "vae": tiny_vae_config(),
        "text_encoder": {
            "type": "t5",
            "from_pretrained": str(fixtures_dir() / "text" / "tiny_t5"),
            "model_max_length": 16,
        },
        "scheduler": {
            "type": "rflow",
            "use_timestep_transform": True,
            "sample_method": "logit-normal",
        },
        "dtype": "fp32",
        "device": "cpu",
        "num_workers": 0,
        "lr": 1e-3,
        "warmup_steps": 2,
        "adam_eps": 1e-15,
        "grad_clip": 1.0,
        "ema_decay": 0.99,
        "epochs": 2,
        "log_every": 1,
        "ckpt_every": 4,
        "seed": 7,
    }
    config.update(overrides)
    return config


def write_config(path: Path, config: dict) -> Path:
    """The config as a Python config file (read by the restricted evaluator)."""
    path.write_text("".join(f"{key} = {value!r}\n" for key, value in config.items()))
    return path
