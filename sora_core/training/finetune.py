"""Fine-tuning a loaded transformer on a dataset folder: the ComfyUI Train node's library side.

`finetune(request, vae, text_encoder, hooks)` turns a handful of choices (dataset, LoRA rank
or full fine-tune, steps, learning rate, bucket, batch, seed) into the settings
`opensora-train` would read from a config, runs the same `Trainer` with the encoders the
caller already loaded, and publishes the result: the adapter as `<name>.safetensors` in the
LoRA folder, or the fine-tuned weights (not the EMA: a short fine-tune barely moves it) in
the transformer folder. A stopped run publishes what it has.
"""

import shutil
from dataclasses import dataclass
from pathlib import Path

from ..aspect_tables import ASPECT_RATIOS
from ..errors import ConfigError, DatasetError
from ..lora.files import LORA_FILE
from .trainer import TrainingHooks

DATA_TABLE = "data.csv"
# Per release, the diffusion training of its own train configs.
SCHEDULERS = {
    "1.1": {"type": "iddpm", "timestep_respacing": ""},
    "1.2": {"type": "rflow", "use_timestep_transform": True, "sample_method": "logit-normal"},
}
RESOLUTIONS = tuple(ASPECT_RATIOS)


@dataclass(frozen=True)
class FinetuneRequest:
    """What to train: `lora` = dict(rank, alpha, ...) trains an adapter, None the whole model."""

    transformer: Path  # the weights the loaded transformer came from
    release: str
    model_type: str  # its class name: STDiT2, STDiT3
    dataset: Path  # a CSV in Open-Sora's columns, or a folder of media + .txt captions
    experiment_root: Path  # experiment folders (checkpoints, to resume from) go here
    name: str  # the published file's stem
    lora: "dict | None"
    steps: int
    lr: float
    batch_size: int
    seed: int
    resolution: str
    num_frames: int
    ckpt_every: int = 0
    base_dtype: "str | None" = None  # LoRA only: keep the frozen base in bf16 or fp8
    device: str = "cpu"


@dataclass(frozen=True)
class FinetuneResult:
    """The checkpoint the run ended with, the loss per step, and whether the run was
    stopped before its last step."""

    checkpoint: Path
    losses: "list[float | None]"
    stopped: bool


def _data_table(dataset: Path, experiment: Path) -> Path:
    from ..datasets.caption_folder import write_caption_table

    if dataset.is_file():
        return dataset
    if dataset.is_dir():
        return write_caption_table(dataset, experiment / DATA_TABLE)
    raise DatasetError(
        f"dataset {str(dataset)!r} does not exist: give a folder of clips/images with "
        "same-named .txt captions, or a CSV in Open-Sora's columns"
    )


def finetune_settings(request: FinetuneRequest, data_path: Path) -> dict:
    """The checked training settings (as `opensora-train` resolves a config) of `request`."""
    from .config import check_config

    if request.release not in SCHEDULERS:
        raise ConfigError(
            f"the transformer is Open-Sora {request.release}; fine-tuning here takes 1.1 or "
            "1.2 (bucketed data). Train 1.0 with opensora-train and a fixed-size config"
        )
    if request.resolution not in RESOLUTIONS:
        raise ConfigError(f"resolution {request.resolution!r}; expected one of {RESOLUTIONS}")
    buckets = {1: (1.0, request.batch_size), request.num_frames: (1.0, request.batch_size)}
    config = {
        "dataset": {
            "type": "VariableVideoTextDataset",
            "data_path": str(data_path),
            "transform_name": "resize_crop",
        },
        "bucket_config": {request.resolution: buckets},
        "model": {"type": request.model_type, "from_pretrained": str(request.transformer)},
        "scheduler": dict(SCHEDULERS[request.release]),
        "outputs": str(request.experiment_root),
        "device": request.device,
        "dtype": "fp32" if request.device == "cpu" else "bf16",
        "num_workers": 0,
        "seed": request.seed,
        "lr": request.lr,
        "epochs": request.steps,  # each epoch is at least one batch: max_steps ends the run
        "max_steps": request.steps,
        "ckpt_every": request.ckpt_every,
        "keep_last_ckpts": 2,
        "grad_clip": 1.0,
        "lora": request.lora,
        "base_dtype": request.base_dtype,
    }
    return check_config(config, "Open-Sora Train")


def finetune(
    request: FinetuneRequest, vae, text_encoder, hooks: "TrainingHooks | None" = None
) -> FinetuneResult:
    """Train `request` with the loaded, frozen `vae` and `text_encoder` (the caller's own
    objects: nothing is copied or reloaded); `hooks` follow and may stop the run."""
    from .checkpoint import experiment_dir
    from .run import train

    # The caption table is written where the run's folders go, never into the dataset.
    scratch = experiment_dir(request.experiment_root, "dataset")
    data_path = _data_table(request.dataset, scratch)
    settings = finetune_settings(request, data_path)
    losses: list = []
    outer = hooks or TrainingHooks()

    def on_step(step: int, total: int, loss: "float | None") -> None:
        losses.append(loss)
        if outer.on_step is not None:
            outer.on_step(step, total, loss)

    trainer_hooks = TrainingHooks(on_step=on_step, should_stop=outer.should_stop)
    checkpoint = train(settings, trainer_hooks, encoders=(vae, text_encoder))
    if checkpoint is None:
        raise DatasetError(
            f"dataset {str(request.dataset)!r}: no sample fits the {request.resolution} "
            f"bucket of {request.num_frames} frames (or images): nothing was trained"
        )
    return FinetuneResult(checkpoint, losses, len(losses) < request.steps)


def publish(result: FinetuneResult, folder: Path, name: str) -> Path:
    """Copy the result into `folder` under `name` and return its path: an adapter as
    `<name>.safetensors`, full weights as the model folder `<name>/` (config.json and
    model.safetensors). Written under a temporary name and renamed, so a loader never
    lists a half-copied file."""
    folder.mkdir(parents=True, exist_ok=True)
    lora = result.checkpoint / LORA_FILE
    target = folder / (f"{name}.safetensors" if lora.is_file() else name)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    if lora.is_file():
        shutil.copyfile(lora, partial)
    else:
        partial.mkdir()
        for file in ("config.json", "model.safetensors"):
            shutil.copyfile(result.checkpoint / file, partial / file)
    if target.is_dir():
        shutil.rmtree(target)
    partial.replace(target)
    return target
