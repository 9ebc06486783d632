"""Time one training step of an STDiT3 (forward, backward, AdamW, EMA) on given latents.

The batch is pre-extracted features (random latents and caption embeddings), so this
measures the trainer's step on the transformer alone, as `opensora-train` runs it with
a feature cache; `--grad-checkpoint` and `--dtype` show their cost. Reports the median
step time over `--repeats` steps after one warm-up step, and the peak memory.

    python benchmarks/bench_train.py --depth 2 --hidden 128 --latent 5 18 32 --batch 2
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from sora_core.checkpoints import build_model
from sora_core.samplers import build_scheduler
from sora_core.training.config import check_config
from sora_core.training.distributed import init_ranks
from sora_core.training.ema import build_ema
from sora_core.training.metrics import peak_memory_mb
from sora_core.training.models import TrainingModels
from sora_core.training.trainer import Trainer


def _batch(args, step: int) -> dict:
    frames, height, width = args.latent
    generator = torch.Generator().manual_seed(step)
    n = args.batch
    return {
        "video": torch.randn(n, 4, frames, height, width, generator=generator),
        "text": torch.randn(n, 1, args.tokens, args.caption, generator=generator),
        "mask": torch.ones(n, args.tokens, dtype=torch.int64),
        "index": list(range(step * n, step * n + n)),
        "num_frames": torch.full((n,), 17 * (frames // 5) or 1),
        "height": torch.full((n,), height * 8),
        "width": torch.full((n,), width * 8),
        "fps": torch.full((n,), 24.0),
    }


def main(argv: "list[str] | None" = None) -> None:
    """Parse the options, build the model and time `Trainer.train_step`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--latent", type=int, nargs=3, default=(5, 18, 32), metavar=("T", "H", "W"))
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=32, help="caption tokens")
    parser.add_argument("--caption", type=int, default=64, help="caption width")
    parser.add_argument("--grad-checkpoint", action="store_true")
    parser.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    config = {
        "dataset": {"type": "BatchFeatureDataset", "data_path": "features"},
        "model": {
            "type": "STDiT3",
            "depth": args.depth,
            "hidden_size": args.hidden,
            "num_heads": args.heads,
            "patch_size": (1, 2, 2),
        },
        "scheduler": {
            "type": "rflow",
            "use_timestep_transform": True,
            "sample_method": "logit-normal",
        },
        "dtype": args.dtype,
        "device": args.device,
        "grad_clip": 1.0,
        "ema_decay": 0.99,
        "grad_checkpoint": args.grad_checkpoint,
    }
    settings = check_config(config, "bench")
    ranks = init_ranks(args.device)
    model = build_model(
        {
            **settings["model"],
            "in_channels": 4,
            "caption_channels": args.caption,
            "model_max_length": args.tokens,
        }
    )
    model = model.to(ranks.device).train().enable_gradient_checkpointing(args.grad_checkpoint)
    models = TrainingModels(model, None, None, build_scheduler(settings["scheduler"]))
    trainer = Trainer(
        settings, models, build_ema(model), model, None, ranks, Path(tempfile.gettempdir())
    )
    times = []
    for step in range(args.repeats + 1):
        batch = _batch(args, step)
        started = time.perf_counter()
        trainer.train_step(batch, step)
        if ranks.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    parameters = sum(p.numel() for p in model.parameters())
    print(
        f"STDiT3 depth {args.depth} hidden {args.hidden} ({parameters / 1e6:.2f} M parameters), "
        f"latent {tuple(args.latent)} x batch {args.batch}, {args.dtype}, grad checkpoint "
        f"{args.grad_checkpoint}, {torch.get_num_threads()} thread(s) on {ranks.device}: "
        f"median step {statistics.median(times[1:]) * 1000:.0f} ms over {args.repeats}, "
        f"peak memory {peak_memory_mb(ranks.device):.0f} MiB"
    )


if __name__ == "__main__":
    main()
