"""Where training numbers go: the console, `log.jsonl`, TensorBoard and W&B.

Only the main rank constructs a `MetricsLog`. TensorBoard is used when its package is
installed; W&B only when asked for, and asking without the package installed is an
error before anything loads (`require_wandb`).
"""

import json
import time
from pathlib import Path

import torch

from ..errors import ConfigError


def require_wandb() -> None:
    """Fail early, naming the fix, when `wandb = True` but the package is missing."""
    try:
        import wandb  # noqa: F401
    except ImportError:
        raise ConfigError(
            "wandb = True (--wandb), but the wandb package is not installed: "
            "`pip install wandb` and `wandb login`, or leave --wandb out"
        ) from None


class MetricsLog:
    """Appends one JSON object per logged step to `log.jsonl` and mirrors it elsewhere."""

    def __init__(self, exp_dir: Path, run_name: str, config: dict, use_wandb: bool, echo):
        self.path = exp_dir / "log.jsonl"
        self.echo = echo  # prints a line without breaking the progress bar
        self.tensorboard = None
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.tensorboard = SummaryWriter(str(exp_dir / "tensorboard"))
        except ImportError:
            pass
        self.wandb = None
        if use_wandb:
            import wandb

            self.wandb = wandb.init(
                project="Open-Sora", name=run_name, config=config, dir=str(exp_dir)
            )

    def log(self, record: dict) -> None:
        """Write `record` (must hold `global_step`) everywhere."""
        record = {"time": round(time.time(), 3), **record}
        with self.path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(record) + "\n")
        step = record["global_step"]
        numbers = {k: v for k, v in record.items() if isinstance(v, (int, float)) and k != "time"}
        if self.tensorboard is not None:
            for key, value in numbers.items():
                self.tensorboard.add_scalar(key, value, step)
        if self.wandb is not None:
            self.wandb.log(numbers, step=step)
        self.echo(" ".join(f"{k}={_short(v)}" for k, v in record.items() if k != "time"))

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()
        if self.wandb is not None:
            self.wandb.finish()


def peak_memory_mb(device: torch.device) -> "float | None":
    """Peak allocated CUDA memory in MiB; on the CPU the process's peak resident size."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        import resource
    except ImportError:  # Windows
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
