"""The settings of a generation run: Open-Sora's inference config plus its command-line flags.

Flags override the config exactly as the reference's `merge_args` does (`--ckpt-path` sets
`model.from_pretrained`, `--num-sampling-steps` and `--cfg-scale` go to the scheduler), and
a key the inference script does not know is an error that names it.
"""

import argparse
from pathlib import Path

from ..acceleration import RECOMMENDED_THRESHOLD
from ..errors import ConfigError
from .config_files import load_config, reject_unknown_keys

PROGRAM = "opensora-generate"

# The defaults of Open-Sora 1.2's configs/opensora-v1-2/inference/sample.py.
DEFAULT_CONFIG: dict = {
    "resolution": "240p",
    "aspect_ratio": "9:16",
    "num_frames": 51,
    "fps": 24,
    "frame_interval": 1,
    "save_fps": 24,
    "save_dir": "./samples/samples/",
    "seed": 42,
    "batch_size": 1,
    "multi_resolution": "STDiT2",
    "dtype": "bf16",
    "condition_frame_length": 5,
    "align": 5,
    "model": {
        "type": "STDiT3-XL/2",
        "from_pretrained": "hpcai-tech/OpenSora-STDiT-v3",
        "qk_norm": True,
    },
    "vae": {
        "type": "OpenSoraVAE_V1_2",
        "from_pretrained": "hpcai-tech/OpenSora-VAE-v1.2",
        "micro_frame_size": 17,
        "micro_batch_size": 4,
    },
    "text_encoder": {
        "type": "t5",
        "from_pretrained": "DeepFloyd/t5-v1_1-xxl",
        "model_max_length": 300,
    },
    "scheduler": {
        "type": "rflow",
        "use_timestep_transform": True,
        "num_sampling_steps": 30,
        "cfg_scale": 7.0,
    },
    "aes": 6.5,
    "flow": None,
}

# Every key Open-Sora's inference scripts read (v1.0-v1.2), plus our --device and
# acceleration settings.
INFERENCE_KEYS = frozenset(
    {
        "model",
        "vae",
        "text_encoder",
        "scheduler",
        "dtype",
        "device",
        "seed",
        "batch_size",
        "num_frames",
        "fps",
        "frame_interval",
        "save_fps",
        "image_size",
        "resolution",
        "aspect_ratio",
        "multi_resolution",
        "prompt",
        "prompt_path",
        "start_index",
        "end_index",
        "num_sample",
        "sample_name",
        "prompt_as_path",
        "save_dir",
        "loop",
        "condition_frame_length",
        "condition_frame_edit",
        "align",
        "reference_path",
        "mask_strategy",
        "aes",
        "flow",
        "camera_motion",
        "verbose",
        "step_cache",
        "lora",  # ours: adapters as "PATH[:STRENGTH]" strings (--lora)
        "compile",
        "block_swap",
    }
)
MODEL_SECTIONS = ("model", "vae", "text_encoder", "scheduler")


def build_parser() -> argparse.ArgumentParser:
    """The flags of Open-Sora's `scripts/inference.py`, plus `--device` and `--dtype` choices."""
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Generate videos with Open-Sora 1.0/1.1/1.2 from a config file and flags.",
    )
    parser.add_argument(
        "config",
        nargs="?",
        help="Open-Sora inference config (.py, .json, .yaml); "
        "default: Open-Sora 1.2's sample.py settings",
    )
    add = parser.add_argument
    add(
        "--seed",
        type=int,
        help="random seed (noise is drawn on the CPU: same seed, same video on any device)",
    )
    add("--ckpt-path", help="transformer checkpoint; overrides model.from_pretrained")
    add("--batch-size", type=int, help="prompts per batch")
    add("--dtype", choices=["fp32", "fp16", "bf16"], help="computation type")
    add("--device", help="cuda, cuda:1, cpu, mps (default: cuda when present)")
    add("--resolution", help="240p, 360p, 480p, 720p, 1080p, 144p, ...")
    add("--aspect-ratio", help="height:width such as 9:16")
    add("--save-dir", help="folder for the samples")
    add("--sample-name", help="name samples {sample_name}_{index} instead of sample_{index}")
    add("--start-index", type=int, help="first prompt to use")
    add("--end-index", type=int, help="prompt index to stop before")
    add("--num-sample", type=int, help="samples per prompt (suffixed -0, -1, ...)")
    add(
        "--prompt-as-path",
        action="store_true",
        default=None,
        help="name samples after their prompt",
    )
    add("--prompt-path", help="text file with one prompt per line")
    add("--prompt", nargs="+", help="one or more prompts (override --prompt-path)")
    add("--num-frames", help="frame count, or a duration such as 4s, or 2x")
    add("--fps", type=int, help="frame rate the model is conditioned on")
    add("--save-fps", type=int, help="frame rate of the written video")
    add("--frame-interval", type=int, help="the video is written at fps / frame_interval")
    add("--image-size", type=int, nargs=2, metavar=("HEIGHT", "WIDTH"), help="explicit size")
    add("--num-sampling-steps", type=int, help="sampling steps (scheduler.num_sampling_steps)")
    add("--cfg-scale", type=float, help="classifier-free guidance scale (scheduler.cfg_scale)")
    add("--loop", type=int, help="number of loops for a long video")
    add("--condition-frame-length", type=int, help="frames carried from one loop into the next")
    add("--condition-frame-edit", type=float, help="edit ratio of the carried frames")
    add("--reference-path", nargs="+", help="references per prompt (';'-separated images/videos)")
    add("--mask-strategy", nargs="+", help="mask strategy per prompt (';'-separated 6-tuples)")
    add("--aes", type=float, help="Open-Sora 1.2 aesthetic score appended to prompts")
    add("--flow", type=float, help="Open-Sora 1.2 motion score appended to prompts")
    add(
        "--camera-motion", help="Open-Sora 1.2 camera motion appended to prompts (e.g. 'pan right')"
    )
    add("--verbose", type=int, help="verbosity level")
    add(
        "--step-cache",
        nargs="?",
        const=RECOMMENDED_THRESHOLD,
        type=_threshold,
        metavar="THRESHOLD",
        help="skip transformer calls whose input barely changed (TeaCache); bare flag = "
        f"{RECOMMENDED_THRESHOLD} (measured: about 2x fewer calls), larger skips more",
    )
    add(
        "--lora",
        action="append",
        metavar="PATH[:STRENGTH]",
        help="LoRA adapter (lora.safetensors) applied to the transformer at STRENGTH "
        "(default 1.0); repeat to stack several",
    )
    add(
        "--compile",
        action="store_true",
        default=None,
        help="compile each transformer block with torch.compile (slow first step)",
    )
    add(
        "--block-swap",
        nargs="?",
        const=True,
        type=_block_count,
        metavar="BLOCKS",
        help="keep BLOCKS transformer blocks on the GPU and stream the others from CPU memory "
        "(bare flag: as many as free memory allows); outputs are unchanged",
    )
    add(
        "--demo",
        action="store_true",
        help="run the embedded demo model (the default without a config file or --ckpt-path)",
    )
    return parser


def _threshold(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a threshold; give a number (--step-cache=0.2), or put the "
            "config path before a bare --step-cache"
        ) from None


def _block_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = -1
    if count < 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a block count; give a whole number >= 0 (--block-swap=8), or put "
            "the config path before a bare --block-swap"
        )
    return count


def check_keys(config: dict, source: str) -> None:
    """Raise a `ConfigError` naming every key the inference script would not understand."""
    reject_unknown_keys(config, INFERENCE_KEYS, source, "inference")
    for section in MODEL_SECTIONS:
        if section in config and not isinstance(config[section], dict):
            raise ConfigError(
                f"{source}: {section!r} must be a dict(...) with a 'type', got {config[section]!r}"
            )


def merge_flags(config: dict, flags: argparse.Namespace) -> dict:
    """Apply command-line flags over a config the way the reference's `merge_args` does."""
    merged = {
        key: dict(value) if isinstance(value, dict) else value for key, value in config.items()
    }
    values = {key: value for key, value in vars(flags).items() if value is not None}
    values.pop("config", None)
    values.pop("demo", None)
    if "ckpt_path" in values:
        merged.setdefault("model", {})["from_pretrained"] = values.pop("ckpt_path")
    for flag in ("num_sampling_steps", "cfg_scale"):
        if flag in values:
            merged.setdefault("scheduler", {})[flag] = values.pop(flag)
    if "image_size" in values:
        values["image_size"] = tuple(values["image_size"])
    merged.update(values)
    return merged


def resolve_generate_config(argv: "list[str] | None" = None) -> "tuple[dict, argparse.Namespace]":
    """Parse flags, read the config file (or the 1.2 defaults) and merge them."""
    flags = build_parser().parse_args(argv)
    if flags.config:
        config = load_config(flags.config)
        source = str(Path(flags.config))
    else:
        config = DEFAULT_CONFIG
        source = "default config"
    check_keys(config, source)
    return merge_flags(config, flags), flags
