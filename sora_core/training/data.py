"""The training batches of one rank, epoch by epoch, from `sora_core.datasets`.

`TrainingData` is what the `Trainer` consumes: `num_batches()` per epoch (counted once, at
epoch 0, as the reference does for its global step), `batches(epoch, start_step)` (the
batch contract of `datasets.loader`, resuming mid-epoch through the sampler's state),
`state_dict(epoch, step)` for the checkpoint's `sampler.json`, and `end_epoch(epoch)` for
the summary of skipped files.
"""

from ..datasets import TrainingLoader, VideoTextDataset, build_dataset, prepare_dataloader
from .distributed import Ranks


class TrainingData:
    """A `TrainingLoader` driven by epoch and step."""

    def __init__(self, loader: TrainingLoader, fixed_size: "tuple | None"):
        self.loader = loader
        self.fixed_size = fixed_size  # (T, H, W) of a fixed-size dataset, else None
        self.steps_per_epoch = len(loader)

    def num_batches(self) -> int:
        return self.steps_per_epoch

    def batches(self, epoch: int, start_step: int):
        sampler = self.loader.sampler
        sampler.set_epoch(epoch)
        sampler.load_state_dict(sampler.state_dict(start_step))
        return self.loader.epoch_batches(epoch)

    def state_dict(self, epoch: int, step: int) -> dict:
        self.loader.sampler.set_epoch(epoch)
        return self.loader.state_dict(step)

    def end_epoch(self, epoch: int) -> str:
        return self.loader.end_epoch(epoch)


def build_training_data(settings: dict, ranks: Ranks) -> TrainingData:
    """The config's dataset, bucketed (or fixed-size) and sharded over the ranks."""
    dataset = build_dataset(settings["dataset"], seed=int(settings["seed"]))
    loader = prepare_dataloader(
        dataset,
        batch_size=settings["batch_size"],
        bucket_config=settings["bucket_config"],
        num_replicas=ranks.world_size,
        rank=ranks.rank,
        shuffle=True,
        drop_last=True,
        seed=int(settings["seed"]),
        num_workers=settings["num_workers"],
        pin_memory=ranks.device.type == "cuda",
    )
    fixed = None
    if type(dataset) is VideoTextDataset:
        fixed = (dataset.num_frames, *dataset.image_size)
    return TrainingData(loader, fixed)
