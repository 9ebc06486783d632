"""The embedded demo model: where its files are and the inference config that uses them.

The pack ships `sora_core/demo/model/`, laid out as ComfyUI's `models/` folder so the
loaders list it beside the user's models: `opensora/opensora_demo_stdit3.safetensors`
(STDiT3, trained by `opensora-train` on the procedural shapes), `vae/opensora_demo_vae/`
(per-frame VAE, `python -m sora_core.demo.train_vae`), `text_encoders/opensora_demo_t5/` (T5,
caption tokenizer) and `provenance.json` (the training config, data seed, steps, loss curve,
commit and the SHA-256 of every shipped file). The inference config is built from the
training config recorded there, so the architecture is written down once.
"""

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import CheckpointError

if TYPE_CHECKING:
    from ..pipeline import GenerationModels, Placement

MODEL_DIR = Path(__file__).resolve().parent / "model"
PROVENANCE = MODEL_DIR / "provenance.json"
# Under MODEL_DIR, in ComfyUI's folder names; distinct file names, as ComfyUI lists them
# beside the user's own models.
TRANSFORMER_FILE = "opensora/opensora_demo_stdit3.safetensors"
VAE_DIR = "vae/opensora_demo_vae"
TEXT_ENCODER_DIR = "text_encoders/opensora_demo_t5"
DEMO_PROMPT = "a red circle moving right on a black background"
NUM_SAMPLING_STEPS = 25
CFG_SCALE = 4.0


def shipped_files(model_dir: Path = MODEL_DIR) -> "list[Path]":
    """Every weights/tokenizer file of the embedded model (what the provenance hashes)."""
    folders = [model_dir / VAE_DIR, model_dir / TEXT_ENCODER_DIR]
    return [model_dir / TRANSFORMER_FILE, *(path for f in folders for path in sorted(f.iterdir()))]


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_provenance(model_dir: Path = MODEL_DIR) -> dict:
    """The provenance record; a clear error when the pack was installed without it."""
    path = model_dir / PROVENANCE.name
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise CheckpointError(
            f"the embedded demo model's {path} is missing or damaged ({error}); "
            "reinstall the pack, or pass a config file / --ckpt-path for other weights"
        ) from error


def embedded_config(model_dir: Path = MODEL_DIR) -> dict:
    """An `opensora-generate` config for the embedded model, at its trained size and length."""
    provenance = read_provenance(model_dir)
    trained, clips = provenance["config"], provenance["data_config"]
    frames = clips["dataset"]["num_frames"]
    model = {key: value for key, value in trained["model"].items() if key != "from_pretrained"}
    return {
        "image_size": tuple(clips["dataset"]["image_size"]),
        "num_frames": frames,
        "fps": clips["fps"],
        "frame_interval": 1,
        "save_dir": "./samples",
        "seed": 42,
        "batch_size": 1,
        "dtype": "fp32",
        "device": "cpu",
        "condition_frame_length": max(1, frames // 4),
        "model": {**model, "from_pretrained": str(model_dir / TRANSFORMER_FILE)},
        "vae": {**trained["vae"], "from_pretrained": str(model_dir / VAE_DIR)},
        "text_encoder": {
            **trained["text_encoder"],
            "from_pretrained": str(model_dir / TEXT_ENCODER_DIR),
        },
        "scheduler": {
            "type": "rflow",
            "use_timestep_transform": False,  # as trained (see configs/demo/train/demo.py)
            "num_sampling_steps": NUM_SAMPLING_STEPS,
            "cfg_scale": CFG_SCALE,
        },
    }


def trained_sampler_settings(transformer_path: "str | Path") -> dict:
    """Sampler settings a transformer file must be sampled with, when the pack knows them:
    the embedded model's (trained without 1.2's timestep transform, which leaves an 8-frame
    clip no steps); {} for any other file."""
    if Path(transformer_path).resolve() != (MODEL_DIR / TRANSFORMER_FILE).resolve():
        return {}
    return {"use_timestep_transform": embedded_config()["scheduler"]["use_timestep_transform"]}


def load_embedded_models(
    placement: "Placement",
    num_sampling_steps: "int | None" = None,
    model_dir: Path = MODEL_DIR,
) -> "GenerationModels":
    """The embedded model loaded for `generate_batch` (the CLI's loading, without a plan)."""
    from ..pipeline.loading import load_generation_models

    config = embedded_config(model_dir)
    if num_sampling_steps is not None:
        config["scheduler"]["num_sampling_steps"] = num_sampling_steps
    return load_generation_models(config, placement)
