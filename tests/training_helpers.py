"""Tiny training runs for the trainer tests: settings around the fixtures' tiny STDiT3,
1.2 VAE and T5, and an in-memory stand-in for the dataset side (`TrainingData`)."""

import random

import torch

from golden import fixtures_dir, read_json
from pipeline_helpers import reference_vae_config


def tiny_settings(tmp_path, **overrides) -> dict:
    """Checked settings for a few CPU steps on the fixture models (fp32, no warm-up)."""
    from sora_core.training.config import check_config

    config = {
        "dataset": {"type": "VariableVideoTextDataset", "data_path": str(tmp_path / "unused.csv")},
        "model": {"type": "STDiT3", "depth": 1, "hidden_size": 32, "num_heads": 2,
                  "patch_size": (1, 2, 2), "class_dropout_prob": 0.0},
        "vae": {**reference_vae_config(read_json("checkpoints/vae_v12.json")),
                "from_pretrained": str(fixtures_dir() / "checkpoints" / "vae_v12_hf")},
        "text_encoder": {"type": "t5", "from_pretrained": str(fixtures_dir() / "text" / "tiny_t5"),
                         "model_max_length": 16},
        "scheduler": {"type": "rflow", "use_timestep_transform": True, "sample_method": "logit-normal"},
        "dtype": "fp32",
        "device": "cpu",
        "plugin": "ddp",
        "lr": 1e-3,
        "adam_eps": 1e-15,
        "grad_clip": 1.0,
        "ema_decay": 0.99,
        "epochs": 2,
        "log_every": 1,
        "seed": 7,
        "outputs": str(tmp_path / "outputs"),
    }
    config.update(overrides)
    return check_config(config, "test config")


class SingleFrameMasks:
    """Stand-in mask generator: keeps a random head frame as condition half the time."""

    def get_mask(self, x: torch.Tensor) -> torch.Tensor:
        mask = torch.ones(x.shape[2], dtype=torch.bool)
        if random.random() < 0.5 and x.shape[2] > 1:
            mask[: random.randint(1, x.shape[2] - 1)] = False
        return mask


class MemoryData:
    """`TrainingData` over clips made here: `num_samples` captioned clips of one size,
    batched `batch_size` per rank in a seeded order per epoch, as the batch sampler would."""

    fixed_size = None

    def __init__(self, num_samples=8, batch_size=2, frames=17, size=(32, 32), rank=0, world_size=1, seed=0):
        generator = torch.Generator().manual_seed(1234)
        self.videos = torch.rand(num_samples, 3, frames, *size, generator=generator) * 2 - 1
        self.texts = [f"clip number {i} of a small red ball" for i in range(num_samples)]
        self.batch_size, self.rank, self.world_size, self.seed = batch_size, rank, world_size, seed
        self.size, self.frames = size, frames
        self.seen: list[list[int]] = []

    def num_batches(self) -> int:
        return len(self.videos) // (self.batch_size * self.world_size)

    def _order(self, epoch: int) -> list[int]:
        return torch.randperm(len(self.videos), generator=torch.Generator().manual_seed(self.seed + epoch)).tolist()

    def batches(self, epoch: int, start_step: int):
        order, global_batch = self._order(epoch), self.batch_size * self.world_size
        for step in range(start_step, self.num_batches()):
            first = step * global_batch + self.rank * self.batch_size
            indices = order[first : first + self.batch_size]
            self.seen.append(indices)
            n = len(indices)
            yield {
                "video": self.videos[indices],
                "text": [self.texts[i] for i in indices],
                "index": torch.tensor(indices),
                "num_frames": torch.full((n,), self.frames),
                "height": torch.full((n,), self.size[0]),
                "width": torch.full((n,), self.size[1]),
                "ar": torch.full((n,), self.size[0] / self.size[1]),
                "fps": torch.full((n,), 24),
            }

    def state_dict(self, epoch: int, step: int) -> dict:
        return {"seed": self.seed, "epoch": epoch, "last_micro_batch_access_index": step * self.world_size}

    def take_skipped(self) -> list:
        return []
