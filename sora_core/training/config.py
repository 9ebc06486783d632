"""The settings of a training run: Open-Sora's training config plus `scripts/train.py`'s flags.

Flags override the config as the reference's `merge_args` does (`--data-path` sets
`dataset.data_path`, `--ckpt-path` sets `model.from_pretrained`, every other flag sets the
top-level key of its name). Every key is checked here, before any file or model is
opened: an unknown key, a wrong dtype, a plugin or `sp_size` this trainer cannot run
are errors that name the key and what is accepted.
"""

import argparse
from dataclasses import dataclass
from pathlib import Path

import torch

from ..cli.config_files import load_config, reject_unknown_keys
from ..datasets.from_settings import DATA_DEFAULTS
from ..errors import ConfigError

# What `scripts/train.py` falls back to when a key is missing (its `cfg.get` defaults),
# plus our `keep_last_ckpts` (None: keep every checkpoint, as the reference does).
DEFAULTS: dict = {
    "seed": 1024,
    "outputs": "outputs",
    "epochs": 1000,
    "max_steps": None,  # ours: stop after this many steps in all (None: run every epoch)
    "log_every": 1,
    "ckpt_every": 0,
    "keep_last_ckpts": None,
    "batch_size": None,
    "num_workers": 4,
    "num_bucket_build_workers": 1,
    "lr": 1e-4,
    "weight_decay": 0.0,
    "adam_eps": 1e-8,
    "warmup_steps": None,
    "grad_clip": 0.0,
    "ema_decay": 0.9999,
    "grad_checkpoint": False,
    "dtype": "bf16",
    "plugin": "zero2",
    "sp_size": 1,
    "mask_ratios": None,
    "bucket_config": None,
    "bucket_resolutions": None,  # ours: {name: (pixels, {aspect: (h, w)})} beside ASPECT_RATIOS
    "load": None,
    "start_from_scratch": False,
    "wandb": False,
    "record_time": False,
    "lora": None,  # ours: dict(rank, alpha, dropout, targets) trains adapters only
    "base_dtype": None,  # ours, with lora: store the frozen base in bf16 or fp8
}
# Keys that only matter when a section is absent or features are pre-extracted.
FEATURE_KEYS = {
    "load_video_features",
    "load_text_features",
    "text_encoder_output_dim",
    "text_encoder_model_max_length",
    "vae_out_channels",
}
SECTIONS = ("dataset", "model", "vae", "text_encoder", "scheduler")
# Open-Sora Plan v1.3's image-to-video recipe (see `datasets.task_masks`).
TRAIN_KEYS = frozenset(DEFAULTS) | FEATURE_KEYS | set(SECTIONS) | set(DATA_DEFAULTS) | {"device"}

# ColossalAI plugins of the reference -> (our strategy, reshard_after_forward, note).
PLUGINS = {
    "zero2": (
        "fsdp",
        False,
        "ZeRO-2 runs as FSDP2 with parameters kept whole after forward "
        "(gradients and optimizer states sharded)",
    ),
    "zero1": ("fsdp", False, "ZeRO-1 runs as FSDP2 without resharding after forward"),
    "ddp": ("ddp", None, "DistributedDataParallel (every rank holds the whole model)"),
    "fsdp": ("fsdp", True, "FSDP2: parameters, gradients and optimizer states sharded"),
    "fsdp2": ("fsdp", True, "FSDP2: parameters, gradients and optimizer states sharded"),
    "zero3": ("fsdp", True, "ZeRO-3 runs as FSDP2 (everything sharded)"),
}
SEQUENCE_PARALLEL_PLUGINS = {"zero2-seq", "hybrid"}
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# How a LoRA run may store its frozen base (the adapters always train in fp32).
BASE_DTYPES = ("bf16", "fp16", "fp8")


@dataclass(frozen=True)
class Parallelism:
    """How the model is spread over ranks, chosen from the reference's `plugin`."""

    strategy: str  # "ddp" or "fsdp"
    reshard_after_forward: "bool | None"
    note: str


def build_parser() -> argparse.ArgumentParser:
    """The flags of Open-Sora's `scripts/train.py`."""
    parser = argparse.ArgumentParser(
        prog="opensora-train",
        description="Train or fine-tune an Open-Sora transformer from a training config.",
    )
    parser.add_argument("config", help="Open-Sora training config (.py, .json, .yaml)")
    add = parser.add_argument
    add("--data-path", help="CSV of the training clips (dataset.data_path)")
    add("--outputs", help="folder of the experiment folders (default: outputs)")
    add("--load", help="checkpoint folder to resume from (epochN-global_stepM)")
    add(
        "--start-from-scratch",
        action="store_true",
        default=None,
        help="with --load: take the weights and optimizer, restart at epoch 0 step 0",
    )
    add("--ckpt-path", help="start from released weights (model.from_pretrained)")
    add("--batch-size", type=int, help="batch size per rank (fixed-size datasets)")
    add("--seed", type=int, help="random seed")
    add("--lr", type=float, help="learning rate")
    add("--warmup-steps", type=int, help="linear warm-up steps")
    add("--dtype", choices=sorted(DTYPES), help="fp32, or bf16/fp16 mixed precision")
    add("--device", help="cuda, cuda:1, cpu (default: cuda when present)")
    add(
        "--wandb",
        nargs="?",
        const=True,
        type=_boolean,
        metavar="BOOL",
        help="log to Weights & Biases (`--wandb` or the reference's `--wandb True`)",
    )
    return parser


def _boolean(text: str) -> bool:
    if text.lower() in ("true", "1", "yes", "y"):
        return True
    if text.lower() in ("false", "0", "no", "n"):
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {text!r}")


def merge_flags(config: dict, flags: argparse.Namespace) -> dict:
    """Apply command-line flags over a config as the reference's `merge_args` does."""
    merged = {
        key: dict(value) if isinstance(value, dict) else value for key, value in config.items()
    }
    values = {key: value for key, value in vars(flags).items() if value is not None}
    values.pop("config", None)
    if "ckpt_path" in values:
        merged.setdefault("model", {})["from_pretrained"] = values.pop("ckpt_path")
    if "data_path" in values:
        merged.setdefault("dataset", {})["data_path"] = values.pop("data_path")
    merged.update(values)
    return merged


def check_config(config: dict, source: str) -> dict:
    """The config with defaults filled in; raises `ConfigError` naming what is wrong."""
    reject_unknown_keys(config, TRAIN_KEYS, source, "training")
    for section in SECTIONS:
        value = config.get(section)
        if section in ("dataset", "model", "scheduler") and value is None:
            raise ConfigError(f"{source}: the config needs {section} = dict(type=...)")
        if value is not None and (not isinstance(value, dict) or "type" not in value):
            raise ConfigError(f"{source}: {section} must be a dict(type=..., ...), got {value!r}")
    settings = {**DEFAULTS, **config}
    if str(settings["dtype"]) not in DTYPES:
        raise ConfigError(
            f"dtype = {settings['dtype']!r}; expected one of {sorted(DTYPES)} "
            "(fp32 computes in fp32; bf16/fp16 train fp32 weights with autocast)"
        )
    parallelism(settings)  # a plugin or sp_size we cannot run fails now
    for key in ("epochs", "log_every"):
        if not isinstance(settings[key], int) or settings[key] < 1:
            raise ConfigError(f"{key} = {settings[key]!r}; expected an integer >= 1")
    for key in ("ckpt_every", "num_workers"):
        if not isinstance(settings[key], int) or settings[key] < 0:
            raise ConfigError(f"{key} = {settings[key]!r}; expected an integer >= 0")
    max_steps = settings["max_steps"]
    if max_steps is not None and (not isinstance(max_steps, int) or max_steps < 1):
        raise ConfigError(
            f"max_steps = {max_steps!r}; expected None (every epoch) or an integer >= 1"
        )
    keep = settings["keep_last_ckpts"]
    if keep is not None and (not isinstance(keep, int) or keep < 1):
        raise ConfigError(
            f"keep_last_ckpts = {keep!r}; expected None (keep all) or an integer >= 1"
        )
    if not 0.0 <= float(settings["ema_decay"]) <= 1.0:
        raise ConfigError(f"ema_decay = {settings['ema_decay']!r}; expected a value in [0, 1]")
    if settings["lora"] is not None:
        from ..lora import LoRAConfig

        LoRAConfig.from_dict(settings["lora"])
    if settings["base_dtype"] is not None:
        if settings["lora"] is None:
            raise ConfigError(
                f"base_dtype = {settings['base_dtype']!r} needs lora = dict(...): only a "
                "frozen base can be stored in a lower precision"
            )
        if settings["base_dtype"] not in BASE_DTYPES:
            raise ConfigError(
                f"base_dtype = {settings['base_dtype']!r}; expected None (fp32) or one of "
                f"{list(BASE_DTYPES)}"
            )
    if not settings["dataset"].get("data_path"):
        raise ConfigError(f"{source}: no training data: give --data-path CSV (dataset.data_path)")
    return settings


def parallelism(settings: dict) -> Parallelism:
    """Our DDP/FSDP2 choice for the reference's `plugin` and `sp_size`."""
    plugin, sp_size = settings.get("plugin", "zero2"), settings.get("sp_size", 1)
    if sp_size != 1 or plugin in SEQUENCE_PARALLEL_PLUGINS:
        raise ConfigError(
            f"sp_size = {sp_size}, plugin = {plugin!r}: sequence parallelism (splitting one "
            "video's tokens across GPUs) is not implemented; use sp_size = 1 with plugin "
            "'zero2', 'ddp' or 'fsdp' and, for long videos, grad_checkpoint = True"
        )
    if plugin not in PLUGINS:
        raise ConfigError(f"plugin = {plugin!r}; expected one of {sorted(PLUGINS)}")
    return Parallelism(*PLUGINS[plugin])


def resolve_train_config(argv: "list[str] | None" = None) -> dict:
    """Parse flags, read the config file, merge and check them."""
    flags = build_parser().parse_args(argv)
    config = merge_flags(load_config(flags.config), flags)
    return check_config(config, str(Path(flags.config)))
