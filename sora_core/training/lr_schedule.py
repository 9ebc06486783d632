"""Open-Sora's learning-rate schedule: a linear warm-up to the base rate, then constant."""

import torch
from torch.optim.lr_scheduler import LRScheduler


class LinearWarmupLR(LRScheduler):
    """Step s < warmup_steps uses (s + 1) / (warmup_steps + 1) of the base rate; later steps use it all.

    As `opensora/utils/lr_scheduler.py`: the rate before the first step is already
    1 / (warmup_steps + 1) of the base, and there is no decay afterwards.
    """

    def __init__(
        self, optimizer: torch.optim.Optimizer, warmup_steps: int = 0, last_epoch: int = -1
    ):
        self.warmup_steps = int(warmup_steps)
        super().__init__(optimizer, last_epoch=last_epoch)

    def get_lr(self) -> "list[float]":
        if self.last_epoch < self.warmup_steps:
            fraction = (self.last_epoch + 1) / (self.warmup_steps + 1)
            return [fraction * base for base in self.base_lrs]
        return list(self.base_lrs)
