"""From a dataset config to training batches: build, sample, collate, report skipped files.

The batch contract (what the trainer consumes), one dict per step and rank:

- `video`: float tensor [B, 3, T, H, W] in [-1, 1] (T = 1 for an image bucket; v1.0's fixed
  dataset repeats an image over its T frames). All samples of a batch share (T, H, W).
- `text`: list of B captions (absent when the CSV has no `text` column).
- `num_frames`, `height`, `width`: int64 tensors [B]; `ar` (= H / W) and `fps` (the
  sampled frame rate; 120 for images): float64 tensors [B]. These, as in the reference,
  are the model's size/fps conditions (cast them to the model dtype).
- `index`: list of B CSV row positions; `skipped`: list of `SkippedSample` dropped from
  this batch. Both are bookkeeping, not model inputs.

From a feature cache (`BatchFeatureDataset`), `video` holds the VAE latents
[B, C, T', H', W'], `text` the T5 embeddings [B, 1, L, D] and `mask` their token mask [B, L].

B may be smaller than the bucket's batch size when files were skipped, and may be 0 (every
file bad, or the reference sampler's padding ran a bucket dry): `video` then has shape
[0, 3, T, H, W]; a trainer skips the update (under DDP it must still join the collective).
"""

import logging
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import ConfigError
from .features import BatchFeatureDataset, FeatureBatchSampler, collate_stored_batch
from .sampler import StatefulBatchSampler, VariableVideoBatchSampler
from .task_masks import DefaultText
from .video_text import SkippedSample, VariableVideoTextDataset, VideoTextDataset

logger = logging.getLogger(__name__)

DATASET_TYPES = {
    "VideoTextDataset": VideoTextDataset,
    "VariableVideoTextDataset": VariableVideoTextDataset,
    "BatchFeatureDataset": BatchFeatureDataset,
}
DATASET_KEYS = {"type", "data_path", "num_frames", "frame_interval", "image_size", "transform_name"}


def build_dataset(
    config: Mapping,
    data_path: "str | None" = None,
    seed: int = 0,
    default_text: "DefaultText | None" = None,
):
    """A dataset from the config's `dataset = dict(type=..., ...)`; `data_path` overrides.

    `default_text` replaces some captions by a generic one (Plan's `default_text_ratio`)."""
    config = dict(config)
    kind = config.pop("type", None)
    if kind not in DATASET_TYPES:
        raise ConfigError(
            f"dataset type {kind!r} is not known; choose one of {list(DATASET_TYPES)}"
        )
    unknown = sorted(set(config) - DATASET_KEYS)
    if unknown:
        raise ConfigError(
            f"dataset key(s) {unknown} are not known for {kind}; allowed: {sorted(DATASET_KEYS - {'type'})}"
        )
    if data_path is not None:
        config["data_path"] = data_path
    if not config.get("data_path"):
        raise ConfigError(
            "dataset data_path is not set: pass --data-path CSV or set it in the config"
        )
    if kind == "BatchFeatureDataset":
        extra = sorted(set(config) - {"data_path"})
        if extra:
            raise ConfigError(
                f"dataset key(s) {extra} do not apply to BatchFeatureDataset (only data_path)"
            )
        return BatchFeatureDataset(config["data_path"])
    if "image_size" in config and config["image_size"] is not None:
        config["image_size"] = tuple(config["image_size"])
    return DATASET_TYPES[kind](seed=seed, default_text=default_text, **config)


def collate_samples(samples: "list[dict | SkippedSample]") -> dict:
    """Stack loaded samples into a batch (the contract above), setting skipped ones aside."""
    loaded = [sample for sample in samples if isinstance(sample, dict)]
    skipped = [sample for sample in samples if isinstance(sample, SkippedSample)]
    if loaded:
        video = torch.stack([sample["video"] for sample in loaded])
    else:
        shape = (
            (skipped[0].num_frames, skipped[0].height, skipped[0].width) if skipped else (0, 0, 0)
        )
        video = torch.zeros((0, 3, *shape))
    batch = {
        "video": video,
        "num_frames": torch.tensor([s["num_frames"] for s in loaded], dtype=torch.int64),
        "height": torch.tensor([s["height"] for s in loaded], dtype=torch.int64),
        "width": torch.tensor([s["width"] for s in loaded], dtype=torch.int64),
        "ar": torch.tensor([s["ar"] for s in loaded], dtype=torch.float64),
        "fps": torch.tensor([s["fps"] for s in loaded], dtype=torch.float64),
        "index": [s["index"] for s in loaded],
        "skipped": skipped,
    }
    if any("text" in s for s in loaded) or (not loaded and _has_text(skipped)):
        batch["text"] = [s["text"] for s in loaded]
    return batch


def _has_text(skipped: "list[SkippedSample]") -> bool:
    return any(sample.row.text is not None for sample in skipped)


@dataclass
class SkipReport:
    """Files and rows skipped: one warning per row for the whole run, a list per epoch."""

    warned: set = field(default_factory=set)
    epoch_skips: dict = field(default_factory=dict)

    def add(self, row_index: int, description: str) -> None:
        self.epoch_skips[row_index] = description
        if row_index not in self.warned:
            self.warned.add(row_index)
            logger.warning("skipping %s", description)

    def add_batch(self, batch: dict) -> None:
        for sample in batch["skipped"]:
            self.add(sample.row.index, sample.describe())

    def take(self) -> "list[str]":
        """What was skipped since the last call (one line per row), and start a new count."""
        skipped, self.epoch_skips = list(self.epoch_skips.values()), {}
        return skipped


def seed_worker(seed: int):
    """The reference's worker init: every worker's numpy, torch and random seeded with `seed`."""

    def init(worker_id: int) -> None:
        np.random.seed(seed)
        torch.manual_seed(seed)
        random.seed(seed)

    return init


class TrainingLoader:
    """A dataset, its batch sampler and a DataLoader: the trainer's `TrainingData`.

    `batches(epoch, start_step)` yields the epoch's batches on this rank from `start_step`
    on (a resume), recording skipped files; `take_skipped()` lists them once per epoch;
    `state_dict(epoch, step)` is the sampler position the checkpoint keeps.
    """

    def __init__(
        self,
        dataset,
        sampler,
        num_workers: int = 0,
        pin_memory: bool = False,
        seed: int = 0,
        collate_fn=collate_samples,
    ):
        self.dataset, self.sampler = dataset, sampler
        self.skips = SkipReport()
        self.loader = torch.utils.data.DataLoader(
            dataset,
            batch_sampler=sampler,
            num_workers=num_workers,
            pin_memory=pin_memory,
            collate_fn=collate_fn,
            worker_init_fn=seed_worker(seed),
        )

    @property
    def fixed_size(self) -> "tuple[int, int, int] | None":
        """(num_frames, height, width) of a fixed-size dataset; None when bucketed."""
        if isinstance(self.dataset, BatchFeatureDataset):
            return self.dataset.fixed_size
        if isinstance(self.dataset, VariableVideoTextDataset):
            return None
        return (self.dataset.num_frames, *self.dataset.image_size)

    def num_batches(self) -> int:
        """Steps per epoch on each rank (for the sampler's current epoch)."""
        return self.sampler.num_steps()

    def batches(self, epoch: int, start_step: int = 0) -> "Iterator[dict]":
        self.sampler.set_epoch(epoch)
        self.sampler.load_state_dict(self.sampler.state_dict(start_step))
        self.dataset.set_epoch(epoch)
        for row in self.sampler.invalid_rows:
            self.skips.add(row.index, f"{row.describe()}: {row.problem}")
        for batch in self.loader:
            self.skips.add_batch(batch)
            yield batch

    def take_skipped(self) -> "list[str]":
        return self.skips.take()

    def state_dict(self, epoch: int, step: int) -> dict:
        self.sampler.set_epoch(epoch)
        return self.sampler.state_dict(step)


def prepare_dataloader(
    dataset,
    batch_size: "int | None" = None,
    bucket_config: "Mapping | None" = None,
    bucket_resolutions: "Mapping | None" = None,
    num_replicas: int = 1,
    rank: int = 0,
    shuffle: bool = True,
    drop_last: bool = True,
    seed: int = 0,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> TrainingLoader:
    """The reference's `prepare_dataloader`: bucketed batches for the variable dataset, fixed
    `batch_size` batches for `VideoTextDataset`, stored batches for `BatchFeatureDataset`;
    sharded over `num_replicas` ranks."""
    if isinstance(dataset, BatchFeatureDataset):
        sampler = FeatureBatchSampler(len(dataset), num_replicas, rank, shuffle, seed)
        return TrainingLoader(dataset, sampler, num_workers, pin_memory, seed, collate_stored_batch)
    if isinstance(dataset, VariableVideoTextDataset):
        if not bucket_config:
            raise ConfigError("VariableVideoTextDataset needs a bucket_config")
        sampler = VariableVideoBatchSampler(
            dataset.rows,
            bucket_config,
            num_replicas=num_replicas,
            rank=rank,
            shuffle=shuffle,
            seed=seed,
            drop_last=drop_last,
            frame_interval=dataset.frame_interval,
            bucket_resolutions=bucket_resolutions,
        )
    elif isinstance(dataset, VideoTextDataset):
        if batch_size is None:
            raise ConfigError("VideoTextDataset needs batch_size")
        sampler = StatefulBatchSampler(
            dataset.rows,
            batch_size,
            num_replicas=num_replicas,
            rank=rank,
            shuffle=shuffle,
            seed=seed,
            drop_last=drop_last,
        )
    else:
        raise ConfigError(f"no sampler for a dataset of type {type(dataset).__name__}")
    return TrainingLoader(dataset, sampler, num_workers, pin_memory, seed)
