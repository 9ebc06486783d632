"""Batch samplers: bucketed variable-size batches (v1.1/v1.2) and fixed-size batches (v1.0).

Both shard one global order across ranks without duplicates (apart from the reference's
padding when `drop_last` is off), shuffle by `seed + epoch`, and resume from a step count:
`state_dict(num_steps)` after `num_steps` optimizer steps, `load_state_dict` on restart, even
with another number of ranks.
"""

import logging
from collections import Counter
from collections.abc import Iterator, Sequence

import torch

from ..errors import ConfigError, DatasetError
from .bucket import Bucket, BucketId
from .rows import SampleRow

logger = logging.getLogger(__name__)

# A sampler's batches name their samples as "row-T-H-W" (the reference's encoding), so the
# dataset learns the bucket's crop size from the index alone.
SAMPLE_KEY_SEPARATOR = "-"


def sample_key(index: int, num_frames: int, height: int, width: int) -> str:
    return SAMPLE_KEY_SEPARATOR.join(str(value) for value in (index, num_frames, height, width))


def parse_sample_key(key: str) -> "tuple[int, int, int, int]":
    index, num_frames, height, width = (int(value) for value in key.split(SAMPLE_KEY_SEPARATOR))
    return index, num_frames, height, width


def _check_replicas(num_replicas: int, rank: int) -> None:
    if num_replicas < 1 or not 0 <= rank < num_replicas:
        raise ConfigError(f"rank {rank} is not in [0, num_replicas={num_replicas})")


class VariableVideoBatchSampler(torch.utils.data.Sampler):
    """Open-Sora's `VariableVideoBatchSampler`: batches of one bucket each, one per rank per step.

    Every epoch: rows are assigned buckets (seeded by `seed + epoch` and the row index),
    each bucket is padded or trimmed to whole batches and shuffled, the bucket access order is
    shuffled and made divisible by `num_replicas`; step `i` gives rank `r` the access
    `i * num_replicas + r`. Rows whose values are unusable are left out on every rank alike
    (`invalid_rows`).
    """

    def __init__(
        self,
        rows: "Sequence[SampleRow]",
        bucket_config: dict,
        num_replicas: int = 1,
        rank: int = 0,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        frame_interval: int = 1,
        bucket_resolutions: "dict | None" = None,
    ):
        _check_replicas(num_replicas, rank)
        self.rows = rows
        self.bucket = Bucket(bucket_config, bucket_resolutions)
        self.num_replicas, self.rank = num_replicas, rank
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        self.frame_interval = frame_interval
        self.epoch = 0
        self.last_micro_batch_access_index = 0
        self._grouped: tuple[int, dict[BucketId, list[int]]] | None = None

    @property
    def invalid_rows(self) -> "list[SampleRow]":
        """Rows left out of every bucket because a value is unusable (each has `problem`)."""
        return [row for row in self.rows if row.problem]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def group_by_bucket(self) -> "dict[BucketId, list[int]]":
        """Bucket -> row indices, buckets in first-seen order (cached per epoch)."""
        if self._grouped is not None and self._grouped[0] == self.epoch:
            return {bucket: list(indices) for bucket, indices in self._grouped[1].items()}
        groups: dict[BucketId, list[int]] = {}
        base_seed = self.seed + self.epoch
        for row in self.rows:
            if row.problem:
                continue
            bucket = self.bucket.get_bucket_id(
                row.num_frames,
                row.height,
                row.width,
                self.frame_interval,
                base_seed + row.index * self.bucket.num_bucket,
            )
            if bucket is not None:
                groups.setdefault(bucket, []).append(row.index)
        if not groups:
            raise DatasetError(self._no_bucket_message())
        self._grouped = (self.epoch, groups)
        return {bucket: list(indices) for bucket, indices in groups.items()}

    def _no_bucket_message(self) -> str:
        reasons = Counter()
        examples: dict[str, str] = {}
        for row in self.rows:
            if row.problem:
                reason = f"unusable values ({row.problem})"
            else:
                reason = self.bucket.explain_miss(
                    row.num_frames, row.height, row.width, self.frame_interval
                )
            reasons[reason] += 1
            examples.setdefault(reason, row.describe())
        lines = [
            f"  {count} row(s), e.g. {examples[reason]}: {reason}"
            for reason, count in reasons.most_common(8)
        ]
        return (
            f"no sample of the {len(self.rows)} rows fits any bucket (epoch {self.epoch}, "
            f"frame_interval {self.frame_interval}). Buckets tried: {self.bucket.describe()}.\n"
            + "\n".join(lines)
        )

    def _access_plan(self) -> "tuple[dict[BucketId, list[int]], list[BucketId]]":
        """Each bucket's padded, shuffled rows and the epoch's bucket access order."""
        groups = self.group_by_bucket()
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        batches_per_bucket = {}
        for bucket, indices in groups.items():
            batch_size = self.bucket.get_batch_size(bucket)
            remainder = len(indices) % batch_size
            if remainder and self.drop_last:
                indices = indices[:-remainder]
            elif remainder:
                # The reference pads with the bucket's head, which may still not fill a batch.
                indices = indices + indices[: batch_size - remainder]
            if self.shuffle:
                order = torch.randperm(len(indices), generator=generator).tolist()
                indices = [indices[i] for i in order]
            groups[bucket] = indices
            batches_per_bucket[bucket] = len(indices) // batch_size
        access = [bucket for bucket, count in batches_per_bucket.items() for _ in range(count)]
        if self.shuffle:
            access = [access[i] for i in torch.randperm(len(access), generator=generator).tolist()]
        remainder = len(access) % self.num_replicas
        if remainder and self.drop_last:
            access = access[: len(access) - remainder]
        elif remainder:
            access = access + access[: self.num_replicas - remainder]
        return groups, access

    def __iter__(self) -> "Iterator[list[str]]":
        groups, access = self._access_plan()
        num_steps = len(access) // self.num_replicas
        start_step = self.last_micro_batch_access_index // self.num_replicas
        # Replay the consumption of the steps already taken (by however many ranks took them).
        self.last_micro_batch_access_index = start_step * self.num_replicas
        consumed: dict[BucketId, int] = {}
        for bucket in access[: self.last_micro_batch_access_index]:
            consumed[bucket] = consumed.get(bucket, 0) + self.bucket.get_batch_size(bucket)
        for step in range(start_step, num_steps):
            step_access = access[step * self.num_replicas : (step + 1) * self.num_replicas]
            self.last_micro_batch_access_index += self.num_replicas
            bounds = []
            for bucket in step_access:
                start = consumed.get(bucket, 0)
                consumed[bucket] = start + self.bucket.get_batch_size(bucket)
                bounds.append((start, consumed[bucket]))
            bucket = step_access[self.rank]
            start, stop = bounds[self.rank]
            num_frames, height, width = self.bucket.get_thw(bucket)
            yield [
                sample_key(index, num_frames, height, width) for index in groups[bucket][start:stop]
            ]
        self.last_micro_batch_access_index = 0

    def num_steps(self) -> int:
        """Steps of the whole epoch on each rank."""
        return len(self._access_plan()[1]) // self.num_replicas

    def __len__(self) -> int:
        """Steps left in this epoch on this rank."""
        return self.num_steps() - self.last_micro_batch_access_index // self.num_replicas

    def state_dict(self, num_steps: int) -> dict:
        """The position after `num_steps` steps of the current epoch."""
        return {
            "seed": self.seed,
            "epoch": self.epoch,
            "last_micro_batch_access_index": num_steps * self.num_replicas,
        }

    def load_state_dict(self, state: dict) -> None:
        self.seed = int(state["seed"])
        self.epoch = int(state["epoch"])
        self.last_micro_batch_access_index = int(state["last_micro_batch_access_index"])

    def log_buckets(self) -> None:
        """One info line per non-empty bucket: samples and whole batches."""
        for bucket, indices in self.group_by_bucket().items():
            batch_size = self.bucket.get_batch_size(bucket)
            logger.info(
                "bucket %s: %d samples, %d batches of %d",
                bucket,
                len(indices),
                len(indices) // batch_size,
                batch_size,
            )


class StatefulBatchSampler(torch.utils.data.Sampler):
    """Fixed-size batches over a fixed-size dataset (v1.0's `VideoTextDataset`).

    The reference's `StatefulDistributedSampler`: torch's `DistributedSampler` order
    (`randperm` seeded by `seed + epoch`, padded to a multiple of `num_replicas`, rank `r`
    takes every `num_replicas`-th index from `r`), batched; resumes after `num_steps` batches.
    """

    def __init__(
        self,
        rows: "Sequence[SampleRow]",
        batch_size: int,
        num_replicas: int = 1,
        rank: int = 0,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ):
        _check_replicas(num_replicas, rank)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size {batch_size!r} must be a positive integer")
        self.rows, self.batch_size = rows, batch_size
        self.num_replicas, self.rank = num_replicas, rank
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        self.epoch = 0
        self.start_step = 0

    @property
    def invalid_rows(self) -> "list[SampleRow]":
        return [row for row in self.rows if row.problem]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _rank_indices(self) -> "list[int]":
        usable = [row.index for row in self.rows if not row.problem]
        if not usable:
            raise DatasetError(f"none of the {len(self.rows)} rows is usable")
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            usable = [usable[i] for i in torch.randperm(len(usable), generator=generator).tolist()]
        per_rank = -(-len(usable) // self.num_replicas)
        padded = (usable * (per_rank * self.num_replicas // len(usable) + 1))[
            : per_rank * self.num_replicas
        ]
        return padded[self.rank :: self.num_replicas]

    def _batches(self) -> "list[list[int]]":
        indices = self._rank_indices()
        batches = [
            indices[i : i + self.batch_size] for i in range(0, len(indices), self.batch_size)
        ]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        return batches

    def __iter__(self) -> "Iterator[list[int]]":
        yield from self._batches()[self.start_step :]
        self.start_step = 0

    def num_steps(self) -> int:
        """Steps of the whole epoch on each rank."""
        return len(self._batches())

    def __len__(self) -> int:
        return self.num_steps() - self.start_step

    def state_dict(self, num_steps: int) -> dict:
        return {"seed": self.seed, "epoch": self.epoch, "start_step": num_steps}

    def load_state_dict(self, state: dict) -> None:
        self.seed = int(state["seed"])
        self.epoch = int(state["epoch"])
        self.start_step = int(state["start_step"])
