"""Rebuild the embedded demo model from nothing, then record its provenance.

    python -m sora_core.demo.build --work build/demo

runs, in order: the procedural data set (`sora_core.demo.dataset`, seed 0: clips of 6 and 12
frames and stills at the sizes of the config's `bucket_resolutions`), the T5 with the caption
tokenizer (`sora_core.demo.text_encoder`), the per-frame VAE (`sora_core.demo.train_vae`), the feature
cache (`opensora-extract-features configs/demo/train/demo.py`), the transformer on it
(`opensora-train configs/demo/train/demo_features.py`), then `export`: the last checkpoint's
EMA weights as fp16 safetensors into `sora_core/demo/model/` and `provenance.json` beside them
(config, seeds, steps, loss curves, commit, SHA-256 of the shipped files). Run it from the
repository root.

Everything runs on one CPU thread: the models are so small that a second thread only adds
hand-offs, and on a busy machine two threads made a training step ten times slower.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

from ..checkpoints.files import read_state_dict
from ..cli.config_files import load_config
from . import train_vae
from .dataset import FPS, write_demo_dataset
from .embedded import (
    MODEL_DIR,
    TEXT_ENCODER_DIR,
    TRANSFORMER_FILE,
    file_sha256,
    read_provenance,
    shipped_files,
)
from .text_encoder import write_text_encoder

CONFIG = Path("configs/demo/train/demo.py")
FEATURES_CONFIG = Path("configs/demo/train/demo_features.py")
# 6-frame clips fill the 4-frame bucket and 12-frame ones the 8-frame bucket (a clip must be
# longer than its bucket).
VIDEO_LENGTHS = (6, 12, 12)
DATA_SEED = 0
NUM_VIDEOS = 3000
NUM_IMAGES = 600


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def bucket_sizes(config: dict) -> "tuple[tuple[int, int], ...]":
    """Every (height, width) of the config's `bucket_resolutions`, in table order: the sizes
    the data is rendered at, so every bucket gets samples."""
    return tuple(
        size for _, sizes in config["bucket_resolutions"].values() for size in sizes.values()
    )


def latest_checkpoint(outputs: Path) -> Path:
    """The newest `epoch*-global_step*` folder holding an `ema.pt` under `outputs`."""
    found = sorted(
        outputs.glob("*/epoch*-global_step*/ema.pt"),
        key=lambda path: int(path.parent.name.rsplit("global_step", 1)[1]),
    )
    if not found:
        raise SystemExit(f"no checkpoint with ema.pt under {outputs}")
    return found[-1].parent


def export(
    checkpoint: Path,
    config_path: Path,
    data_config_path: Path,
    record: dict,
    model_dir: Path = MODEL_DIR,
) -> Path:
    """Ship `checkpoint`'s EMA transformer in fp16 and write the provenance record.

    `config_path` trained the transformer; `data_config_path` made its training clips (and
    gives the size and length the model generates at).
    """
    weights = read_state_dict(checkpoint / "ema.pt")
    half = {key: value.to(torch.float16).contiguous() for key, value in weights.items()}
    (model_dir / TRANSFORMER_FILE).parent.mkdir(parents=True, exist_ok=True)
    save_file(half, str(model_dir / TRANSFORMER_FILE))
    log = checkpoint.parent / "log.jsonl"
    losses = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    provenance = {
        "config_file": str(config_path),
        "config": load_config(config_path),
        "data_config_file": str(data_config_path),
        "data_config": {**load_config(data_config_path), "fps": FPS},
        "checkpoint": checkpoint.name,
        "commit": _commit(),
        **record,
        "transformer_log": losses,
        "sha256": {
            path.relative_to(model_dir).as_posix(): file_sha256(path)
            for path in shipped_files(model_dir)
        },
    }
    target = model_dir / "provenance.json"
    target.write_text(json.dumps(provenance, indent=1, default=str))
    return target


def main(argv: "list[str] | None" = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sora_core.demo.build", description=__doc__)
    parser.add_argument("--work", default="build/demo", help="data and training outputs")
    parser.add_argument("--config", default=str(CONFIG), help="the data/encoder config")
    parser.add_argument("--train-config", default=str(FEATURES_CONFIG))
    parser.add_argument("--videos", type=int, default=NUM_VIDEOS)
    parser.add_argument("--images", type=int, default=NUM_IMAGES)
    parser.add_argument("--skip-vae", action="store_true", help="keep the shipped VAE")
    args = parser.parse_args(argv)
    work = Path(args.work)
    torch.set_num_threads(1)
    started = time.perf_counter()
    sizes = bucket_sizes(load_config(args.config))
    csv_path = write_demo_dataset(
        work / "data",
        args.videos,
        args.images,
        DATA_SEED,
        video_sizes=sizes,
        video_lengths=VIDEO_LENGTHS,
        image_sizes=sizes,
    )
    write_text_encoder(MODEL_DIR / TEXT_ENCODER_DIR)
    vae_log = work / "vae_log.json"
    if not args.skip_vae:
        train_vae.main(["--log", str(vae_log)])
    from ..cli import extract_features_main, train_main

    features, outputs = work / "features", work / "outputs"
    code = extract_features_main(
        [args.config, "--data-path", str(csv_path), "--save-dir", str(features), "--device", "cpu"]
    ) or train_main([args.train_config, "--data-path", str(features), "--outputs", str(outputs)])
    if code:
        return code
    record = {
        "data": {
            "seed": DATA_SEED,
            "videos": args.videos,
            "images": args.images,
            "sizes": sizes,
            "lengths": VIDEO_LENGTHS,
            "features": str(features),
        },
        "threads": torch.get_num_threads(),
        "command": " ".join(["python -m sora_core.demo.build", *(argv or sys.argv[1:])]),
        "seconds": round(time.perf_counter() - started),
        # --skip-vae keeps the shipped VAE, so its record stays with it
        "vae_log": json.loads(vae_log.read_text())
        if vae_log.exists()
        else read_provenance().get("vae_log"),
    }
    checkpoint = latest_checkpoint(outputs)
    target = export(checkpoint, Path(args.train_config), Path(args.config), record)
    print(f"provenance -> {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
