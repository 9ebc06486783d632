"""Training Open-Sora's transformers: the loop, its schedule, EMA, checkpoints and config.

`Trainer` is the loop (`scripts/train.py`); `LinearWarmupLR` and `update_ema` are the
reference's schedule and weight average; `training.checkpoint` writes and resumes the
reference's checkpoint folders; `training.config` reads Open-Sora's training configs.
"""

from .ema import build_ema, update_ema
from .lr_schedule import LinearWarmupLR

__all__ = ["LinearWarmupLR", "build_ema", "update_ema"]
