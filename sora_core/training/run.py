"""A whole training run from checked settings: ranks, data, models, resume, loop.

`train(settings)` is what `opensora-train` and `torchrun ... opensora-train` call; the
settings come from `training.config.resolve_train_config`.
"""

import json
from pathlib import Path

import torch
from tqdm import tqdm

from ..datasets import build_condition_noise, build_mask_generator, build_training_data
from .checkpoint import experiment_dir
from .config import parallelism
from .distributed import barrier, close_ranks, distribute, init_ranks
from .metrics import MetricsLog, require_wandb
from .models import build_training_models
from .trainer import Trainer, TrainingHooks


# Callers may run under inference mode or no_grad (ComfyUI executes every node so): the
# transformer must be built and trained outside both.
@torch.inference_mode(False)
@torch.enable_grad()
def train(
    settings: dict, hooks: "TrainingHooks | None" = None, encoders: "tuple | None" = None
) -> "Path | None":
    """Run the training `settings` describe; returns the last checkpoint folder written.

    `hooks` follow each step and can stop the run early (it then saves what it has);
    `encoders` = (vae, text_encoder) already loaded replace the config's sections."""
    if settings["wandb"]:
        require_wandb()
    plan = parallelism(settings)
    ranks = init_ranks(settings.get("device"))
    try:
        torch.manual_seed(int(settings["seed"]))  # the transformer's initial weights
        exp_dir = _experiment(settings, ranks)
        if ranks.is_main:
            tqdm.write(f"experiment folder {exp_dir}; {ranks.world_size} process(es): {plan.note}")
        data = build_training_data(settings, ranks.rank, ranks.world_size)
        models = build_training_models(settings, ranks, data.fixed_size, encoders)
        ema = models.build_ema()
        model, ema = distribute(models.model, ema, plan, ranks)
        metrics = None
        if ranks.is_main:
            metrics = MetricsLog(exp_dir, exp_dir.name, settings, settings["wandb"], tqdm.write)
        trainer = Trainer(
            settings,
            models,
            ema,
            model,
            data,
            ranks,
            exp_dir,
            build_mask_generator(settings),
            build_condition_noise(settings),
            metrics,
            hooks,
        )
        if settings["load"]:
            loaded = trainer.load(settings["load"], settings["start_from_scratch"])
            if ranks.is_main:
                tqdm.write(
                    f"resumed from {loaded} at epoch {trainer.start.epoch} step {trainer.start.step}"
                )
        try:
            return trainer.fit()
        finally:
            if metrics is not None:
                metrics.close()
    finally:
        close_ranks()


def _experiment(settings: dict, ranks) -> Path:
    """Every rank agrees on the new experiment folder; rank 0 creates it and writes config.txt."""
    exp_dir = experiment_dir(settings["outputs"], settings["model"]["type"])
    barrier(ranks)
    if ranks.is_main:
        exp_dir.mkdir(parents=True)
        (exp_dir / "config.txt").write_text(
            json.dumps(settings, indent=4, default=str), encoding="utf-8"
        )
    barrier(ranks)
    return exp_dir
