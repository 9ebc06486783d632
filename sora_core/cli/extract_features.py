"""`opensora-extract-features`: Open-Sora's `scripts/misc/extract_feat.py`.

Reads a training config (`dataset`, `bucket_config` or `batch_size`, `vae`,
`text_encoder`, `seed`), encodes every batch of `--data-path` once with the VAE and the
text encoder, and stores the features under `--save-dir`. Train on them with
`dataset = dict(type="BatchFeatureDataset", data_path=SAVE_DIR)`.
"""

import argparse

import torch

from ..datasets import build_training_data
from ..datasets.features import extract_features
from ..errors import ConfigError
from .config_files import load_config

PROGRAM = "opensora-extract-features"


def parse_flags(argv: "list[str] | None") -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__.splitlines()[0])
    parser.add_argument("config", help="a training config")
    parser.add_argument("--data-path", required=True, help="the training CSV")
    parser.add_argument("--save-dir", required=True, help="folder for the cached features")
    parser.add_argument("--seed", type=int, default=None, help="posterior noise seed (config seed)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return parser.parse_args(argv)


def extract(argv: "list[str] | None" = None) -> int:
    from ..training.config import DEFAULTS
    from ..training.models import build_text_encoder_for_training, build_vae_for_training

    flags = parse_flags(argv)
    config = load_config(flags.config)
    for section in ("dataset", "vae", "text_encoder"):
        if section not in config:
            raise ConfigError(f"{flags.config}: feature extraction needs a {section!r} section")
    seed = flags.seed if flags.seed is not None else int(config.get("seed", 1024))
    settings = {**config, "dataset": {**config["dataset"], "data_path": flags.data_path}}
    loader = build_training_data({**settings, "seed": seed}, shuffle=False, drop_last=False)
    # the encoders as training would run them (the config's dtype; fp32 on a CPU, where
    # half-precision convolutions are an order of magnitude slower)
    settings.setdefault("dtype", DEFAULTS["dtype"])
    device = torch.device(flags.device)
    vae = build_vae_for_training(settings, device)
    text_encoder = build_text_encoder_for_training(settings, device)
    files = extract_features(loader, vae, text_encoder, flags.save_dir, seed)
    skipped = loader.take_skipped()
    print(f"wrote {len(files)} batches to {flags.save_dir} ({len(skipped)} sample(s) skipped)")
    return 0
