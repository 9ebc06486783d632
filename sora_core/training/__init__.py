"""Training Open-Sora's transformers: the loop, its schedule, EMA, checkpoints and config.

`Trainer` is the loop (`scripts/train.py`); `LinearWarmupLR` and `update_ema` are the
reference's schedule and weight average; `training.checkpoint` writes and resumes the
reference's checkpoint folders; `training.config` reads Open-Sora's training configs.
"""

from .ema import build_ema, update_ema
from .lr_schedule import LinearWarmupLR


def step_timer(config: dict, warmup_steps: int = 5, active_steps: int = 5):
    """Seconds per training step on one bucket (see `training.search`); builds the models."""
    from .search import step_timer as timer

    return timer(config, warmup_steps, active_steps)


__all__ = ["LinearWarmupLR", "build_ema", "step_timer", "update_ema"]
