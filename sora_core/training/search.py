"""Timing training steps on one bucket, for the batch-size search (`opensora-search-bs`).

A trial builds the data restricted to `{resolution: {num_frames: (1.0, batch_size)}}` and
runs the trainer's own step: `warmup_steps` untimed, then `active_steps` timed (the
reference's 5 + 5). Models are built once and shared by every trial.
"""

import gc
import tempfile
import time
from pathlib import Path

import torch

from ..bucket_search import StepTimer
from ..datasets import build_condition_noise, build_mask_generator, build_training_data
from ..errors import DatasetError
from .config import check_config
from .distributed import init_ranks
from .models import build_training_models
from .trainer import Trainer


def step_timer(config: dict, warmup_steps: int = 5, active_steps: int = 5) -> StepTimer:
    """(resolution, num_frames, batch_size) -> mean seconds per step; None without data.

    Fails (as the search expects of a batch that does not fit) on out-of-memory, or when
    the bucket has fewer than `warmup_steps + active_steps` batches."""
    first = next(iter(config["bucket_config"].items()))
    placeholder = {first[0]: {next(iter(first[1])): (1.0, 1)}}
    settings = check_config({**config, "bucket_config": placeholder}, "search config")
    ranks = init_ranks(settings.get("device"))
    models = build_training_models(settings, ranks, None)
    ema = models.build_ema()
    scratch = Path(tempfile.mkdtemp(prefix="search-bs-"))

    def time_bucket(resolution: str, num_frames: int, batch_size: int) -> "float | None":
        trial = {**settings, "bucket_config": {resolution: {num_frames: (1.0, batch_size)}}}
        try:
            data = build_training_data(trial)
            available = data.num_batches()
        except DatasetError:
            return None
        needed = warmup_steps + active_steps
        if available < needed:
            raise DatasetError(f"{available} batches of {batch_size}; the timing needs {needed}")
        trainer = Trainer(
            trial,
            models,
            ema,
            models.model,
            data,
            ranks,
            scratch,
            build_mask_generator(trial),
            build_condition_noise(trial),
        )
        seconds = 0.0
        try:
            for step, batch in enumerate(data.batches(0)):
                if step == needed:
                    break
                started = time.perf_counter()
                trainer.train_step(batch, step)
                if ranks.device.type == "cuda":
                    torch.cuda.synchronize(ranks.device)
                if step >= warmup_steps:
                    seconds += time.perf_counter() - started
        finally:
            del trainer
            gc.collect()
            if ranks.device.type == "cuda":
                torch.cuda.empty_cache()
        return seconds / active_steps

    return time_bucket
