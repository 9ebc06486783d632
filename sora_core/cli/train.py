"""`opensora-train`: Open-Sora's `scripts/train.py` on one process or under `torchrun`.

opensora-train CONFIG --data-path CSV [--outputs DIR] [--load CKPT] [--ckpt-path MODEL]
               [--batch-size N] [--seed S] [--wandb]
torchrun --nproc_per_node 8 -m sora_core.cli.train CONFIG --data-path CSV
"""

import sys

from ..lora.files import LORA_FILE
from ..training.config import resolve_train_config

PROGRAM = "opensora-train"


def train(argv: "list[str] | None" = None) -> int:
    """Check the config and flags, then train; 0 when the run finished."""
    from ..training.run import train as run_training

    settings = resolve_train_config(argv)
    last = run_training(settings)
    if last is not None:
        if (last / LORA_FILE).is_file():
            print(f"{PROGRAM}: last checkpoint {last} (adapter: {last / LORA_FILE})")
        else:
            print(f"{PROGRAM}: last checkpoint {last} (EMA weights: {last / 'ema.pt'})")
    return 0


if __name__ == "__main__":  # torchrun -m sora_core.cli.train
    from .entry import run_command

    sys.exit(run_command(PROGRAM, train, None))
